// memsight / container: one container (container_id) on one node. Usage, limit, working set, resident memory by
// kind, swap, peak, processes, OOM kills, growth, leak suspicion, time to limit, growth sites, and its processes
// (each linking to the process dashboard).
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'memsight-container.json':
      local c = $._config;
      local s = common(c);
      local k = s.c;  // selector of the container
      local ws = k('memsight_container_memory_working_set_bytes');
      local ratio = '%s\n  / %s' % [ws, k('memsight_container_memory_limit_bytes')];
      // A container without a limit has no limit series: its limit-based stats read NaN ("unlimited", "none").
      local orNaN(expr) = '%s\n  or on() (max(%s) * NaN)' % [expr, ws];
      local pby = s.by(s.processLabels);

      s.dashboard(
        'container', 'container',
        'One container: its memory against its limit, trend, leak suspicion, OOM kills, growth sites and processes (docs/dashboards.md).',
        s.containerVariables,
        [
          g.row('Container', [
            g.stat('Working set', [g.instant('max(%s)' % ws)], 'bytes', 'Usage minus inactive file cache.', width=3),
            g.stat('Limit', [g.instant(orNaN('max(%s)' % k('memsight_container_memory_limit_bytes')))], 'bytes',
                   'The cgroup\'s hard memory limit.', width=3, mappings=[['nan', 'unlimited']]),
            g.stat('Working set / limit', [g.instant(orNaN('max(%s)' % ratio))], 'percentunit',
                   'Working set as a fraction of the limit.', width=3, mappings=[['nan', 'unlimited']],
                   thresholds=[[null, 'green'], [c.containerNearLimit.warning, 'orange'], [c.containerNearLimit.critical, 'red']]),
            g.stat('Time to limit', [g.instant(orNaN('min(%s)' % k('memsight_container_time_to_limit_seconds')))], 's',
                   'Projected time until the working set reaches the limit at the current trend; "none" when it does not grow or has no limit.',
                   width=3, mappings=[['nan', 'none']],
                   thresholds=[[null, 'red'], [c.containerLimitSoon.criticalSeconds, 'orange'], [c.containerLimitSoon.warningSeconds, 'green']]),
            g.stat('Growth', [g.instant('max(%s)' % k('memsight_container_growth_bytes_per_second'))], 'binBps',
                   'Trend (Theil-Sen slope) of the working set over the growth window.', width=3),
            g.stat('Leak suspicion', [g.instant('max(%s)' % k('memsight_container_leak_suspicion'))], 'short',
                   '0..1: how much the working-set trend looks like a leak.', width=3, decimals=2,
                   thresholds=[[null, 'green'], [c.leakSuspicion.warning, 'orange'], [c.leakSuspicion.critical, 'red']]),
            g.stat('Processes', [g.instant('max(%s)' % k('memsight_container_processes'))], 'short',
                   'Live processes of the container on the node.', width=3),
            g.stat('OOM kills', [g.instant(s.orZero(s.increase(k('memsight_oom_kills_total'), '$__range')))], 'short',
                   'Processes of the container OOM-killed in the time range (first kill of a series included).', width=3,
                   thresholds=[[null, 'green'], [1, 'red']]),
          ]),
          g.row('Memory', [
            g.timeseries('Usage, working set, peak and limit', [
              g.query(k('memsight_container_memory_usage_bytes'), 'usage'),
              g.query(ws, 'working set'),
              g.query(k('memsight_container_memory_peak_bytes'), 'peak'),
              g.query(k('memsight_container_memory_limit_bytes'), 'limit'),
            ], 'bytes', 'Usage is everything charged to the cgroup (page cache included); the working set is what cannot easily be reclaimed; peak is the cgroup\'s high-water usage.'),
            g.timeseries('Resident memory by kind', [g.query(k('memsight_container_resident_bytes'), '{{kind}}')], 'bytes',
                         'anon (heap, stacks), file (page cache, excluding shmem), shmem (tmpfs, shared memory), from memory.stat.',
                         stack=true),
            g.timeseries('Working set / limit', [g.query(ratio, 'working set / limit')], 'percentunit',
                         'Empty for a container without a limit.', width=8, min=0),
            g.timeseries('Swap', [g.query(k('memsight_container_swap_bytes'), 'swap')], 'bytes',
                         'Swap used by the cgroup (0 with swap off or swap accounting disabled).', width=8),
            g.timeseries('Processes', [g.query(k('memsight_container_processes'), 'processes')], 'short',
                         'Live processes (not threads) of the container on the node.', width=8),
          ]),
          g.row('Growth, leaks and OOM kills', [
            g.timeseries('Growth', [g.query(k('memsight_container_growth_bytes_per_second'), 'growth')], 'binBps',
                         'Trend of the working set (Theil-Sen slope over the growth window).', width=8),
            g.timeseries('Leak suspicion', [g.query(k('memsight_container_leak_suspicion'), 'leak suspicion')], 'short',
                         '0 for flat, shrinking, plateauing or cyclic series; towards 1 for confirmed growth that neither plateaus nor cycles back.',
                         width=8, min=0, max=1, links=[s.toLeaks('series')]),
            g.timeseries('OOM kills', [
              g.query(s.orZeroPerNode(s.increase(k('memsight_oom_kills_total'), '$__rate_interval', s.node + ['comm', 'container_id'])), 'killed: {{comm}}'),
              g.query(s.orZero(s.increase(k('memsight_oom_kills_total'), '$__rate_interval')), 'total'),
              g.query(s.orZeroPerNode(s.increase(k('memsight_container_oom_kills_total'), '$__rate_interval', s.node + ['container_id'])), 'cgroup oom_kill count'),
            ], 'short', 'Kills of the container\'s processes by victim comm (from the oom:mark_victim tracepoint), and the cgroup\'s own oom_kill count.',
            width=8, bars=true, legendCalcs=['sum', 'max']),
            g.timeseries('Growth sites', [
              g.query('max by (site) (%s)' % k('memsight_container_growth_site_bytes'), '{{site}}'),
            ], 'bytes', 'Bytes faulted in at each call site by the container\'s processes over the growth window (sampled page faults; exported for the containers that grow most).'),
            g.table('Growth sites now', [
              g.instant('max by (%s) (%s)' % [s.by(s.containerLabels + ['site']), k('memsight_container_growth_site_bytes')]),
            ], [['Bytes faulted in (growth window)', 'bytes']],
            'The code that faults in the container\'s new memory, largest first.', width=12,
            sortBy='Bytes faulted in (growth window)', hidden=['job', '__name__', 'cluster', 'instance', 'pod_uid']),
          ]),
          g.row('Processes', [
            g.table('Processes of the container', [
              g.instant('sum by (%s) (%s)' % [pby, k('memsight_process_resident_bytes')]),
              g.instant('sum by (%s) (%s)' % [pby, k('memsight_process_swap_bytes')]),
              g.instant('max by (%s) (%s)' % [pby, k('memsight_process_peak_resident_bytes')]),
              g.instant('max by (%s) (%s)' % [pby, k('memsight_process_growth_bytes_per_second')]),
              g.instant('max by (%s) (%s)' % [pby, k('memsight_process_leak_suspicion')]),
            ], [['Resident', 'bytes'], ['Swap', 'bytes'], ['Peak resident', 'bytes'], ['Growth', 'binBps'], ['Leak suspicion', 'short']],
            'Its exported processes (top by RSS and by growth on the node); a pid links to the process dashboard.',
            width=12, cellLinks={ pid: [s.toProcess('table')] }, sortBy='Resident'),
            g.timeseries('Resident memory of its processes', [
              g.query('sum by (instance, pid, comm) (%s)' % k('memsight_process_resident_bytes'), '{{comm}} ({{pid}})'),
            ], 'bytes', 'RSS of each exported process of the container.', width=12, links=[s.toProcess('series')]),
          ]),
        ],
        links=[s.leaksLink],
        annotations=[s.oomAnnotation(s.c)],
      ),
  },
}
