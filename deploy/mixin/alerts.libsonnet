// memsight's alerts, node-mixin style: one name per condition, severities warning and critical (a critical
// twin shares its warning's name so that Alertmanager's inhibition can silence the warning), thresholds from
// _config, an absolute runbook_url per alert (its section in docs/runbooks.md).
local promql = import 'lib/promql.libsonnet';

{
  local c = $._config,
  local by = promql.by,
  local num = promql.num,
  local sel(metric) = '%s{%s}' % [metric, c.memsightSelector],

  local alert(name, severity, expr, forDuration, summary, description) = {
    alert: name,
    expr: expr,
    [if forDuration != null then 'for']: forDuration,
    labels: { severity: severity },
    annotations: {
      summary: summary,
      description: description,
      runbook_url: c.runbookURLPattern % std.asciiLower(name),
    },
  },

  local where = 'on {{ $labels.instance }}',
  local container = 'container "{{ $labels.container_id }}" (pod_uid "{{ $labels.pod_uid }}")',
  local process = '{{ $labels.comm }} (pid {{ $labels.pid }}, container "{{ $labels.container_id }}")',

  local ratioToLimit =
    '%s\n  / %s' % [sel('memsight_container_memory_working_set_bytes'), sel('memsight_container_memory_limit_bytes')],

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'memsight.containers',
        rules: [
          alert('MemsightContainerNearMemoryLimit', sev, '%s > %s' % [ratioToLimit, num(c.containerNearLimit[sev])],
                c.containerNearLimit[sev + 'For'],
                'Container working set at {{ $value | humanizePercentage }} of its memory limit %s' % where,
                ('The working set of %s %s has been above %g%% of its memory limit for %s. At the limit the ' +
                 'kernel OOM-kills a process in it.') %
                [container, where, 100 * c.containerNearLimit[sev], c.containerNearLimit[sev + 'For']])
          for sev in ['warning', 'critical']
        ] + [
          alert('MemsightContainerMemoryLimitSoon', sev,
                '%s < %d\n  and on (%s) (%s > %s)' % [
                  sel('memsight_container_time_to_limit_seconds'), c.containerLimitSoon[sev + 'Seconds'],
                  by(c.containerLabels + ['cgroup']), ratioToLimit, num(c.containerLimitSoon[sev + 'MinRatio']),
                ],
                c.containerLimitSoon[sev + 'For'],
                'Container reaches its memory limit in {{ $value | humanizeDuration }} %s' % where,
                ('At its current trend the working set of %s %s reaches its memory limit within %s; it is ' +
                 'above %g%% of the limit already.') %
                [container, where, promql.duration(c.containerLimitSoon[sev + 'Seconds']), 100 * c.containerLimitSoon[sev + 'MinRatio']])
          for sev in ['warning', 'critical']
        ] + [
          alert('MemsightContainerLeakSuspected', sev,
                '%s >= %s' % [sel('memsight_container_leak_suspicion'), num(c.leakSuspicion[sev])],
                c.leakSuspicion[sev + 'For'],
                'Container looks like it leaks memory %s (suspicion {{ $value | printf "%%.2f" }})' % where,
                ('The working set of %s %s has grown like a leak (confirmed growth that neither plateaus nor ' +
                 'cycles back; suspicion >= %s) for %s.') % [container, where, num(c.leakSuspicion[sev]), c.leakSuspicion[sev + 'For']])
          for sev in ['warning', 'critical']
        ] + [
          alert('MemsightContainerFastGrowth', 'warning',
                '%s > %d' % [sel('memsight_container_growth_bytes_per_second'), c.fastGrowth.bytesPerSecond],
                c.fastGrowth['for'],
                'Container grows at {{ $value | humanize1024 }}B/s %s' % where,
                'The working set of %s %s has grown faster than %s for %s.' %
                [container, where, promql.bytesPerSecond(c.fastGrowth.bytesPerSecond), c.fastGrowth['for']]),
        ],
      },
      {
        name: 'memsight.processes',
        rules: [
          alert('MemsightProcessLeakSuspected', sev,
                '%s >= %s' % [sel('memsight_process_leak_suspicion'), num(c.leakSuspicion[sev])],
                c.leakSuspicion[sev + 'For'],
                'Process {{ $labels.comm }} looks like it leaks memory %s (suspicion {{ $value | printf "%%.2f" }})' % where,
                ('The resident memory of %s %s has grown like a leak (suspicion >= %s) for %s. Its growth ' +
                 'sites name the code: memsight_process_growth_site_bytes, or `memsight growth --pid {{ $labels.pid }}`.') %
                [process, where, num(c.leakSuspicion[sev]), c.leakSuspicion[sev + 'For']])
          for sev in ['warning', 'critical']
        ] + [
          alert('MemsightProcessFastGrowth', 'warning',
                '%s > %d' % [sel('memsight_process_growth_bytes_per_second'), c.fastGrowth.bytesPerSecond],
                c.fastGrowth['for'],
                'Process {{ $labels.comm }} grows at {{ $value | humanize1024 }}B/s %s' % where,
                'The resident memory of %s %s has grown faster than %s for %s.' %
                [process, where, promql.bytesPerSecond(c.fastGrowth.bytesPerSecond), c.fastGrowth['for']]),
          alert('MemsightExitPeakNearLimit', 'warning',
                ('max by (%(l)s, comm) (%(peak)s)\n  / on (%(c)s) group_left ()\n' +
                 '    max by (%(c)s) (%(limit)s)\n  > %(r)s') % {
                  l: by(c.containerLabels), c: by(c.containerLabels),
                  peak: sel('memsight_exited_process_peak_resident_bytes'),
                  limit: sel('memsight_container_memory_limit_bytes'), r: num(c.exitPeakNearLimit.ratio),
                },
                null,
                'Short-lived {{ $labels.comm }} peaked at {{ $value | humanizePercentage }} of its container limit %s' % where,
                ('A process {{ $labels.comm }} of %s %s exited after its resident memory peaked above %g%% of the ' +
                 'container memory limit. Spikes like it OOM-kill the container when they coincide.') %
                [container, where, 100 * c.exitPeakNearLimit.ratio]),
        ],
      },
      {
        name: 'memsight.oom',
        rules: [
          alert('MemsightOOMKill', 'warning',
                '%s > 0' % promql.increaseWithFirst(sel('memsight_oom_kills_total'), c.oomKill.window),
                null,
                'OOM kill of {{ $labels.comm }} %s' % where,
                ('The kernel OOM-killed {{ printf "%%.0f" $value }} process(es) named {{ $labels.comm }} in %s %s ' +
                 'within %s (comm "_other_": victims past the agent\'s per-victim series limit). ' +
                 '`memsight oom` on that node shows each kill.') % [container, where, c.oomKill.window]),
          alert('MemsightOOMKill', 'critical',
                'sum by (%s) %s >= %d' % [
                  by(c.containerLabels),
                  promql.increaseWithFirst(sel('memsight_oom_kills_total'), c.oomKill.criticalWindow),
                  c.oomKill.criticalKills,
                ],
                null,
                'Repeated OOM kills in container "{{ $labels.container_id }}" %s' % where,
                'The kernel OOM-killed {{ printf "%%.0f" $value }} processes in %s %s within %s.' %
                [container, where, c.oomKill.criticalWindow]),
        ],
      },
      {
        name: 'memsight.agent',
        rules: [
          alert('MemsightAgentDown', 'critical', 'up{%s} == 0' % c.memsightSelector, c.agentDown['for'],
                'memsight agent on {{ $labels.instance }} is down',
                ('Prometheus has failed to scrape memsight on {{ $labels.instance }} for %s. OOM kills and memory ' +
                 'growth on that node are not observed.') % c.agentDown['for']),
          alert('MemsightAgentAbsent', 'critical', 'absent(up{%s})' % c.memsightSelector, c.agentDown['for'],
                'No memsight agent is scraped at all',
                'Prometheus has no target of %s: no node is observed.' % c.memsightSelector),
          alert('MemsightAgentMissing', 'warning',
                ('group by (%(g)s) (\n  label_replace(up{%(other)s} == 1, "node", "$1", "instance", "(.+?)(:[0-9]+)?")\n)\n' +
                 'unless on (%(g)s)\ngroup by (%(g)s) (\n  label_replace(up{%(m)s}, "node", "$1", "instance", "(.+?)(:[0-9]+)?")\n)') % {
                  g: by([c.clusterLabel, 'node']), other: c.nodeExporterSelector, m: c.memsightSelector,
                },
                c.agentMissing['for'],
                'Node {{ $labels.node }} has exporters but no memsight agent',
                ('A target of %s on node {{ $labels.node }} is up, but no memsight target exists there (instances ' +
                 'compared without their port) for %s: the node is not observed.') % [c.nodeExporterSelector, c.agentMissing['for']]),
          alert('MemsightEventsLost', 'warning',
                '%s > 0' % promql.increaseWithFirst(sel('memsight_events_lost_total'), c.eventsLost.window), null,
                'memsight lost {{ $labels.reason }} events %s' % where,
                ('memsight %s dropped about {{ printf "%%.0f" $value }} events within %s (reason {{ $labels.reason }}). ' +
                 'Its OOM, exit or page-fault data for that time is incomplete.') % [where, c.eventsLost.window]),
          alert('MemsightEventsLost', 'critical',
                ('sum by (%(n)s) (rate(%(lost)s[%(w)s]))\n  / sum by (%(n)s) (rate(%(all)s[%(w)s]))\n  > %(r)s') % {
                  n: by(c.nodeLabels), w: c.eventsLost.window, r: num(c.eventsLost.criticalRatio),
                  lost: sel('memsight_events_lost_total'), all: sel('memsight_events_total'),
                },
                c.eventsLost.criticalFor,
                'memsight loses {{ $value | humanizePercentage }} of its events %s' % where,
                'memsight %s has lost more than %g%% of its events for %s.' %
                [where, 100 * c.eventsLost.criticalRatio, c.eventsLost.criticalFor]),
          alert('MemsightAttachFailures', 'warning',
                '%s > 0' % promql.increaseWithFirst(sel('memsight_attach_failures_total'), c.attachFailures.window), null,
                'memsight could not attach {{ $labels.program }} %s' % where,
                ('memsight %s failed to attach {{ $labels.program }} {{ printf "%%.0f" $value }} time(s) within %s: ' +
                 'growth sites of that node are incomplete.') % [where, c.attachFailures.window]),
          alert('MemsightDeepOverheadStops', 'warning',
                '%s > 0' % promql.increaseWithFirst(sel('memsight_deep_overhead_stops_total'), c.deepOverheadStops.window),
                null,
                'memsight stopped deep sessions over their overhead budget %s' % where,
                ('The overhead governor %s stopped {{ printf "%%.0f" $value }} deep-tier session(s) within %s because ' +
                 'their estimated cost passed the budget: the target is too busy for uprobes; use its growth sites.') %
                [where, c.deepOverheadStops.window]),
          alert('MemsightDeepEventsLost', 'warning',
                '%s > 0' % promql.increaseWithFirst(sel('memsight_deep_events_lost_total'), c.deepEventsLost.window),
                null,
                'memsight lost deep-tier {{ $labels.reason }} events %s' % where,
                ('The deep tier %s lost {{ printf "%%.0f" $value }} events within %s (reason {{ $labels.reason }}): ' +
                 'heap sites of the running sessions undercount.') % [where, c.deepEventsLost.window]),
        ],
      },
    ],
  },
}
