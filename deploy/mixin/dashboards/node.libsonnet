// memsight / node: one agent's node. Its processes and containers, what the agent tracks and exports, process
// exits and their peaks, OOM kills and growth sites. Drill down to a container or a process.
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'memsight-node.json':
      local c = $._config;
      local s = common(c);
      local n = s.n;
      local top(expr) = 'topk(%d, %s)' % [s.topN, expr];
      local pby = s.by(s.processLabels);
      local cby = s.by(s.containerLabels + ['cgroup']);
      local ratio = '%s\n  / %s' % [n('memsight_container_memory_working_set_bytes'), n('memsight_container_memory_limit_bytes')];
      local quantile(q) = g.query(
        'histogram_quantile(%g, sum by (le) (rate(%s[$__rate_interval])))' % [q, n('memsight_process_exit_peak_resident_bytes_bucket')],
        'p%d' % (100 * q)
      );

      s.dashboard(
        'node', 'node',
        'One node: its processes and containers, exits, OOM kills and growth sites (docs/dashboards.md).',
        s.nodeVariables,
        [
          g.row('Node', [
            g.stat('Agent up', [g.instant('max(%s)' % n('up'))], 'short', 'Prometheus scrapes the agent (1) or not (0).',
                   thresholds=[[null, 'red'], [1, 'green']]),
            g.stat('Tracked processes', [g.instant('sum(%s)' % n('memsight_tracked_processes'))], 'short',
                   'Every live process on the node.'),
            g.stat('Exported processes', [g.instant('sum(%s)' % n('memsight_exported_processes'))], 'short',
                   'Processes with per-process series: the top by RSS plus the top by growth.'),
            g.stat('Containers', [g.instant('sum(%s)' % n('memsight_tracked_containers'))], 'short',
                   'Containers with a live process on the node.'),
            g.stat('Exits', [g.instant('sum(increase(%s[$__range]))' % n('memsight_process_exits_total'))], 'short',
                   'Processes that exited in the time range.', decimals=0),
            g.stat('OOM kills', [g.instant(s.orZero(s.increase(n('memsight_oom_kills_total'), '$__range')))], 'short',
                   'OOM kills on the node in the time range (first kill of a series included).',
                   thresholds=[[null, 'green'], [1, 'red']]),
          ]),
          g.row('Processes', [
            g.timeseries('Resident memory of the largest processes',
                         [g.query(top('sum by (%s) (%s)' % [pby, n('memsight_process_resident_bytes')]), '{{comm}} ({{pid}})')],
                         'bytes', 'RSS (anon + file + shmem) of the exported processes with the most.',
                         links=[s.toProcess('series')]),
            g.timeseries('Fastest growing processes',
                         [g.query(top(n('memsight_process_growth_bytes_per_second')), '{{comm}} ({{pid}})')],
                         'binBps', 'Trend (Theil-Sen slope) of RSS plus swap over the growth window.',
                         links=[s.toProcess('series')]),
            g.table('Processes', [
              g.instant('sum by (%s) (%s)' % [pby, n('memsight_process_resident_bytes')]),
              g.instant('sum by (%s) (%s)' % [pby, n('memsight_process_resident_bytes', 'kind="anon"')]),
              g.instant('sum by (%s) (%s)' % [pby, n('memsight_process_swap_bytes')]),
              g.instant('max by (%s) (%s)' % [pby, n('memsight_process_peak_resident_bytes')]),
              g.instant('max by (%s) (%s)' % [pby, n('memsight_process_growth_bytes_per_second')]),
              g.instant('max by (%s) (%s)' % [pby, n('memsight_process_leak_suspicion')]),
              g.instant('sum by (%s) (rate(%s[$__rate_interval]))' % [pby, n('memsight_process_page_faults_total', 'kind="major"')]),
            ], [['Resident', 'bytes'], ['Anon', 'bytes'], ['Swap', 'bytes'], ['Peak resident', 'bytes'],
                ['Growth', 'binBps'], ['Leak suspicion', 'short'], ['Major faults/s', 'ops']],
            'The exported processes (top by RSS and by growth); a pid links to its process dashboard, a container to its container dashboard.',
            height=10, cellLinks={ pid: [s.toProcess('table')], container_id: [s.toContainer('table')] },
            sortBy='Resident'),
            g.timeseries('Tracked and exported', [
              g.query('sum(%s)' % n('memsight_tracked_processes'), 'tracked processes'),
              g.query('sum(%s)' % n('memsight_exported_processes'), 'exported processes'),
              g.query('sum(%s)' % n('memsight_tracked_containers'), 'containers'),
            ], 'short', 'Processes in the agent\'s table, processes exported with their own series, containers.', width=24, height=6),
          ]),
          g.row('Containers', [
            g.timeseries('Container working set', [g.query(n('memsight_container_memory_working_set_bytes'), '{{container_id}}')],
                         'bytes', 'Usage minus inactive file cache, what the kubelet and the OOM killer count.',
                         links=[s.toContainer('series')]),
            g.timeseries('Container working set / limit', [g.query(ratio, '{{container_id}}')], 'percentunit',
                         'Working set as a fraction of the memory limit (containers with a limit).',
                         links=[s.toContainer('series')], min=0),
            g.table('Containers', [
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_memory_usage_bytes')]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_memory_working_set_bytes')]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_memory_limit_bytes')]),
              g.instant('max by (%s) (\n  %s\n)' % [cby, ratio]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_processes')]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_growth_bytes_per_second')]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_leak_suspicion')]),
              g.instant('max by (%s) (%s)' % [cby, n('memsight_container_time_to_limit_seconds')]),
            ], [['Usage', 'bytes'], ['Working set', 'bytes'], ['Limit', 'bytes'], ['Working set / limit', 'percentunit'],
                ['Processes', 'short'], ['Growth', 'binBps'], ['Leak suspicion', 'short'], ['Time to limit', 's']],
            'Every container with a live process on the node; a container links to its dashboard.',
            height=8, cellLinks={ container_id: [s.toContainer('table')] }, sortBy='Working set'),
          ]),
          g.row('Process exits', [
            g.timeseries('Process exits', [g.query('sum(rate(%s[$__rate_interval]))' % n('memsight_process_exits_total'), 'exits')],
                         'ops', 'Processes that exited per second (thread exits not counted).', width=8),
            g.timeseries('Peak RSS of exiting processes', [
              quantile(0.5),
              quantile(0.9),
              quantile(0.99),
              g.query('sum(rate(%s[$__rate_interval]))\n  / sum(rate(%s[$__rate_interval]))' % [
                n('memsight_process_exit_peak_resident_bytes_sum'), n('memsight_process_exit_peak_resident_bytes_count'),
              ], 'mean'),
            ], 'bytes', 'Quantiles of the lifetime peak RSS of the processes that exited (histogram buckets 1 MiB to 16 GiB).', width=8),
            g.table('Largest recent exits', [
              g.instant('max by (%s) (%s)' % [pby, n('memsight_exited_process_peak_resident_bytes')]),
            ], [['Peak resident', 'bytes']],
            'The largest process exits of the agent\'s exit-peak window (exit_peaks.window, default 5m).',
            width=8, cellLinks={ container_id: [s.toContainer('table')] }, sortBy='Peak resident'),
          ]),
          g.row('OOM kills', [
            g.timeseries('OOM kills', [
              g.query(s.orZeroPerNode(s.increase(n('memsight_oom_kills_total'), '$__rate_interval', s.node + ['comm', 'container_id'])),
                      'killed: {{comm}} {{container_id}}'),
              g.query(s.orZero(s.increase(n('memsight_oom_kills_total'), '$__rate_interval')), 'total'),
            ], 'short', 'OOM kills by victim comm and container (first kill of a series included).',
            bars=true, legendCalcs=['sum', 'max']),
            g.table('Recent OOM victims', [
              g.instant('sum by (%s) (%s)' % [pby, n('memsight_oom_victim_resident_bytes')]),
              g.instant('sum by (%s) (%s)' % [pby, n('memsight_oom_victim_resident_bytes', 'kind="anon"')]),
              g.instant('sum by (%s) (%s)' % [pby, n('memsight_oom_victim_resident_bytes', 'kind="file"')]),
              g.instant('sum by (%s) (%s)' % [pby, n('memsight_oom_victim_resident_bytes', 'kind="shmem"')]),
            ], [['Resident at kill', 'bytes'], ['Anon', 'bytes'], ['File', 'bytes'], ['Shmem', 'bytes']],
            'The last 10 OOM victims of the last hour and their resident memory when they were chosen.',
            width=12, cellLinks={ container_id: [s.toContainer('table')] }, sortBy='Resident at kill'),
          ]),
          g.row('Growth sites', [
            g.table('Process growth sites', [
              g.instant('max by (%s) (%s)' % [s.by(s.processLabels + ['site']), n('memsight_process_growth_site_bytes')]),
            ], [['Bytes faulted in (growth window)', 'bytes']],
            'Where the growing processes fault in new memory, from sampled page faults (no uprobes).',
            width=12, height=9, cellLinks={ pid: [s.toProcess('table')] }, sortBy='Bytes faulted in (growth window)'),
            g.table('Container growth sites', [
              g.instant('max by (%s) (%s)' % [s.by(s.containerLabels + ['site']), n('memsight_container_growth_site_bytes')]),
            ], [['Bytes faulted in (growth window)', 'bytes']],
            'The same per container, its processes\' sites added up.',
            width=12, height=9, cellLinks={ container_id: [s.toContainer('table')] }, sortBy='Bytes faulted in (growth window)'),
          ]),
        ],
        links=[s.leaksLink],
        annotations=[s.oomAnnotation()],
      ),
  },
}
