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
  // Counter resets (an agent restart) are increase()'s usual business. Parenthesized, so that a comparison
  // after it (> 0) filters both halves: a counter exported at 0 from the start is not a first event.
  increaseWithFirst(metric, window)::
    '(\n  (%(m)s unless %(m)s offset %(w)s)\n  or increase(%(m)s[%(w)s])\n)' % { m: metric, w: window },

  // Bytes per second as a person reads a threshold: 10485760 -> "10 MiB/s".
  bytesPerSecond(x)::
    if x % (1024 * 1024) == 0 then '%d MiB/s' % (x / 1024 / 1024)
    else if x % 1024 == 0 then '%d KiB/s' % (x / 1024)
    else '%d B/s' % x,
}
