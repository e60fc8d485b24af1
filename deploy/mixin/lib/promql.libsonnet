// PromQL building blocks shared by the rules and the dashboards.
{
  // A number as PromQL and people write it: 10485760, 0.9 (not 0.90000000000000002).
  num(x):: if x == std.floor(x) then '%d' % x else '%g' % x,

  // Seconds as a Prometheus duration: 14400 -> 4h, 600 -> 10m, 90 -> 90s.
  duration(seconds)::
    if seconds % 3600 == 0 then '%dh' % (seconds / 3600)
    else if seconds % 60 == 0 then '%dm' % (seconds / 60)
    else '%ds' % seconds,

  // "a, b, c" for by()/on() clauses.
  by(labels):: std.join(', ', labels),

  // Increase of a counter over a window that also counts a series' first appearance: a memsight counter
  // appears at its first increment with the value 1 (or more), with no earlier sample for increase() to see,
  // so a series that did not exist one window ago counts with its current value, the others with increase().
  // Counter resets (an agent restart) are increase()'s usual business. Callers compare the result with > 0.
  increaseWithFirst(metric, window)::
    '(%(m)s unless %(m)s offset %(w)s)\n  or increase(%(m)s[%(w)s])' % { m: metric, w: window },
}
