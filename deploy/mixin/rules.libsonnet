// Recording rules: the series the dashboards and ad-hoc queries reuse.
local promql = import 'lib/promql.libsonnet';

{
  local c = $._config,
  local sel(metric) = '%s{%s}' % [metric, c.memsightSelector],

  prometheusRules+:: {
    groups+: [
      {
        name: 'memsight.recording',
        rules: [
          {
            // Working set as a fraction of the memory limit; unlimited containers have no limit series, no result.
            record: 'memsight:container_memory_working_set:ratio_limit',
            expr: '%s\n  / %s' % [sel('memsight_container_memory_working_set_bytes'), sel('memsight_container_memory_limit_bytes')],
          },
          {
            // Per-process RSS (anon + file + shmem).
            record: 'memsight:process_resident_bytes:sum_kind',
            expr: 'sum without (kind) (%s)' % sel('memsight_process_resident_bytes'),
          },
          {
            // OOM kills per (comm, container) in the last hour, first kill included.
            record: 'memsight:oom_kills:increase1h',
            expr: promql.increaseWithFirst(sel('memsight_oom_kills_total'), '1h'),
          },
          {
            record: 'memsight:events_lost:rate5m',
            expr: 'sum by (%s, reason) (rate(%s[5m]))' % [promql.by(c.nodeLabels), sel('memsight_events_lost_total')],
          },
          {
            record: 'memsight:events_lost:ratio_rate5m',
            expr: 'sum by (%(n)s) (rate(%(lost)s[5m]))\n  / sum by (%(n)s) (rate(%(all)s[5m]))' % {
              n: promql.by(c.nodeLabels),
              lost: sel('memsight_events_lost_total'),
              all: sel('memsight_events_total'),
            },
          },
        ],
      },
    ],
  },
}
