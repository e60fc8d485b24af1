// The memsight monitoring mixin: config + recording rules + alerts + dashboards, one source for
// deploy/prometheus/memsight-rules*.yml and deploy/grafana/*.json (written by generate.sh).
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
