// memsight / oom: OOM kills over time and per victim (comm, container), the "_other_" overflow series, the victims'
// resident memory and forensic records, the cgroups' own OOM kill counts, and the peaks of exiting processes that come close to them.
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'memsight-oom.json':
      local c = $._config;
      local s = common(c);
      local n = s.n;
      local kills = n('memsight_oom_kills_total');
      local pby = s.by(s.processLabels);
      local victim = pby;
      local quantile(q) = g.query(
        'histogram_quantile(%g, sum by (le) (rate(%s[$__rate_interval])))' % [q, n('memsight_process_exit_peak_resident_bytes_bucket')],
        'p%d' % (100 * q)
      );

      s.dashboard(
        'oom', 'OOM kills',
        'OOM kills by victim, the victims\' memory, the cgroups\' OOM kill counts and the peaks of exiting processes (docs/dashboards.md, docs/metrics.md#oom-kills).',
        s.fleetVariables,
        [
          g.row('OOM kills', [
            g.stat('OOM kills', [g.instant(s.orZero(s.increase(kills, '$__range')))], 'short',
                   'Processes OOM-killed in the time range (the first kill of a (comm, container) included).', width=6,
                   thresholds=[[null, 'green'], [1, 'red']]),
            g.stat('Kills past the series limit', [g.instant(s.orZero(s.increase(n('memsight_oom_kills_total', 'comm="_other_"'), '$__range')))],
                   'short', 'Kills counted in the overflow series comm="_other_" (more (comm, container) pairs than oom.max_series).',
                   width=6, thresholds=[[null, 'green'], [1, 'orange']]),
            g.stat('Container OOM kills (cgroup count)', [g.instant(s.orZero(s.increase(n('memsight_container_oom_kills_total'), '$__range')))],
                   'short', 'The kernel\'s oom_kill count of the live containers\' cgroups in the time range.', width=6,
                   thresholds=[[null, 'green'], [1, 'red']]),
            g.stat('Recent victims', [g.instant(s.orZero('count(count by (%s) (%s))' % [victim, n('memsight_oom_victim_resident_bytes')]))],
                   'short', 'OOM victims the agents still export (the last 10 of the last hour per agent).', width=6),
            g.timeseries('OOM kills by victim', [
              g.query(s.orZeroPerNode(s.increase(kills, '$__rate_interval', s.node + ['comm', 'container_id'])), '{{instance}} {{comm}} {{container_id}}'),
              g.query(s.orZero(s.increase(kills, '$__rate_interval')), 'total'),
            ], 'short', 'OOM kills by victim comm and container, the first kill of a series included; comm "_other_" (container "") is the overflow series.',
            bars=true, legendCalcs=['sum', 'max'], links=[s.toContainer('series')]),
            g.table('OOM kills in the time range', [
              g.instant(s.increase(kills, '$__range', s.containerLabels + ['comm'])),
            ], [['Kills', 'short']],
            'Kills per victim comm and container in the time range; comm "_other_" counts the kills past oom.max_series.',
            width=12, cellLinks={ container_id: [s.toContainer('table')] }, sortBy='Kills'),
            g.timeseries('Container OOM kills (cgroup count)', [
              g.query(s.orZeroPerNode(s.increase(n('memsight_container_oom_kills_total'), '$__rate_interval', s.node + ['container_id'])), '{{instance}} {{container_id}}'),
              g.query(s.orZero(s.increase(n('memsight_container_oom_kills_total'), '$__rate_interval')), 'total'),
            ], 'short', 'The cgroup\'s own oom_kill counter (memory.events), for containers that still have a live process.',
            width=24, bars=true, legendCalcs=['sum'], links=[s.toContainer('series')]),
          ]),
          g.row('Victims', [
            g.table('Recent victims', [
              g.instant('sum by (%s) (%s)' % [victim, n('memsight_oom_victim_resident_bytes')]),
              g.instant('sum by (%s) (%s)' % [victim, n('memsight_oom_victim_resident_bytes', 'kind="anon"')]),
              g.instant('sum by (%s) (%s)' % [victim, n('memsight_oom_victim_resident_bytes', 'kind="file"')]),
              g.instant('sum by (%s) (%s)' % [victim, n('memsight_oom_victim_resident_bytes', 'kind="shmem"')]),
            ], [['Resident at kill', 'bytes'], ['Anon', 'bytes'], ['File', 'bytes'], ['Shmem', 'bytes']],
            'The last 10 victims of the last hour per agent, with their resident memory when the OOM killer chose them (sizes read 0 before Linux 6.1).',
            width=12, cellLinks={ container_id: [s.toContainer('table')], instance: [s.toNode('table')] }, sortBy='Resident at kill'),
            g.timeseries('Victims\' resident memory by kind', [
              g.query(n('memsight_oom_victim_resident_bytes'), '{{kind}} {{comm}} ({{pid}}) on {{instance}}'),
            ], 'bytes', 'Each victim\'s series stays an hour after its kill.', width=12),
            g.timeseries('OOM forensic records', [
              g.query('sum by (%s) (increase(%s[$__rate_interval]))' % [s.by(s.node + ['outcome']), n('memsight_oom_forensic_records_total')],
                      '{{outcome}} on {{instance}}'),
            ], 'short', 'Forensic records of OOM kills the agents wrote to oom.forensics_dir (served at /oom, told by memsight oom --explain), and the writes that failed (a full disk: see the agent log). docs/oom-forensics.md.',
            width=24, bars=true, legendCalcs=['sum']),
          ]),
          g.row('Exit peaks', [
            g.timeseries('Peak RSS of exiting processes', [quantile(0.5), quantile(0.9), quantile(0.99)], 'bytes',
                         'Quantiles of the lifetime peak RSS of exited processes (histogram; short-lived spikes that /proc sampling misses).', width=8),
            g.timeseries('Exit peaks by comm', [
              g.query('max by (%s, comm) (%s)' % [s.by(s.node), n('memsight_exited_process_peak_resident_bytes')], '{{comm}} on {{instance}}'),
            ], 'bytes', 'Peak RSS of the largest recent exits (exit_peaks.top of the last exit_peaks.window), by command.', width=8),
            g.table('Largest recent exits against their container limit', [
              g.instant('max by (%s) (%s)' % [pby, n('memsight_exited_process_peak_resident_bytes')]),
              g.instant(('max by (%(p)s) (%(peak)s)\n  / on (%(c)s) group_left ()\n' +
                         '    max by (%(c)s) (%(limit)s)') % {
                p: pby, c: s.by(s.node + ['container_id']),
                peak: n('memsight_exited_process_peak_resident_bytes'), limit: n('memsight_container_memory_limit_bytes'),
              }),
            ], [['Peak resident', 'bytes'], ['Peak / container limit', 'percentunit']],
            'Recent exits, largest first; the ratio only for processes of a container with a limit.',
            width=8, cellLinks={ container_id: [s.toContainer('table')] }, sortBy='Peak resident'),
          ]),
        ],
        annotations=[s.oomAnnotation()],
      ),
  },
}
