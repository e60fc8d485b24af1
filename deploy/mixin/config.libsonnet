// Every knob of the memsight mixin: selectors, labels, runbook links and alert thresholds.
// Override any of them the kubernetes-mixin way:
//   (import 'mixin.libsonnet') + { _config+:: { runbookURLPattern: 'https://wiki.example.com/memsight#%s' } }
// or pick one of the environment profiles of environments.libsonnet (rules.jsonnet's `env`).
{
  _config+:: {
    // The scrape job of the agents (deploy/prometheus/prometheus.yml and the Kubernetes monitors set it).
    memsightSelector: 'job="memsight"',
    // Other exporters that run on every node: a node that has one of them up but no memsight target raises
    // MemsightAgentMissing. Their `instance` and the agent's are compared without the port.
    nodeExporterSelector: 'job="node"',
    // The label that tells clusters (or environments) apart when one Prometheus, Thanos or Mimir holds several.
    // Series without it still match: every selector uses =~ with the dashboards' "All" value .*.
    clusterLabel: 'cluster',
    // Alerts of one node, container or process are grouped and aggregated by these.
    nodeLabels: [self.clusterLabel, 'job', 'instance'],
    containerLabels: self.nodeLabels + ['container_id', 'pod_uid'],
    processLabels: self.containerLabels + ['pid', 'comm'],

    // runbook_url of an alert: this pattern with the alert's name in lower case (the anchors of docs/runbooks.md).
    runbookURLPattern: 'https://github.com/memsight/memsight/blob/main/docs/runbooks.md#%s',
    // Dashboards: title prefix, tag, uid prefix, time defaults.
    dashboardNamePrefix: 'memsight / ',
    dashboardTags: ['memsight'],
    dashboardUIDPrefix: 'memsight-',
    dashboardRefresh: '30s',
    dashboardTimeFrom: 'now-6h',
    // Series per top-N panel (topk/bottomk).
    dashboardTopN: 10,

    // ---- alert thresholds (the prod profile; environments.libsonnet overrides them for dev and staging) ----
    // Working set / memory limit of a container.
    containerNearLimit: { warning: 0.90, warningFor: '10m', critical: 0.97, criticalFor: '5m' },
    // Projected seconds until the working set reaches the limit (the agent's Theil-Sen trend), only for
    // containers already above the given fraction of their limit, so that a small container that starts does
    // not page.
    containerLimitSoon: {
      warningSeconds: 4 * 3600, warningMinRatio: 0.5, warningFor: '30m',
      criticalSeconds: 3600, criticalMinRatio: 0.8, criticalFor: '10m',
    },
    // Leak suspicion (0..1) of a process and of a container, sustained.
    leakSuspicion: { warning: 0.7, warningFor: '30m', critical: 0.9, criticalFor: '2h' },
    // RSS (process) or working-set (container) trend, bytes per second.
    fastGrowth: { bytesPerSecond: 10 * 1024 * 1024, 'for': '15m' },
    // Any OOM kill (the first kill of a (comm, container) included) within the window is a warning;
    // criticalKills kills of one container within criticalWindow are critical.
    oomKill: { window: '10m', criticalKills: 3, criticalWindow: '1h' },
    // A process that exited within the window after peaking above this fraction of its container's limit.
    exitPeakNearLimit: { ratio: 0.9, window: '10m' },
    // The agent's target down; no agent target at all; a node with other exporters but no agent.
    agentDown: { 'for': '5m' },
    agentMissing: { 'for': '15m' },
    // Lost events: any loss within the window is a warning; a lost fraction above criticalRatio is critical.
    eventsLost: { window: '10m', criticalRatio: 0.05, criticalFor: '10m' },
    // Attach failures, deep-session overhead stops and lost deep-tier events within the window.
    attachFailures: { window: '1h' },
    deepOverheadStops: { window: '1h' },
    deepEventsLost: { window: '10m' },
  },
}
