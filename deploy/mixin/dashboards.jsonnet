// Every dashboard, by file name: jsonnet -J deploy/mixin -m OUTDIR dashboards.jsonnet
function(overrides={})
  local m = (import 'mixin.libsonnet') + { _config+:: overrides };
  m.grafanaDashboards
