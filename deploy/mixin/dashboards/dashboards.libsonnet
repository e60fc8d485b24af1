// Grafana dashboards of memsight, one file each, written to deploy/grafana/<file name> by generate.py. Levels:
// overview (the fleet) -> node -> container -> process, plus the leaks (and deep tier), oom and agent-health views.
// Shared selectors, variables and links: common.libsonnet; panel builders: ../lib/grafana.libsonnet.
(import 'overview.libsonnet') +
(import 'node.libsonnet') +
(import 'container.libsonnet') +
(import 'process.libsonnet') +
(import 'leaks.libsonnet') +
(import 'oom.libsonnet') +
(import 'agent-health.libsonnet')
