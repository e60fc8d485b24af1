// memsight / leaks: leak suspicion of processes and containers over time, the always-on growth sites, and the
// deep tier: heap sites and Python types of running sessions, sessions and escalations, the overhead governor.
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'memsight-leaks.json':
      local c = $._config;
      local s = common(c);
      local n = s.n;
      local top(expr) = 'topk(%d, %s)' % [s.topN, expr];
      local sby = s.by(s.processLabels + ['site']);
      local tby = s.by(s.processLabels + ['type']);
      local site = '{{comm}} ({{pid}}) {{site}}';
      local byReason(metric, window) = [
        g.query(s.orZeroPerNode(s.increase(n(metric), window, s.node + ['reason'])), '{{instance}} {{reason}}'),
        g.query(s.orZero(s.increase(n(metric), window)), 'total'),
      ];

      s.dashboard(
        'leaks', 'leaks and deep tier',
        'Leak suspicion, growth sites, and the deep tier: heap sites and Python types of running sessions, escalations and their overhead (docs/dashboards.md, docs/deep-tier.md, docs/escalation.md).',
        s.fleetVariables,
        [
          g.row('Leak suspicion', [
            g.timeseries('Process leak suspicion', [g.query(top(n('memsight_process_leak_suspicion')), '{{comm}} ({{pid}}) on {{instance}}')],
                         'short', 'The processes most suspected of leaking (0..1; docs/leak-detection.md).',
                         links=[s.toProcess('series')], min=0, max=1),
            g.timeseries('Container leak suspicion', [g.query(top(n('memsight_container_leak_suspicion')), '{{container_id}} on {{instance}}')],
                         'short', 'The containers most suspected of leaking, from their working-set trend.',
                         links=[s.toContainer('series')], min=0, max=1),
          ]),
          g.row('Growth sites (always-on tier)', [
            g.table('Process growth sites', [g.instant('max by (%s) (%s)' % [sby, n('memsight_process_growth_site_bytes')])],
                    [['Bytes faulted in (growth window)', 'bytes']],
                    'Where the processes that grow most (or are suspected) fault in new memory, from sampled page faults.',
                    width=12, height=9, cellLinks={ pid: [s.toProcess('table')] }, sortBy='Bytes faulted in (growth window)'),
            g.table('Container growth sites', [
              g.instant('max by (%s) (%s)' % [s.by(s.containerLabels + ['site']), n('memsight_container_growth_site_bytes')]),
            ], [['Bytes faulted in (growth window)', 'bytes']],
            'The same per container, its processes\' sites added up.',
            width=12, height=9, cellLinks={ container_id: [s.toContainer('table')] }, sortBy='Bytes faulted in (growth window)'),
          ]),
          g.row('Deep sessions', [
            g.stat('Deep sessions', [g.instant('sum(%s)' % n('memsight_deep_sessions'))], 'short',
                   'Deep-tier sessions running, person-started and escalated.'),
            g.stat('Escalated sessions', [g.instant('sum(%s)' % n('memsight_escalation_sessions'))], 'short',
                   'Sessions the agents started by themselves on suspected leaks.'),
            g.stat('Growing heap sites', [g.instant(s.orZero('count(%s == 1)' % n('memsight_heap_site_growing')))], 'short',
                   'Heap sites of running sessions whose live bytes keep growing.', thresholds=[[null, 'green'], [1, 'orange']]),
            g.stat('Escalations', [g.instant('sum(increase(%s[$__range]))' % n('memsight_escalations_started_total'))], 'short',
                   'Sessions started automatically in the time range.', decimals=0),
            g.stat('Overhead stops', [g.instant(s.orZero(s.increase(n('memsight_deep_overhead_stops_total'), '$__range')))], 'short',
                   'Sessions stopped by the overhead governor in the time range.', thresholds=[[null, 'green'], [1, 'orange']]),
            g.stat('Deep events lost', [g.instant(s.orZero(s.increase(n('memsight_deep_events_lost_total'), '$__range')))], 'short',
                   'Allocations or stacks the deep tier could not record in the time range.', thresholds=[[null, 'green'], [1, 'orange']]),
            g.timeseries('Sessions running', [
              g.query('sum(%s)' % n('memsight_deep_sessions'), 'deep sessions'),
              g.query('sum(%s)' % n('memsight_escalation_sessions'), 'escalated sessions'),
            ], 'short', 'Deep-tier sessions running (all origins), and those escalated automatically.', width=8),
            g.timeseries('Session overhead', [g.query(n('memsight_deep_session_overhead_ratio'), '{{origin}} {{comm}} ({{pid}}) on {{instance}}')],
                         'percentunit', 'Estimated fraction of the traced processes\' CPU time spent in the probes, per session (the budget is 2% by default).',
                         width=8, links=[s.toProcess('series')], min=0),
            g.timeseries('Probe hit cost', [g.query(n('memsight_deep_probe_hit_cost_seconds'), '{{instance}}')], 's',
                         'CPU cost of one probe hit, calibrated at start-up (present while sessions run).', width=8),
          ]),
          g.row('Heap sites of running sessions', [
            g.timeseries('Live heap bytes', [g.query(n('memsight_heap_live_bytes'), site)], 'bytes',
                         'Bytes allocated at each call site and not freed yet.', links=[s.toProcess('series')]),
            g.timeseries('Live heap objects', [g.query(n('memsight_heap_live_objects'), site)], 'short',
                         'Blocks allocated at each call site and not freed yet.', links=[s.toProcess('series')]),
            g.timeseries('Allocated', [g.query('rate(%s[$__rate_interval])' % n('memsight_heap_allocated_bytes_total'), site)],
                         'binBps', 'Bytes allocated per second at each site.', width=8),
            g.timeseries('Freed', [g.query('rate(%s[$__rate_interval])' % n('memsight_heap_freed_bytes_total'), site)],
                         'binBps', 'Bytes of the site\'s blocks freed per second.', width=8),
            g.timeseries('Growing sites', [g.query(n('memsight_heap_site_growing'), site)], 'short',
                         '1 while the site\'s live bytes keep growing.', width=8, min=0, max=1),
            g.table('Heap sites', [
              g.instant('max by (%s) (%s)' % [sby, n('memsight_heap_live_bytes')]),
              g.instant('max by (%s) (%s)' % [sby, n('memsight_heap_live_objects')]),
              g.instant('max by (%s) (%s)' % [sby, n('memsight_heap_allocated_bytes_total')]),
              g.instant('max by (%s) (%s)' % [sby, n('memsight_heap_freed_bytes_total')]),
              g.instant('max by (%s) (%s)' % [sby, n('memsight_heap_site_growing')]),
            ], [['Live bytes', 'bytes'], ['Live objects', 'short'], ['Allocated since start', 'bytes'],
                ['Freed since start', 'bytes'], ['Growing', 'short']],
            'Every call site the running sessions export (deep.top_sites per process), largest first.',
            height=9, cellLinks={ pid: [s.toProcess('table')] }, sortBy='Live bytes'),
          ]),
          g.row('Python types (CPython processes of running sessions)', [
            g.timeseries('Live objects by type', [g.query(n('memsight_python_type_live_objects'), '{{type}} {{comm}} ({{pid}})')],
                         'short', 'Live instances of the growing classes at the latest heap census.'),
            g.timeseries('Growth by type', [g.query(n('memsight_python_type_growth_objects_per_second'), '{{type}} {{comm}} ({{pid}})')],
                         'suffix: objects/s', 'Instances gained per second since the session\'s first census.'),
          ]),
          g.row('Escalation', [
            g.timeseries('Escalations started',
                         [g.query('sum by (%s) (increase(%s[$__rate_interval]))' % [s.by(s.node), n('memsight_escalations_started_total')], '{{instance}}')],
                         'short', 'Deep-tier sessions the agents started by themselves.', width=8, bars=true, legendCalcs=['sum']),
            g.timeseries('Escalations refused', byReason('memsight_escalations_refused_total', '$__rate_interval'), 'short',
                         'Suspects not escalated: untraceable (the deep tier refused the process) or max_concurrent (no free slot).',
                         width=8, bars=true, legendCalcs=['sum']),
            g.timeseries('Escalations finished', byReason('memsight_escalations_finished_total', '$__rate_interval'), 'short',
                         'Escalated sessions that ended: duration, exited, overhead or shutdown.', width=8, bars=true, legendCalcs=['sum']),
            g.timeseries('Escalation profiles', [
              g.query('sum by (%s, outcome) (increase(%s[$__rate_interval]))' % [s.by(s.node), n('memsight_escalation_profiles_total')], '{{instance}} {{outcome}}'),
            ], 'short', 'Profile files of ended escalated sessions: written, or failed (a write error such as a full disk; the session\'s data is lost).',
               width=24, bars=true, legendCalcs=['sum']),
            g.timeseries('Overhead stops', [
              g.query(s.orZero(s.increase(n('memsight_deep_overhead_stops_total'), '$__rate_interval')), 'sessions stopped'),
            ], 'short', 'Sessions of any origin stopped because their overhead estimate exceeded the budget.', bars=true, legendCalcs=['sum']),
            g.timeseries('Deep events lost', [
              g.query(s.orZeroPerNode('sum by (%s, reason) (rate(%s[$__rate_interval]))' % [s.by(s.node), n('memsight_deep_events_lost_total')]), '{{instance}} {{reason}}'),
              g.query(s.orZero('sum(rate(%s[$__rate_interval]))' % n('memsight_deep_events_lost_total')), 'total'),
            ], 'ops', 'Allocations or stacks not recorded, by reason (outstanding_map_full, site_map_full, stack, entry_map_full, ringbuf_full).'),
          ]),
        ],
        annotations=[s.oomAnnotation()],
      ),
  },
}
