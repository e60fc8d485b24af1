// memsight / agent health: the agents themselves. Build, up, events seen and lost, fault stacks unwound, growth-site
// stacks, what they track and export, scrape and scan times, attach failures, Python censuses.
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'memsight-agent-health.json':
      local c = $._config;
      local s = common(c);
      local n = s.n;
      local nby = s.by(s.node);
      local rate(metric, extra='') = 'rate(%s[$__rate_interval])' % n(metric, extra);
      local lostRate = 'sum by (%s) (%s)' % [nby, rate('memsight_events_lost_total')];
      local seenRate = 'sum by (%s) (%s)' % [nby, rate('memsight_events_total')];

      s.dashboard(
        'agent-health', 'agent health',
        'The memsight agents: build, scrape health, events seen and lost, unwinding, tracking, timings, attach failures and Python censuses (docs/dashboards.md, docs/metrics.md#agent-self-metrics).',
        s.fleetVariables,
        [
          g.row('Agents', [
            g.stat('Agents up', [g.instant(s.orZero('count(%s == 1)' % n('up')))], 'short',
                   'Agent targets Prometheus scrapes successfully.'),
            g.stat('Agents down', [g.instant(s.orZero('count(%s == 0)' % n('up')))], 'short',
                   'Agent targets Prometheus fails to scrape.', thresholds=[[null, 'green'], [1, 'red']]),
            g.stat('Events lost', [g.instant(s.orZero(s.increase(n('memsight_events_lost_total'), '$__range')))], 'short',
                   'Kernel events and samples the agents dropped in the time range.', thresholds=[[null, 'green'], [1, 'orange']]),
            g.stat('Attach failures', [g.instant(s.orZero(s.increase(n('memsight_attach_failures_total'), '$__range')))], 'short',
                   'Optional BPF attachments (the page-fault sampler\'s per-CPU perf events) that failed in the time range.',
                   thresholds=[[null, 'green'], [1, 'orange']]),
            g.stat('Slowest scan', [g.instant('max(%s)' % n('memsight_scan_duration_seconds'))], 's',
                   'The longest last /proc and cgroupfs pass among the agents; near --interval the agent cannot keep up.'),
            g.stat('Exported / tracked processes',
                   [g.instant('sum(%s)\n  / sum(%s)' % [n('memsight_exported_processes'), n('memsight_tracked_processes')])],
                   'percentunit', 'Share of the live processes exported with their own series (the top sets).'),
            g.table('Agents', [
              g.instant('max by (%s, version, kernel, libbpf) (%s)' % [nby, n('memsight_build_info')]),
            ], [['Build info', 'short']], 'memsight version, kernel and libbpf of each agent; the node links to its dashboard.',
            width=12, cellLinks={ instance: [s.toNode('table')] }, hidden=['job', '__name__', 'Value']),
            g.timeseries('Up', [g.query(n('up'), '{{instance}}')], 'short', 'Prometheus\' up of each agent target (1 up, 0 down).',
                         width=12, min=0, max=1, links=[s.toNode('series')]),
            g.timeseries('Agent uptime', [g.query('time() - %s' % n('memsight_start_time_seconds'), '{{instance}}')], 's',
                         'Time since each agent started (memsight_start_time_seconds); a drop is a restart, where its counters start again from 0.',
                         width=24, min=0, links=[s.toNode('series')]),
          ]),
          g.row('Events', [
            g.timeseries('Events by type', [g.query('sum by (%s, type) (%s)' % [nby, rate('memsight_events_total')], '{{type}} on {{instance}}')],
                         'ops', 'Events the BPF programs saw per second: exec, exit, oom, fault_sample.', width=8),
            g.timeseries('Events lost by reason', [
              g.query(s.orZeroPerNode('sum by (%s, reason) (%s)' % [nby, rate('memsight_events_lost_total')]), '{{instance}} {{reason}}'),
              g.query(s.orZero('sum(%s)' % rate('memsight_events_lost_total')), 'total'),
            ], 'ops', 'Events and samples dropped per second, by reason (docs/metrics.md#memsight_events_lost_total).', width=8),
            g.timeseries('Events lost / seen', [
              g.query('(\n  %s\n  or 0 * %s\n)\n  / %s' % [lostRate, seenRate, seenRate], '{{instance}}'),
            ], 'percentunit', 'Fraction of the events lost per agent (0 when nothing was lost).', width=8, min=0),
            g.timeseries('Fault stacks unwound by method',
                         [g.query('sum by (%s, method) (%s)' % [nby, rate('memsight_fault_stacks_unwound_total')], '{{method}} on {{instance}}')],
                         'ops', 'Copied page-fault stacks unwound per second: cfi, or frame_pointer when no view of the process could be opened in time.',
                         width=12),
            g.timeseries('Growth-site stacks', [g.query(n('memsight_growth_site_stacks'), '{{instance}}')], 'short',
                         '(process, stack) pairs the growth-site table holds (at most 8,192 plus one folded per process).', width=12),
          ]),
          g.row('Tracking, timing, attachments', [
            g.timeseries('Tracked and exported', [
              g.query(n('memsight_tracked_processes'), 'tracked processes {{instance}}'),
              g.query(n('memsight_exported_processes'), 'exported processes {{instance}}'),
              g.query(n('memsight_tracked_containers'), 'containers {{instance}}'),
            ], 'short', 'Processes in the agent\'s table, processes exported with their own series, containers.'),
            g.timeseries('Scrape and scan duration', [
              g.query(n('memsight_scrape_duration_seconds'), 'build /metrics {{instance}}'),
              g.query(n('memsight_scan_duration_seconds'), '/proc + cgroupfs pass {{instance}}'),
              g.query(n('scrape_duration_seconds'), 'Prometheus scrape {{instance}}'),
            ], 's', 'Time to build the previous /metrics response, the last periodic pass, and the scrape as Prometheus saw it.'),
            g.timeseries('Attach failures', [
              g.query(s.orZeroPerNode(s.increase(n('memsight_attach_failures_total'), '$__rate_interval', s.node + ['program'])), '{{instance}} {{program}}'),
              g.query(s.orZero(s.increase(n('memsight_attach_failures_total'), '$__rate_interval')), 'total'),
            ], 'short', 'Optional attachments that failed while the agent kept running (one per CPU of the page-fault sampler).',
            bars=true, legendCalcs=['sum']),
            g.timeseries('Python censuses by outcome', [
              g.query(s.orZeroPerNode('sum by (%s, outcome) (%s)' % [nby, rate('memsight_python_censuses_total')]), '{{instance}} {{outcome}}'),
              g.query(s.orZero('sum(%s)' % rate('memsight_python_censuses_total')), 'total'),
            ], 'ops', 'Heap censuses of CPython processes watched by deep sessions: taken, or skipped (the previous one took too long).'),
          ]),
        ],
        annotations=[],
      ),
  },
}
