#!/usr/bin/env python3
"""Scale and load benchmark of the always-on agent (issue 15): many idle processes, many containers, a fork/exit
storm and concurrent scrapers against the real `memsight agent` and real BPF. Python 3 standard library only;
needs root. See README.md ("Load benchmark") and results/load.md.

For each size N of --sizes, a fresh agent (so that its VmHWM belongs to that size):
  1. creates --containers memory cgroups named like docker's systemd-driver scopes
     (/memsight-load-PID/docker-<64 hex>.scope) and starts `idle_procs N DIR...`: N sleeping processes, the first
     M of them one in each cgroup;
  2. waits until a scan has seen them all (memsight_tracked_processes, memsight_tracked_containers);
  3. idle: the agent's CPU time (utime + stime, /proc/PID/stat) over --cpu-window seconds with no scrapes;
  4. scrapes --single-scrapes times one after the other, then --scrapers threads each --scrapes-each times at once
     (latency p50/p99/max of both; every concurrent scrape must be a 200 with a whole exposition);
  5. series: all series of one scrape, the processes with per-process series against the configured bound
     (processes.top_by_rss + processes.top_by_growth);
  6. storm: `fork_storm S` (S short processes, S + 1 exits with its own) and waits until every exit the kernel saw
     since before the storm is counted (memsight_process_exits_total) or counted lost
     (memsight_events_lost_total{reason=ringbuf_full|event_queue_full|malformed});
  7. VmRSS and VmHWM of the agent (/proc/PID/status) after the idle phase and at the end.
Prints a markdown table (one column per size); --check asserts the issue's targets (one line per miss, exit 1).
"""

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import memsight_e2e as e2e  # noqa: E402
from test_containers import FakeContainer  # noqa: E402

MiB = 1 << 20
TOP_BY_RSS = 20  # the prod defaults, written out so that the series bound is the config's
TOP_BY_GROWTH = 10
GROWTH_SITE_PROCESSES = 5  # growth_sites.processes (the default): processes whose growth sites are exported
# Exits that reached userspace and were dropped, or never reached it: the ring buffer was full (exec, exit and OOM
# records share it), the agent's event queue was full, or a record was malformed.
EXIT_LOSS_REASONS = ("ringbuf_full", "event_queue_full", "malformed")

# The targets (--check).
RSS_BUDGET = 64 * MiB  # VmRSS at <= 2,000 processes
SCRAPE_BUDGET_S = 0.250  # p99 of single scrapes at <= 2,000 processes
CPU_BUDGET = 0.01  # of one core, idle, at the default interval, at <= 2,000 processes (the issue says 1,000)
BUDGET_MAX_PROCESSES = 2000


def log(msg=""):
    print(msg, file=sys.stderr, flush=True)


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(rest.split()[0]) * (1024 if key != "Threads" else 1)
    return out


def cpu_seconds(pid):
    """utime + stime of the whole process (every thread), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main_thread_cpu_seconds(pid):
    """utime + stime of the agent's main thread: the scan thread (/proc scans, growth-site naming, deep sessions)."""
    with open(f"/proc/{pid}/task/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sanitized(pid):
    """True when the agent runs under ASan/UBSan/TSan (MEMSIGHT_SANITIZED=1, or a sanitizer runtime in its maps):
    its memory, CPU and latency say nothing about the product then."""
    if os.environ.get("MEMSIGHT_SANITIZED") == "1":
        return True
    with open(f"/proc/{pid}/maps") as f:
        return re.search(r"lib(asan|ubsan|tsan)\.so", f.read()) is not None


def percentile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def timed_scrape(url):
    """(seconds, body) of one GET; raises on anything but a whole 200 exposition."""
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=60) as r:
        body = r.read().decode()
        status = r.status
    dt = time.monotonic() - t0
    if status != 200 or "memsight_build_info" not in body:
        raise AssertionError(f"scrape: status {status}, {len(body)} bytes without memsight_build_info")
    return dt, body


def value(metrics, name, **labels):
    return sum(v for _, v in e2e.select(metrics, name, **labels))


def exit_counters(metrics):
    return {
        "counted": value(metrics, "memsight_process_exits_total"),
        "seen": value(metrics, "memsight_events_total", type="exit"),
        "lost": sum(value(metrics, "memsight_events_lost_total", reason=r) for r in EXIT_LOSS_REASONS),
    }


def container_id(tag, i):
    return hashlib.sha256(f"memsight-load-{tag}-{i}".encode()).hexdigest()


class Population:
    """`containers` memory cgroups and `idle_procs n DIR...` (one process in each cgroup); undone on exit."""

    def __init__(self, scenario_dir, n, containers, limit=256 * MiB):
        self.argv = [os.path.join(scenario_dir, "idle_procs"), str(n)]
        self.tag = f"{os.getpid()}-{n}"
        self.relpaths = [f"/memsight-load-{self.tag}/docker-{container_id(self.tag, i)}.scope"
                         for i in range(containers)]
        self.limit = limit
        self.stack = contextlib.ExitStack()

    def __enter__(self):
        try:
            boxes = [self.stack.enter_context(FakeContainer(p, self.limit)) for p in self.relpaths]
            t0 = time.monotonic()
            self.proc, self.pid = self.stack.enter_context(e2e.running(self.argv + [b.path for b in boxes]))
            self.spawn_seconds = time.monotonic() - t0
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self.stack.close()  # idle_procs kills and reaps its children, then the cgroups go
        return False


def wait_seen(agent, tracked, containers, timeout):
    """Waits until a scan saw `tracked` processes and `containers` containers, then for one more scan (whose
    duration is the full population's); returns the scrape."""
    deadline = time.monotonic() + timeout
    while True:
        m = agent.scrape()
        got_p = value(m, "memsight_tracked_processes")
        got_c = value(m, "memsight_tracked_containers")
        if got_p >= tracked and got_c >= containers:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s the agent tracks {got_p:.0f} processes (want >= {tracked}) "
                                 f"and {got_c:.0f} containers (want >= {containers})")
        time.sleep(0.5)
    first = value(m, "memsight_scan_duration_seconds")
    # The scan that found them may have started before the last ones existed: wait for the next one.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        m2 = agent.scrape()
        if value(m2, "memsight_scan_duration_seconds") != first:
            return m2
    return m


def concurrent_scrapes(url, threads, each):
    """`threads` threads, each scraping `each` times back to back, all released at once: (latencies, errors)."""
    latencies, errors = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker():
        barrier.wait()
        for _ in range(each):
            try:
                dt, _ = timed_scrape(url)
                with lock:
                    latencies.append(dt)
            except Exception as e:  # every failure is a result here, not a crash of the benchmark
                with lock:
                    errors.append(repr(e))

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return latencies, errors


def series_stats(body):
    metrics = e2e.parse_metrics(body)
    site_family = "memsight_process_growth_site_bytes"
    pids = {l["pid"] for n, l, _ in metrics if n.startswith("memsight_process_") and n != site_family and "pid" in l}
    return {
        "series": len(metrics),
        "process_series": sum(1 for n, l, _ in metrics if n.startswith("memsight_process_") and "pid" in l),
        "processes_with_series": len(pids),
        "processes_with_sites": len({l["pid"] for n, l, _ in metrics if n == site_family}),
        "exported_processes": value(metrics, "memsight_exported_processes"),
        "container_series": sum(1 for n, _, _ in metrics if n.startswith("memsight_container_")),
        "bytes": len(body),
    }


def storm(agent, scenario_dir, n, settle_timeout=30):
    """Runs `fork_storm n` and waits until every exit the kernel saw since before it is counted or counted lost."""
    before = exit_counters(agent.scrape())
    cpu0 = cpu_seconds(agent.proc.pid)
    out = subprocess.run([os.path.join(scenario_dir, "fork_storm"), str(n)], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise AssertionError(f"fork_storm {n}: status {out.returncode}: {out.stderr.strip()}")
    words = out.stdout.split()
    storm_seconds = float(words[2])
    exits = n + 1  # the children and fork_storm itself
    # The kernel's count just after the storm: the storm's exits are all in it (and whatever else exited).
    after_storm = exit_counters(agent.scrape())
    seen = after_storm["seen"] - before["seen"]
    deadline = time.monotonic() + settle_timeout
    t0 = time.monotonic()
    while True:
        now = exit_counters(agent.scrape())
        counted, lost = now["counted"] - before["counted"], now["lost"] - before["lost"]
        if counted + lost >= seen or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return {
        "storm_processes": n,
        "storm_exits": exits,
        "storm_seconds": storm_seconds,
        "storm_rate": n / storm_seconds if storm_seconds > 0 else float("inf"),
        "exits_seen": seen,
        "exits_counted": counted,
        "exits_lost": lost,
        "exits_caught_up_seconds": time.monotonic() - t0,
        "storm_agent_cpu_seconds": cpu_seconds(agent.proc.pid) - cpu0,
    }


def agent_config(extra=""):
    """The agent's config: the per-process series bound written out, and `extra` (YAML of other sections)."""
    return (f"processes:\n  top_by_rss: {TOP_BY_RSS}\n  top_by_growth: {TOP_BY_GROWTH}\n"
            f"growth_sites:\n  processes: {GROWTH_SITE_PROCESSES}\n" + extra)


def run_size(n, *, containers, storm_n, scrapers, scrapes_each=10, single_scrapes=30, cpu_window=40.0,
             interval="10s", scenario_dir=None, config_extra=""):
    """One size: a fresh agent, the population, the measurements. Returns a dict of results."""
    scenario_dir = scenario_dir or e2e.SCENARIOS
    r = {"processes": n, "containers": containers, "scrapers": scrapers, "interval": interval,
         "cpu_window_seconds": cpu_window}
    if config_extra:
        r["config_extra"] = config_extra
    with e2e.Agent(config_text=agent_config(config_extra), interval=interval) as agent:
        pid = agent.proc.pid
        r["sanitized"] = sanitized(pid)
        base = agent.scrape()
        r["rss_start"] = proc_status(pid)["VmRSS"]
        tracked0 = value(base, "memsight_tracked_processes")
        containers0 = value(base, "memsight_tracked_containers")
        with Population(scenario_dir, n, containers) as pop:
            r["spawn_seconds"] = pop.spawn_seconds
            log(f"  {n} idle processes and {containers} containers up in {pop.spawn_seconds:.1f} s; waiting for a scan")
            # Other processes may exit meanwhile: 95 % of the population is the bar, the containers all.
            m = wait_seen(agent, tracked0 + 0.95 * n, containers0 + containers, timeout=120)
            r["tracked_processes"] = value(m, "memsight_tracked_processes")
            r["tracked_containers"] = value(m, "memsight_tracked_containers")
            r["scan_seconds"] = value(m, "memsight_scan_duration_seconds")

            log(f"  idle for {cpu_window:.0f} s (agent CPU)")
            l0 = os.getloadavg()[0]
            c0, s0, t0 = cpu_seconds(pid), main_thread_cpu_seconds(pid), time.monotonic()
            time.sleep(cpu_window)
            c1, s1, t1 = cpu_seconds(pid), main_thread_cpu_seconds(pid), time.monotonic()
            r["idle_cpu_seconds"] = c1 - c0
            r["idle_cpu_share"] = (c1 - c0) / (t1 - t0)
            r["idle_scan_thread_share"] = (s1 - s0) / (t1 - t0)
            r["loadavg"] = (l0 + os.getloadavg()[0]) / 2

            lat = []
            body = ""
            for _ in range(single_scrapes):
                dt, body = timed_scrape(agent.url)
                lat.append(dt)
            r["scrape_p50"], r["scrape_p99"], r["scrape_max"] = percentile(lat, .5), percentile(lat, .99), max(lat)
            metrics = e2e.parse_metrics(body)
            r["scrape_duration_internal"] = value(metrics, "memsight_scrape_duration_seconds")
            r["scan_seconds_late"] = value(metrics, "memsight_scan_duration_seconds")
            r.update(series_stats(body))

            log(f"  {scrapers} concurrent scrapers x {scrapes_each}")
            clat, errors = concurrent_scrapes(agent.url, scrapers, scrapes_each)
            r["concurrent_scrapes"] = len(clat) + len(errors)
            r["concurrent_errors"] = errors
            r["concurrent_p50"], r["concurrent_p99"] = percentile(clat, .5), percentile(clat, .99)
            r["concurrent_max"] = max(clat) if clat else float("nan")
            st = proc_status(pid)
            r["rss_idle"], r["hwm_idle"], r["threads"] = st["VmRSS"], st["VmHWM"], st["Threads"]
            r["rss_anon_idle"], r["rss_file_idle"] = st["RssAnon"], st["RssFile"]

            if storm_n:
                log(f"  fork/exit storm of {storm_n}")
                r.update(storm(agent, scenario_dir, storm_n))
            st = proc_status(pid)
            r["rss_end"], r["hwm_end"] = st["VmRSS"], st["VmHWM"]
            r["rss_anon_end"], r["rss_file_end"] = st["RssAnon"], st["RssFile"]
        agent.proc.poll()
        if agent.proc.returncode is not None:
            raise AssertionError(f"the agent exited with {agent.proc.returncode} during the run")
    return r


def checks(r, budgets=True, rss_budget=RSS_BUDGET):
    """The issue's targets for one size's results: a list of (ok, line)."""
    n = r["processes"]
    out = []
    bound = TOP_BY_RSS + TOP_BY_GROWTH
    out.append((r["processes_with_series"] <= bound and r["exported_processes"] <= bound,
                f"{n} processes: per-process series for {r['processes_with_series']} processes "
                f"(memsight_exported_processes {r['exported_processes']:.0f}), bound top_by_rss + top_by_growth = {bound}"))
    out.append((r["processes_with_sites"] <= GROWTH_SITE_PROCESSES,
                f"{n} processes: growth-site series for {r['processes_with_sites']} processes, bound "
                f"growth_sites.processes = {GROWTH_SITE_PROCESSES}"))
    out.append((not r["concurrent_errors"],
                f"{n} processes: {r['concurrent_scrapes'] - len(r['concurrent_errors'])} of {r['concurrent_scrapes']} "
                f"concurrent scrapes succeeded" + (f" ({r['concurrent_errors'][0]})" if r["concurrent_errors"] else "")))
    if "storm_exits" in r:
        accounted = r["exits_counted"] + r["exits_lost"]
        out.append((r["exits_seen"] >= r["storm_exits"],
                    f"{n} processes: the kernel saw {r['exits_seen']:.0f} exits during a storm of {r['storm_exits']}"))
        out.append((accounted >= r["exits_seen"] and accounted >= r["storm_exits"],
                    f"{n} processes: storm of {r['storm_exits']} exits, {r['exits_seen']:.0f} seen by the kernel: "
                    f"{r['exits_counted']:.0f} counted + {r['exits_lost']:.0f} counted lost"))
    if budgets and not r["sanitized"] and n <= BUDGET_MAX_PROCESSES:
        out.append((r["rss_idle"] <= rss_budget and r["rss_end"] <= rss_budget,
                    f"{n} processes: agent VmRSS {r['rss_idle'] / MiB:.1f} MiB idle, {r['rss_end'] / MiB:.1f} MiB after "
                    f"the storm (budget {rss_budget / MiB:.0f} MiB)"))
        out.append((r["scrape_p99"] <= SCRAPE_BUDGET_S,
                    f"{n} processes: scrape p99 {r['scrape_p99'] * 1000:.1f} ms (budget {SCRAPE_BUDGET_S * 1000:.0f} ms)"))
        out.append((r["idle_cpu_share"] <= CPU_BUDGET,
                    f"{n} processes: idle agent CPU {r['idle_cpu_share'] * 100:.2f} % of a core at interval "
                    f"{r['interval']} (budget {CPU_BUDGET * 100:.0f} %)"))
    return out


ROWS = [
    ("processes tracked", lambda r: f"{r['tracked_processes']:.0f}"),
    ("containers tracked", lambda r: f"{r['tracked_containers']:.0f}"),
    ("agent VmRSS at start (MiB)", lambda r: f"{r['rss_start'] / MiB:.1f}"),
    ("agent VmRSS idle (MiB)", lambda r: f"{r['rss_idle'] / MiB:.1f}"),
    ("agent VmRSS after storm (MiB)", lambda r: f"{r['rss_end'] / MiB:.1f}" if "rss_end" in r else "-"),
    ("agent VmHWM (MiB)", lambda r: f"{r['hwm_end'] / MiB:.1f}"),
    ("RssAnon / RssFile idle (MiB)", lambda r: f"{r['rss_anon_idle'] / MiB:.1f} / {r['rss_file_idle'] / MiB:.1f}"),
    ("RssAnon / RssFile after storm (MiB)", lambda r: f"{r['rss_anon_end'] / MiB:.1f} / {r['rss_file_end'] / MiB:.1f}"),
    ("idle CPU, % of a core (scan thread)",
     lambda r: f"{r['idle_cpu_share'] * 100:.2f} ({r['idle_scan_thread_share'] * 100:.2f})"),
    ("host load average during idle", lambda r: f"{r['loadavg']:.1f}"),
    ("scan duration (ms)", lambda r: f"{r['scan_seconds'] * 1000:.1f} / {r['scan_seconds_late'] * 1000:.1f}"),
    ("scrape p50 / p99 / max (ms)",
     lambda r: f"{r['scrape_p50'] * 1000:.1f} / {r['scrape_p99'] * 1000:.1f} / {r['scrape_max'] * 1000:.1f}"),
    ("scrape, agent's own (ms)", lambda r: f"{r['scrape_duration_internal'] * 1000:.1f}"),
    ("concurrent scrapes p50 / p99 / max (ms)",
     lambda r: f"{r['concurrent_p50'] * 1000:.1f} / {r['concurrent_p99'] * 1000:.1f} / {r['concurrent_max'] * 1000:.1f}"),
    ("concurrent scrapes ok", lambda r: f"{r['concurrent_scrapes'] - len(r['concurrent_errors'])}/{r['concurrent_scrapes']}"),
    ("series in a scrape", lambda r: f"{r['series']}"),
    ("processes with series (bound)", lambda r: f"{r['processes_with_series']} ({TOP_BY_RSS + TOP_BY_GROWTH})"),
    ("processes with growth-site series (bound)",
     lambda r: f"{r['processes_with_sites']} ({GROWTH_SITE_PROCESSES})"),
    ("container series", lambda r: f"{r['container_series']}"),
    ("exposition size (KiB)", lambda r: f"{r['bytes'] / 1024:.0f}"),
    ("storm: exits / seconds", lambda r: f"{r['storm_exits']} / {r['storm_seconds']:.1f}" if "storm_exits" in r else "-"),
    ("storm: seen / counted / lost",
     lambda r: f"{r['exits_seen']:.0f} / {r['exits_counted']:.0f} / {r['exits_lost']:.0f}" if "storm_exits" in r else "-"),
    ("storm: agent CPU (s)", lambda r: f"{r['storm_agent_cpu_seconds']:.2f}" if "storm_exits" in r else "-"),
    ("agent threads", lambda r: f"{r['threads']}"),
]


def markdown(results):
    lines = ["| | " + " | ".join(f"{r['processes']} processes" for r in results) + " |",
             "|---|" + "---|" * len(results)]
    for name, f in ROWS:
        lines.append(f"| {name} | " + " | ".join(f(r) for r in results) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memsight", default=os.path.join(REPO, "build", "userspace", "memsight"))
    ap.add_argument("--scenario-dir", default=None,
                    help="folder of idle_procs and fork_storm (default: tests/scenarios next to --memsight's build)")
    ap.add_argument("--sizes", default="1000,2000,10000", help="idle processes per run, comma-separated")
    ap.add_argument("--containers", type=int, default=200)
    ap.add_argument("--storm", type=int, default=20000, help="short processes of the fork/exit storm (0: none)")
    ap.add_argument("--scrapers", type=int, default=10)
    ap.add_argument("--scrapes-each", type=int, default=10)
    ap.add_argument("--cpu-window", type=float, default=40.0, help="seconds of idle CPU measurement (>= 30)")
    ap.add_argument("--interval", default="10s", help="the agent's scan interval (default: the default, 10s)")
    ap.add_argument("--config-extra", default="",
                    help="YAML of other sections added to the agent's config (not `processes:`), e.g. "
                         "$'kernel:\\n  page_faults:\\n    enabled: false\\n'")
    ap.add_argument("--check", action="store_true", help="assert the issue's targets; exit 1 on a miss")
    ap.add_argument("--rss-budget-mib", type=float, default=RSS_BUDGET / MiB,
                    help="VmRSS budget of --check (default: the issue's 64 MiB)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("load.py: needs root (the agent loads BPF programs, the containers are memory cgroups)")
    e2e.MEMSIGHT = os.path.abspath(args.memsight)
    build = os.path.dirname(os.path.dirname(e2e.MEMSIGHT))
    scenario_dir = args.scenario_dir or os.path.join(build, "tests", "scenarios")
    for prog in ("idle_procs", "fork_storm"):
        if not os.access(os.path.join(scenario_dir, prog), os.X_OK):
            sys.exit(f"load.py: {scenario_dir}/{prog} is missing (build the target memsight_scenario_{prog})")
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.time()
    results = []
    for n in sizes:
        log(f"size {n}: agent {e2e.MEMSIGHT}")
        results.append(run_size(n, containers=args.containers, storm_n=args.storm, scrapers=args.scrapers,
                                scrapes_each=args.scrapes_each, cpu_window=args.cpu_window, interval=args.interval,
                                scenario_dir=scenario_dir, config_extra=args.config_extra))
    print(f"memsight load benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
          f"kernel {platform.release()}, {args.containers} containers, storm {args.storm}, {args.scrapers} scrapers, "
          f"interval {args.interval}, {time.time() - started:.0f} s"
          + (f", config extra {args.config_extra!r}" if args.config_extra else "") + "\n")
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": sys.argv, "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(),
                       "kernel": platform.release(), "results": results}, f, indent=1)
    if args.check:
        failed = 0
        print()
        for r in results:
            for ok, line in checks(r, rss_budget=args.rss_budget_mib * MiB):
                print(("ok   " if ok else "MISS ") + line)
                failed += not ok
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
