// memsight / process: one exported process (pid) on one node. Resident memory by kind, swap, peak, page faults,
// growth, leak suspicion, its growth sites, and the heap sites of a deep-tier session while one watches it.
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'memsight-process.json':
      local c = $._config;
      local s = common(c);
      local p = s.p;  // selector of the process
      local pby = s.by(s.processLabels);
      local sby = s.by(s.processLabels + ['site']);

      s.dashboard(
        'process', 'process',
        'One process: resident memory by kind, swap, peak, page faults, growth, leak suspicion, growth sites and deep-tier heap sites (docs/dashboards.md).',
        s.processVariables,
        [
          g.row('Process', [
            g.stat('Resident', [g.instant('sum by (%s) (%s)' % [pby, p('memsight_process_resident_bytes')], '{{comm}}')], 'bytes',
                   'RSS (anon + file + shmem). Its link opens the container of the process.',
                   links=[s.toContainer('series') + { title: 'Container dashboard of the process' }]),
            g.stat('Swap', [g.instant('sum(%s)' % p('memsight_process_swap_bytes'))], 'bytes', 'Swapped-out memory (VmSwap).'),
            g.stat('Peak resident', [g.instant('max(%s)' % p('memsight_process_peak_resident_bytes'))], 'bytes',
                   'High-water RSS since the process started (VmHWM).'),
            g.stat('Growth', [g.instant('max(%s)' % p('memsight_process_growth_bytes_per_second'))], 'binBps',
                   'Trend (Theil-Sen slope) of RSS plus swap over the growth window.'),
            g.stat('Leak suspicion', [g.instant('max(%s)' % p('memsight_process_leak_suspicion'))], 'short',
                   '0..1: how much the trend looks like a leak (docs/leak-detection.md).', decimals=2,
                   thresholds=[[null, 'green'], [c.leakSuspicion.warning, 'orange'], [c.leakSuspicion.critical, 'red']]),
            g.stat('Page faults', [g.instant('sum(rate(%s[$__rate_interval]))' % p('memsight_process_page_faults_total'))], 'ops',
                   'Minor plus major page faults per second.'),
          ]),
          g.row('Memory', [
            g.timeseries('Resident memory by kind', [g.query(p('memsight_process_resident_bytes'), '{{kind}} {{comm}} ({{pid}})')],
                         'bytes', 'anon (heap, stacks, private mappings), file (mapped page cache), shmem; they add up to VmRSS.',
                         stack=true),
            g.timeseries('Swap and peak', [
              g.query(p('memsight_process_swap_bytes'), 'swap {{comm}} ({{pid}})'),
              g.query(p('memsight_process_peak_resident_bytes'), 'peak resident {{comm}} ({{pid}})'),
            ], 'bytes', 'Swapped-out memory, and the high-water RSS since the process started.'),
            g.timeseries('Page faults', [
              g.query('rate(%s[$__rate_interval])' % p('memsight_process_page_faults_total'), '{{kind}} {{comm}} ({{pid}})'),
            ], 'ops', 'Minor faults (first touch of new memory, page-cache hits) and major faults (waiting for I/O) per second.',
            width=8),
            g.timeseries('Growth', [g.query(p('memsight_process_growth_bytes_per_second'), '{{comm}} ({{pid}})')], 'binBps',
                         'Trend of RSS plus swap over the growth window; negative when it shrinks.', width=8),
            g.timeseries('Leak suspicion', [g.query(p('memsight_process_leak_suspicion'), '{{comm}} ({{pid}})')], 'short',
                         '0 for flat, shrinking, plateauing, cyclic or too-young series.', width=8, min=0, max=1,
                         links=[s.toLeaks('series')]),
          ]),
          g.row('Growth sites (always-on tier)', [
            g.timeseries('Growth sites', [g.query(p('memsight_process_growth_site_bytes'), '{{site}}')], 'bytes',
                         'Bytes faulted in at each call site over the growth window, from sampled page faults (no uprobes); exported for the processes that grow most or are suspected.'),
            g.table('Growth sites now', [g.instant('max by (%s) (%s)' % [sby, p('memsight_process_growth_site_bytes')])],
                    [['Bytes faulted in (growth window)', 'bytes']],
                    'The code that faults in the process\'s new memory, largest first.', width=12,
                    sortBy='Bytes faulted in (growth window)', hidden=['job', '__name__', 'cluster', 'instance']),
          ]),
          g.row('Heap sites (deep tier)', [
            g.table('Heap sites of a deep session', [
              g.instant('max by (%s) (%s)' % [sby, p('memsight_heap_live_bytes')]),
              g.instant('max by (%s) (%s)' % [sby, p('memsight_heap_live_objects')]),
              g.instant('max by (%s) (%s)' % [sby, p('memsight_heap_allocated_bytes_total')]),
              g.instant('max by (%s) (%s)' % [sby, p('memsight_heap_freed_bytes_total')]),
              g.instant('max by (%s) (%s)' % [sby, p('memsight_heap_site_growing')]),
            ], [['Live bytes', 'bytes'], ['Live objects', 'short'], ['Allocated since start', 'bytes'],
                ['Freed since start', 'bytes'], ['Growing', 'short']],
            'Allocation call sites while a deep-tier session (memsight agent --deep-pid, or an escalation) watches the process; empty otherwise. Growing: 1 while the live bytes keep rising.',
            width=12, sortBy='Live bytes', hidden=['job', '__name__', 'cluster', 'instance']),
            g.timeseries('Live heap bytes by site', [g.query(p('memsight_heap_live_bytes'), '{{site}}')], 'bytes',
                         'Bytes allocated at each site and not freed yet (deep-tier session only).', width=12),
          ]),
        ],
        links=[s.leaksLink],
        annotations=[s.oomAnnotation()],
      ),
  },
}
