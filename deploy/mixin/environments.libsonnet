// Threshold profiles per environment, applied on top of config.libsonnet (which is prod). rules.jsonnet takes
// one by name (`--tla-str env=staging`) and then any overrides (`--tla-code 'overrides={...}'`).
// Same rules and names everywhere; only how much and how long differ: dev tolerates more before it warns and
// pages on less, staging sits between.
{
  prod: {},
  staging: {
    leakSuspicion+: { warningFor: '1h', criticalFor: '4h' },
    fastGrowth+: { 'for': '30m' },
    containerNearLimit+: { warningFor: '20m', criticalFor: '10m' },
    agentMissing+: { 'for': '30m' },
  },
  dev: {
    leakSuspicion+: { warning: 0.8, warningFor: '2h', critical: 0.95, criticalFor: '8h' },
    fastGrowth+: { bytesPerSecond: 50 * 1024 * 1024, 'for': '30m' },
    containerNearLimit+: { warning: 0.95, warningFor: '30m', critical: 0.99, criticalFor: '15m' },
    containerLimitSoon+: { warningSeconds: 3600, criticalSeconds: 600 },
    oomKill+: { criticalKills: 10 },
    agentDown+: { 'for': '15m' },
    agentMissing+: { 'for': '1h' },
    eventsLost+: { criticalRatio: 0.2 },
  },
}
