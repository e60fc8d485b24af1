// Small builders for Grafana dashboards (schemaVersion 39), just what memsight's dashboards use: a dashboard, rows,
// time series, stat and table panels, template variables, dashboard links, data links and annotations.
// Panels are laid out by `dashboard` (rows of panels flowing left to right, 24 columns); every panel and query
// uses the data source of the dashboard's `datasource` variable.
{
  // The Prometheus data source chosen with the `datasource` variable.
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // ---- queries ----

  // A range query (a line per series); legend: '{{label}} ...'.
  query(expr, legend=''):: {
    datasource: $.datasource,
    editorMode: 'code',
    expr: expr,
    legendFormat: legend,
    range: true,
    instant: false,
  },

  // An instant query, for stat panels and tables (format 'table': one row per series, labels as columns).
  instant(expr, legend='', format='time_series'):: $.query(expr, legend) + {
    range: false,
    instant: true,
    format: format,
  },

  // ---- panels ----

  // Fields every panel shares; `width`/`height` are grid units (24 columns), hidden, used by the layout.
  local panel(type, title, description, targets, unit, width, height) = {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    targets: [
      targets[i] + { refId: std.char(std.codepoint('A') + i) }
      for i in std.range(0, std.length(targets) - 1)
    ],
    fieldConfig: { defaults: { unit: unit, links: [] }, overrides: [] },
    width:: width,
    height:: height,
  },

  // Threshold steps from [[value, color], ...], the first value null (the base color).
  thresholds(steps):: { mode: 'absolute', steps: [{ value: s[0], color: s[1] } for s in steps] },

  // A data link: url with ${__url_time_range}, var-... and ${__field.labels.X} / ${__data.fields.X}.
  link(title, url):: { title: title, url: url, targetBlank: false },

  timeseries(title, targets, unit, description='', width=12, height=8, stack=false, links=[], min=null, max=null,
             legendCalcs=['lastNotNull', 'max'], bars=false)::
    panel('timeseries', title, description, targets, unit, width, height) + {
      fieldConfig+: {
        defaults+: {
          links: links,
          [if min != null then 'min']: min,
          [if max != null then 'max']: max,
          custom: {
            drawStyle: if bars then 'bars' else 'line',
            lineWidth: 1,
            fillOpacity: if stack || bars then 60 else 10,
            showPoints: 'never',
            spanNulls: false,
            stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
          },
        },
      },
      options: {
        legend: { showLegend: true, displayMode: 'table', placement: 'bottom', calcs: legendCalcs },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // One number (the last value of the first series); colors from thresholds, text for special values
  // (mappings: [[match, text]] with match one of 'null', 'nan', 'null+nan').
  stat(title, targets, unit, description='', width=4, height=4, thresholds=[[null, 'green']], mappings=[],
       links=[], noValue=null, decimals=null)::
    panel('stat', title, description, targets, unit, width, height) + {
      fieldConfig+: {
        defaults+: {
          links: links,
          color: { mode: 'thresholds' },
          thresholds: $.thresholds(thresholds),
          mappings: [
            { type: 'special', options: { match: m[0], result: { text: m[1], index: i } } }
            for i in std.range(0, std.length(mappings) - 1)
            for m in [mappings[i]]
          ],
          [if noValue != null then 'noValue']: noValue,
          [if decimals != null then 'decimals']: decimals,
        },
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: 'auto',
      },
    },

  // A table of instant queries merged on their labels, one row per label set. columns: for each query (in order)
  // [header, unit]; labels are columns too (hidden: labels not to show). cellLinks: {label: [links]} makes that
  // label's cells links. sortBy: header of the column to sort by (descending unless sortAsc).
  table(title, targets, columns, description='', width=24, height=8, hidden=['job', '__name__'], cellLinks={},
        sortBy=null, sortAsc=false)::
    local refIds = [std.char(std.codepoint('A') + i) for i in std.range(0, std.length(targets) - 1)];
    // One query's value column is "Value"; several queries' are "Value #A", "Value #B", ...
    local valueField(i) = if std.length(targets) == 1 then 'Value' else 'Value #' + refIds[i];
    panel('table', title, description, [t + { format: 'table', instant: true, range: false } for t in targets],
          columns[0][1], width, height) + {
      fieldConfig+: {
        overrides: [
          {
            matcher: { id: 'byName', options: valueField(i) },
            properties: [{ id: 'displayName', value: columns[i][0] }, { id: 'unit', value: columns[i][1] }],
          }
          for i in std.range(0, std.length(columns) - 1)
        ] + [
          {
            matcher: { id: 'byName', options: label },
            properties: [{ id: 'links', value: cellLinks[label] }],
          }
          for label in std.objectFields(cellLinks)
        ],
      },
      transformations: [
        { id: 'merge', options: {} },
        { id: 'organize', options: { excludeByName: { [h]: true for h in ['Time'] + hidden } } },
      ],
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: false, reducer: ['sum'], fields: '' },
        [if sortBy != null then 'sortBy']: [{ displayName: sortBy, desc: !sortAsc }],
      },
    },

  // A row: a title above the panels of the list (laid out by `dashboard`).
  row(title, panels):: { title: title, panels: panels },

  // ---- template variables ----

  // The Prometheus data source the dashboard reads.
  datasourceVariable(label='Data source'):: {
    name: 'datasource',
    label: label,
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
  },

  // A variable filled with a Prometheus query (label_values(...)), refreshed when the time range changes.
  // includeAll adds "All" with allValue as its value (.* so that series without the label match too).
  // sort: 1 alphabetical, 3 numerical (ascending).
  queryVariable(name, label, query, description='', multi=false, includeAll=false, allValue='.*', sort=1):: {
    name: name,
    label: label,
    description: description,
    type: 'query',
    datasource: $.datasource,
    definition: query,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 },
    refresh: 2,
    regex: '',
    sort: sort,
    hide: 0,
    multi: multi,
    includeAll: includeAll,
    [if includeAll then 'allValue']: allValue,
    current: if includeAll then { selected: true, text: ['All'], value: ['$__all'] } else {},
    options: [],
  },

  // ---- dashboard links ----

  // A dropdown of every dashboard with the given tags, keeping the time range and the variables.
  dashboardsLink(title, tags):: {
    type: 'dashboards',
    title: title,
    tags: tags,
    asDropdown: true,
    includeVars: true,
    keepTime: true,
    targetBlank: false,
    icon: 'external link',
    tooltip: '',
    url: '',
  },

  // A link to one dashboard by its uid (/d/UID), keeping the time range and the variables.
  dashboardLink(title, uid, tooltip=''):: {
    type: 'link',
    title: title,
    url: '/d/' + uid,
    tooltip: tooltip,
    asDropdown: false,
    includeVars: true,
    keepTime: true,
    targetBlank: false,
    icon: 'dashboard',
    tags: [],
  },

  // ---- annotations ----

  // Events from a Prometheus query: an annotation at each step where expr has a series (expr filters with > 0).
  annotation(name, expr, titleFormat, textFormat, tagKeys='', color='red', step='1m'):: {
    name: name,
    datasource: $.datasource,
    enable: true,
    hide: false,
    iconColor: color,
    expr: expr,
    step: step,
    titleFormat: titleFormat,
    textFormat: textFormat,
    tagKeys: tagKeys,
    useValueForTime: false,
  },

  local builtinAnnotation = {
    builtIn: 1,
    datasource: { type: 'grafana', uid: '-- Grafana --' },
    enable: true,
    hide: true,
    iconColor: 'rgba(0, 211, 255, 1)',
    name: 'Annotations & Alerts',
    type: 'dashboard',
  },

  // ---- layout ----

  // Rows of panels to Grafana's flat list: each row a row panel (h 1) then its panels left to right, wrapping at
  // 24 columns; ids 1, 2, ... in that order.
  local layout(rows) =
    local placeRow(state, row) =
      local rowPanel = {
        type: 'row',
        title: row.title,
        collapsed: false,
        panels: [],
        gridPos: { x: 0, y: state.y, w: 24, h: 1 },
        id: state.id,
      };
      local placePanel(s, p) =
        local wrap = s.x + p.width > 24;
        local x = if wrap then 0 else s.x;
        local y = if wrap then s.y + s.lineHeight else s.y;
        {
          x: x + p.width,
          y: y,
          lineHeight: if wrap then p.height else std.max(s.lineHeight, p.height),
          id: s.id + 1,
          panels: s.panels + [p + { id: s.id, gridPos: { x: x, y: y, w: p.width, h: p.height } }],
        };
      local inner = std.foldl(placePanel, row.panels,
                              { x: 0, y: state.y + 1, lineHeight: 0, id: state.id + 1, panels: [] });
      {
        y: inner.y + inner.lineHeight,
        id: inner.id,
        panels: state.panels + [rowPanel] + inner.panels,
      };
    std.foldl(placeRow, rows, { y: 0, id: 1, panels: [] }).panels,

  // A dashboard. rows: [row(...)], variables: [...Variable(...)], links: [...Link(...)], annotations: extra
  // annotation queries (the built-in one of alerts and manual annotations comes first).
  dashboard(uid, title, description, tags, time, refresh, variables, rows, links=[], annotations=[]):: {
    uid: uid,
    title: title,
    description: description,
    tags: tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: { from: time, to: 'now' },
    refresh: refresh,
    timezone: '',
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    links: links,
    annotations: { list: [builtinAnnotation] + annotations },
    templating: { list: variables },
    panels: layout(rows),
  },
}
