// What memsight's dashboards share: selectors, template variables, links between the levels
// (overview -> node -> container -> process, and to leaks), the OOM-kill annotation. A function of _config.
local g = import '../lib/grafana.libsonnet';
local promql = import '../lib/promql.libsonnet';

function(c) {
  local cl = c.clusterLabel,

  // ---- selectors: every label matcher is =~"$var", so that "All" (.*) matches series without the label too ----
  local nodeMatchers = '%s=~"$cluster", job=~"$job", instance=~"$instance"' % cl,
  local sel(matchers) = function(metric, extra='')
    '%s{%s}' % [metric, if extra == '' then matchers else extra + ', ' + matchers],
  // metric{cluster, job, instance}: the selected nodes.
  n:: sel(nodeMatchers),
  // metric{..., container_id=~"$container"}: the selected container.
  c:: sel(nodeMatchers + ', container_id=~"$container"'),
  // metric{..., pid=~"$pid"}: the selected process.
  p:: sel(nodeMatchers + ', pid=~"$pid"'),

  // by()/on() label lists.
  by(labels):: promql.by(labels),
  node:: [cl, 'instance'],
  containerLabels:: self.node + ['container_id', 'pod_uid'],
  processLabels:: self.node + ['pid', 'comm', 'container_id'],

  // Increase of a counter within window, a new series counted with its value (its first kill, loss, failure...;
  // lib/promql.libsonnet increaseWithFirst), summed (by labels).
  increase(selector, window, by=null)::
    if by == null then 'sum %s' % promql.increaseWithFirst(selector, window)
    else 'sum by (%s) %s' % [promql.by(by), promql.increaseWithFirst(selector, window)],
  // A total that reads 0 instead of "No data" when the counter has no series yet (it appears at its first increment).
  orZero(expr):: expr + ' or on() vector(0)',
  // A breakdown (by node and more labels) of such a counter: a node without any of its series shows one 0 series
  // (no other labels) instead of nothing.
  orZeroPerNode(expr):: '%s\n  or on (%s) (0 * group by (%s) (%s))' % [
    expr, promql.by(self.node), promql.by(self.node), self.n('memsight_build_info'),
  ],

  topN:: c.dashboardTopN,
  uid(name):: c.dashboardUIDPrefix + name,
  title(name):: c.dashboardNamePrefix + name,

  // ---- template variables ----
  local datasource = g.datasourceVariable(),
  local cluster = g.queryVariable(
    'cluster', 'cluster', 'label_values(memsight_build_info, %s)' % cl,
    description='The %s label (one Prometheus, Thanos or Mimir holding several). All also matches series without it.' % cl,
    includeAll=true,
  ),
  local job = g.queryVariable('job', 'job', 'label_values(memsight_build_info{%s=~"$cluster"}, job)' % cl,
                              description='The scrape job of the memsight agents.'),
  local instanceQuery = 'label_values(memsight_build_info{%s=~"$cluster", job=~"$job"}, instance)' % cl,
  local instanceFleet = g.queryVariable('instance', 'node', instanceQuery,
                                        description='The agents (one per node).', multi=true, includeAll=true),
  local instanceOne = g.queryVariable('instance', 'node', instanceQuery, description='The agent (node).'),
  local container(includeAll) = g.queryVariable(
    'container', 'container',
    'label_values(memsight_container_memory_usage_bytes{%s}, container_id)' % nodeMatchers,
    description='Container id (64 hex digits) of a container with a live process on the node.',
    includeAll=includeAll,
  ),
  local pid = g.queryVariable(
    'pid', 'pid', 'label_values(memsight_process_resident_bytes{%s, container_id=~"$container"}, pid)' % nodeMatchers,
    description='An exported process (top by RSS or by growth) on the node; the container variable narrows the list.',
    sort=3,
  ),
  // Fleet dashboards: any number of nodes. Node, container and process dashboards: one node (and container, pid).
  fleetVariables:: [datasource, cluster, job, instanceFleet],
  nodeVariables:: [datasource, cluster, job, instanceOne],
  containerVariables:: self.nodeVariables + [container(false)],
  processVariables:: self.nodeVariables + [container(true), pid],

  // ---- links ----
  // Every link keeps the time range, the data source, cluster and job; the target's own variables come from the
  // row (tables: ${__data.fields.X}) or the series (time series: ${__field.labels.X}).
  local keep = '?${__url_time_range}&${datasource:queryparam}&${cluster:queryparam}&${job:queryparam}',
  local to(name, vars) = '/d/%s%s%s' % [self.uid(name), keep, std.join('', ['&var-%s=%s' % v for v in vars])],
  local field(from, label) = if from == 'table' then '${__data.fields.%s}' % label else '${__field.labels.%s}' % label,

  toNode(from):: g.link('Node dashboard', to('node', [['instance', field(from, 'instance')]])),
  toContainer(from):: g.link('Container dashboard', to('container', [
    ['instance', field(from, 'instance')],
    ['container', field(from, 'container_id')],
  ])),
  toProcess(from):: g.link('Process dashboard', to('process', [
    ['instance', field(from, 'instance')],
    ['pid', field(from, 'pid')],
  ])),
  toLeaks(from):: g.link('Leaks dashboard', to('leaks', [['instance', field(from, 'instance')]])),

  // The dropdown of all memsight dashboards, and links to the leaks dashboard.
  links:: [g.dashboardsLink('memsight', c.dashboardTags)],
  leaksLink:: g.dashboardLink('Leaks and deep tier', self.uid('leaks'),
                              'Leak suspicion, growth sites, heap sites and Python types of the deep tier'),

  // ---- annotations ----
  // OOM kills (first kill of a series included) at the time they happened, on the dashboard's node(s) or container.
  oomAnnotation(selector=self.n):: g.annotation(
    'OOM kills',
    'sum by (%s) %s > 0' % [
      promql.by(self.node + ['comm', 'container_id']),
      promql.increaseWithFirst(selector('memsight_oom_kills_total'), '2m'),
    ],
    'OOM kill: {{comm}}',
    '{{comm}} in container "{{container_id}}" on {{instance}}',
    tagKeys='comm,container_id,instance',
  ),

  // The dashboard with the mixin's title, uid, tags, time and refresh, the dashboards dropdown and the annotation.
  dashboard(name, title, description, variables, rows, links=[], annotations=[])::
    g.dashboard(self.uid(name), self.title(title), description, c.dashboardTags, c.dashboardTimeFrom,
                c.dashboardRefresh, variables, rows, self.links + links, annotations),
}
