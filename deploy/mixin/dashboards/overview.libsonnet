// memsight / overview: the fleet. Agents up and down, the containers closest to their limits, the fastest
// growers, the processes and containers most suspected of leaking, OOM kills. Drill down to a node, a container
// or a process from the tables and series.
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'memsight-overview.json':
      local c = $._config;
      local s = common(c);
      local n = s.n;
      local top(expr) = 'topk(%d, %s)' % [s.topN, expr];
      local ratio = '%s\n  / %s' % [n('memsight_container_memory_working_set_bytes'), n('memsight_container_memory_limit_bytes')];
      local cby = s.by(s.containerLabels);
      local pby = s.by(s.processLabels);

      s.dashboard(
        'overview', 'overview',
        'The fleet of memsight agents: agents, containers near their memory limit, growth, leak suspicion and OOM kills. Metrics: docs/metrics.md; dashboards: docs/dashboards.md.',
        s.fleetVariables,
        [
          g.row('Fleet', [
            g.stat('Nodes with agents',
                   [g.instant(s.orZero('count(count by (%s) (%s))' % [s.by(s.node), n('memsight_build_info')]))],
                   'short', 'Nodes whose agent reports memsight_build_info.', width=3),
            g.stat('Agents up', [g.instant(s.orZero('count(%s == 1)' % n('up')))], 'short',
                   'Agent targets Prometheus scrapes successfully (up == 1).', width=3),
            g.stat('Agents down', [g.instant(s.orZero('count(%s == 0)' % n('up')))], 'short',
                   'Agent targets Prometheus fails to scrape (up == 0).', width=3,
                   thresholds=[[null, 'green'], [1, 'red']]),
            g.stat('Processes tracked', [g.instant('sum(%s)' % n('memsight_tracked_processes'))], 'short',
                   'Live processes in the agents\' tables.', width=3),
            g.stat('Containers', [g.instant('sum(%s)' % n('memsight_tracked_containers'))], 'short',
                   'Containers with a live process, exported with per-container series.', width=3),
            g.stat('OOM kills', [g.instant(s.orZero(s.increase(n('memsight_oom_kills_total'), '$__range')))], 'short',
                   'Processes the kernel OOM-killed in the time range (the first kill of a (comm, container) included).',
                   width=3, thresholds=[[null, 'green'], [1, 'red']]),
            g.stat('Containers above %g%% of limit' % (100 * c.containerNearLimit.warning),
                   [g.instant(s.orZero('count(%s > %g)' % [ratio, c.containerNearLimit.warning]))], 'short',
                   'Containers whose working set is above this fraction of their memory limit.', width=3,
                   thresholds=[[null, 'green'], [1, 'orange']]),
            g.stat('Leak suspects',
                   [g.instant(s.orZero('count(%s >= %g)' % [n('memsight_process_leak_suspicion'), c.leakSuspicion.warning]))],
                   'short', 'Processes with a leak suspicion at or above the warning threshold.', width=3,
                   thresholds=[[null, 'green'], [1, 'orange']]),
          ]),
          g.row('Nodes', [
            g.table('Nodes', [
              g.instant('max by (%s) (%s)' % [s.by(s.node), n('up')]),
              g.instant('sum by (%s) (%s)' % [s.by(s.node), n('memsight_tracked_processes')]),
              g.instant('sum by (%s) (%s)' % [s.by(s.node), n('memsight_tracked_containers')]),
              g.instant('max by (%s) (%s)' % [s.by(s.node), n('memsight_process_leak_suspicion')]),
              g.instant(s.increase(n('memsight_oom_kills_total'), '$__range', s.node)),
            ], [['Up', 'short'], ['Processes', 'short'], ['Containers', 'short'], ['Max leak suspicion', 'short'],
                ['OOM kills (range)', 'short']],
            'One row per agent; the node links to its dashboard.', height=7,
            cellLinks={ instance: [s.toNode('table')] }, sortBy='Max leak suspicion'),
          ]),
          g.row('Containers', [
            g.timeseries('Top containers by working set',
                         [g.query(top(n('memsight_container_memory_working_set_bytes')), '{{container_id}} on {{instance}}')],
                         'bytes', 'Working set (usage minus inactive file cache) of the largest containers.',
                         links=[s.toContainer('series')]),
            g.timeseries('Top containers by working set / limit',
                         [g.query(top(ratio), '{{container_id}} on {{instance}}')], 'percentunit',
                         'Working set as a fraction of the memory limit; containers without a limit are not shown.',
                         links=[s.toContainer('series')], min=0),
            g.table('Containers', [
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_memory_working_set_bytes')]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_memory_limit_bytes')]),
              g.instant('max by (%s) (\n  %s\n)' % [cby, ratio]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_time_to_limit_seconds')]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_growth_bytes_per_second')]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_leak_suspicion')]),
            ], [['Working set', 'bytes'], ['Limit', 'bytes'], ['Working set / limit', 'percentunit'],
                ['Time to limit', 's'], ['Growth', 'binBps'], ['Leak suspicion', 'short']],
            'Every container: time to limit is projected from the working-set trend, only while it grows and has a limit.',
            height=9, cellLinks={ container_id: [s.toContainer('table')], instance: [s.toNode('table')] },
            sortBy='Working set'),
            g.timeseries('Time to limit',
                         [g.query('bottomk(%d, %s)' % [s.topN, n('memsight_container_time_to_limit_seconds')],
                                  '{{container_id}} on {{instance}}')],
                         's', 'Projected time until the working set reaches the memory limit at the current trend (containers that grow and have a limit).',
                         links=[s.toContainer('series')], min=0, legendCalcs=['lastNotNull', 'min']),
          ]),
          g.row('Growth and leaks', [
            g.timeseries('Top growing processes',
                         [g.query(top(n('memsight_process_growth_bytes_per_second')), '{{comm}} ({{pid}}) on {{instance}}')],
                         'binBps', 'Trend (Theil-Sen slope) of RSS plus swap over the growth window.',
                         links=[s.toProcess('series')]),
            g.timeseries('Top growing containers',
                         [g.query(top(n('memsight_container_growth_bytes_per_second')), '{{container_id}} on {{instance}}')],
                         'binBps', 'Trend (Theil-Sen slope) of the working set over the growth window.',
                         links=[s.toContainer('series')]),
            g.table('Processes most suspected of leaking', [
              g.instant(top('max by (%s) (%s)' % [pby, n('memsight_process_leak_suspicion')])),
              g.instant('max by (%(b)s) (%(g)s)\n  and on (%(b)s) %(t)s' % {
                b: pby, g: n('memsight_process_growth_bytes_per_second'),
                t: top('max by (%s) (%s)' % [pby, n('memsight_process_leak_suspicion')]),
              }),
            ], [['Leak suspicion', 'short'], ['Growth', 'binBps']],
            'Leak suspicion 0..1 (confirmed growth that neither plateaus nor cycles back, docs/leak-detection.md).',
            width=12, cellLinks={ pid: [s.toProcess('table')], container_id: [s.toContainer('table')] },
            sortBy='Leak suspicion'),
            g.table('Containers most suspected of leaking', [
              g.instant(top('max by (%s) (%s)' % [cby, n('memsight_container_leak_suspicion')])),
              g.instant('max by (%(b)s) (%(g)s)\n  and on (%(b)s) %(t)s' % {
                b: cby, g: n('memsight_container_growth_bytes_per_second'),
                t: top('max by (%s) (%s)' % [cby, n('memsight_container_leak_suspicion')]),
              }),
            ], [['Leak suspicion', 'short'], ['Growth', 'binBps']],
            'Leak suspicion 0..1 of the working-set trend.', width=12,
            cellLinks={ container_id: [s.toContainer('table')] }, sortBy='Leak suspicion'),
          ]),
          g.row('OOM kills', [
            g.timeseries('OOM kills', [
              g.query(s.orZeroPerNode(s.increase(n('memsight_oom_kills_total'), '$__rate_interval', s.node + ['comm', 'container_id'])),
                      '{{instance}} {{comm}} {{container_id}}'),
              g.query(s.orZero(s.increase(n('memsight_oom_kills_total'), '$__rate_interval')), 'total'),
            ], 'short', 'OOM kills by victim comm and container (the first kill of a series included); comm "_other_" counts victims past the agent\'s series limit.',
            width=24, bars=true, legendCalcs=['sum', 'max']),
          ]),
        ],
        links=[s.leaksLink],
        annotations=[s.oomAnnotation()],
      ),
  },
}
