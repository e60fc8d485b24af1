#!/usr/bin/env python3
"""Checks the Grafana dashboard against the metrics reference (stdlib only).

    check_dashboard.py DASHBOARD.json docs/metrics.md [--rules RULES.yml --runbooks docs/runbooks.md]
    check_dashboard.py DASHBOARD.json docs/metrics.md --self-test

Checks:
  * the dashboard is valid JSON, schemaVersion 39, with the datasource variable DS_PROMETHEUS and the template
    variables container_id and pod_uid, every panel and query using the datasource ${DS_PROMETHEUS}, unique ids;
  * every metric name starting with memsight_ or exposer_ in any `expr` (panels, annotations) or template
    variable query is a series of a family in the "All families" table of docs/metrics.md (histograms as
    _bucket/_sum/_count, summaries as the name, _sum, _count); recording-rule names (memsight:...) are
    rejected, so the dashboard works without the rules;
  * with --rules: the same for the metric names in the rules file; with --runbooks too: every runbook_url
    anchor exists as a heading of the runbooks file.
--self-test runs the checks on the given files and on broken copies made in memory (an unknown metric, a
histogram's bare name, a wrong datasource, invalid JSON) and fails unless the first passes and each copy fails.
Exit status 0 when everything holds, 1 otherwise; one line per problem.
"""
import argparse
import copy
import json
import re
import sys

FAMILY_ROW = re.compile(r"^\|\s*`((?:memsight|exposer)_[A-Za-z0-9_]+)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|")
METRIC_NAME = re.compile(r"(?<![A-Za-z0-9_:$])((?:memsight|exposer)_[A-Za-z0-9_]+|memsight:[A-Za-z0-9_:]+)")
STRING_LITERAL = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
DATASOURCE_UID = "${DS_PROMETHEUS}"


def documented_series(metrics_md_text):
    """Series names allowed by the 'All families' table of docs/metrics.md: {series name: family}."""
    allowed = {}
    for line in metrics_md_text.splitlines():
        m = FAMILY_ROW.match(line.strip())
        if not m:
            continue
        name, kind = m.groups()
        if kind == "histogram":
            suffixes = ("_bucket", "_sum", "_count")
        elif kind == "summary":
            suffixes = ("", "_sum", "_count")
        else:
            suffixes = ("",)
        for s in suffixes:
            allowed[name + s] = name
    return allowed


def metric_names(promql):
    """memsight_*/exposer_*/memsight:* names used in a PromQL expression, ignoring string literals."""
    return METRIC_NAME.findall(STRING_LITERAL.sub('""', promql))


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def queries(dashboard):
    """(where, PromQL) for every panel target, annotation and template-variable query."""
    for p in walk_panels(dashboard.get("panels")):
        for t in p.get("targets") or []:
            if "expr" in t:
                yield f'panel {p.get("id")} "{p.get("title", "")}" {t.get("refId", "")}', t["expr"]
    for a in (dashboard.get("annotations") or {}).get("list") or []:
        if "expr" in a:
            yield f'annotation "{a.get("name", "")}"', a["expr"]
    for v in (dashboard.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query", "")
        for text in {q or "", v.get("definition") or ""}:
            if text:
                yield f'variable "{v.get("name")}"', text


def check_dashboard(text, allowed):
    problems = []
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        return [f"dashboard is not valid JSON: {e}"]
    if not isinstance(d, dict):
        return ["dashboard JSON is not an object"]
    if d.get("schemaVersion") != 39:
        problems.append(f"schemaVersion is {d.get('schemaVersion')!r}, expected 39")
    variables = {v.get("name"): v for v in (d.get("templating") or {}).get("list") or []}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no datasource variable DS_PROMETHEUS of type prometheus")
    for name in ("container_id", "pod_uid"):
        if name not in variables:
            problems.append(f"no template variable {name}")

    ids = {}
    for p in walk_panels(d.get("panels")):
        pid = p.get("id")
        if pid in ids:
            problems.append(f'panel id {pid} used twice ("{ids[pid]}" and "{p.get("title")}")')
        ids[pid] = p.get("title")
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != DATASOURCE_UID:
            problems.append(f'panel {pid} "{p.get("title")}": datasource is not {DATASOURCE_UID}')
        if not p.get("targets"):
            problems.append(f'panel {pid} "{p.get("title")}": no queries')
        for t in p.get("targets") or []:
            if (t.get("datasource") or {}).get("uid") != DATASOURCE_UID:
                problems.append(f'panel {pid} "{p.get("title")}" {t.get("refId")}: datasource is not {DATASOURCE_UID}')
            if not (t.get("expr") or "").strip():
                problems.append(f'panel {pid} "{p.get("title")}" {t.get("refId")}: empty expr')

    n = 0
    for where, expr in queries(d):
        n += 1
        for name in metric_names(expr):
            if name.startswith("memsight:"):
                problems.append(f"{where}: uses the recording rule {name}; the dashboard must work without the rules")
            elif name not in allowed:
                problems.append(f"{where}: {name} is not a series of a family in docs/metrics.md")
    if n == 0:
        problems.append("dashboard has no queries")
    return problems


def github_anchor(heading):
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def check_rules(rules_text, allowed, runbooks_text=None):
    problems = []
    recorded = set(re.findall(r"^\s*-?\s*record:\s*([A-Za-z0-9_:]+)", rules_text, re.M))
    for lineno, line in enumerate(rules_text.splitlines(), 1):
        code = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        for name in metric_names(code):
            if name.startswith("memsight:"):
                if name not in recorded:
                    problems.append(f"rules line {lineno}: {name} is not recorded by any rule")
            elif name not in allowed:
                problems.append(f"rules line {lineno}: {name} is not a series of a family in docs/metrics.md")
    if runbooks_text is not None:
        anchors = {github_anchor(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*$", runbooks_text, re.M)}
        anchors |= set(re.findall(r'<a (?:id|name)="([^"]+)"', runbooks_text))
        urls = re.findall(r"runbook_url:\s*['\"]?([^'\"\s]+)", rules_text)
        if not urls:
            problems.append("rules: no runbook_url annotations")
        for url in urls:
            anchor = url.split("#", 1)[1] if "#" in url else ""
            if not anchor:
                problems.append(f"rules: runbook_url {url} has no #anchor")
            elif anchor not in anchors:
                problems.append(f"rules: runbook_url {url}: no heading with anchor #{anchor} in the runbooks")
    return problems


def self_test(dashboard_text, allowed):
    """The real dashboard passes; copies broken in memory fail."""
    failures = []
    base = check_dashboard(dashboard_text, allowed)
    if base:
        failures.append("the dashboard itself fails: " + "; ".join(base))
    d = json.loads(dashboard_text)

    def broken(mutate, what):
        c = copy.deepcopy(d)
        t = next(t for p in walk_panels(c["panels"]) for t in p.get("targets") or [] if "expr" in t)
        mutate(c, t)
        if not check_dashboard(json.dumps(c), allowed):
            failures.append(f"a dashboard with {what} passes")

    broken(lambda c, t: t.update(expr=t["expr"] + " + on() memsight_no_such_metric"), "an undocumented metric")
    broken(lambda c, t: t.update(expr="sum(rate(memsight_process_exit_peak_resident_bytes[5m]))"),
           "a histogram's bare name")
    broken(lambda c, t: t.update(expr="memsight:container_memory_working_set:ratio_limit"), "a recording rule")
    broken(lambda c, t: t.update(datasource={"type": "prometheus", "uid": "prom-1"}), "a hard-coded datasource")
    broken(lambda c, t: c["templating"].update(list=[v for v in c["templating"]["list"] if v.get("name") != "pod_uid"]),
           "the pod_uid variable removed")
    if not check_dashboard(dashboard_text[: len(dashboard_text) // 2], allowed):
        failures.append("truncated (invalid) JSON passes")
    # A metric name inside a string literal is a label value, not a metric: it must not be reported.
    if metric_names('label_replace(up, "x", "memsight_not_a_metric", "", "")'):
        failures.append("a name inside a string literal is taken for a metric")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dashboard")
    ap.add_argument("metrics_md")
    ap.add_argument("--rules")
    ap.add_argument("--runbooks")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()

    try:
        with open(args.metrics_md, encoding="utf-8") as f:
            allowed = documented_series(f.read())
        with open(args.dashboard, encoding="utf-8") as f:
            dashboard_text = f.read()
    except OSError as e:
        print(f"check_dashboard: {e}")
        return 1
    if not allowed:
        print(f"check_dashboard: no metric families found in the table of {args.metrics_md}")
        return 1

    if args.self_test:
        problems = self_test(dashboard_text, allowed)
    else:
        problems = check_dashboard(dashboard_text, allowed)
        if args.rules:
            with open(args.rules, encoding="utf-8") as f:
                rules_text = f.read()
            runbooks_text = None
            if args.runbooks:
                with open(args.runbooks, encoding="utf-8") as f:
                    runbooks_text = f.read()
            problems += check_rules(rules_text, allowed, runbooks_text)

    for p in problems:
        print(f"check_dashboard: {p}")
    if problems:
        return 1
    families = len(set(allowed.values()))
    print(f"check_dashboard: OK ({'self-test' if args.self_test else args.dashboard}; {families} documented families)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
