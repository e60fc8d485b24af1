// One Prometheus rule file (recording rules, then alerts) for an environment profile plus overrides:
//   jsonnet -J deploy/mixin --tla-str env=staging --tla-code 'overrides={fastGrowth+: {"for": "5m"}}' rules.jsonnet
function(env='prod', overrides={})
  local envs = import 'environments.libsonnet';
  assert std.objectHas(envs, env) : 'unknown environment %s (one of %s)' % [env, std.join(', ', std.objectFields(envs))];
  local m = (import 'mixin.libsonnet') + { _config+:: envs[env] + overrides };
  { groups: m.prometheusRules.groups + m.prometheusAlerts.groups }
