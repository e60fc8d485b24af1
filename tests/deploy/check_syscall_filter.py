#!/usr/bin/env python3
"""Checks that a systemd unit's SystemCallFilter= allows every system call the agent was measured to make.

    check_syscall_filter.py UNIT SYSCALL_LIST [DROP_IN...]

The sets (@system-service, ...) are expanded with `systemd-analyze syscall-filter` of the systemd that runs
the test, and the assignments are applied in order as systemd does: the first one decides allow-list or
deny-list mode, later `~` lines remove, later plain lines add, an empty assignment resets. In allow-list mode
@default is always allowed. Also fails when the unit has no SystemCallFilter= at all, and on a stated call
that the filter allows only because the list's mode is a deny list (the unit is meant to allow-list).
"""
import subprocess
import sys


def syscall_sets():
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True, capture_output=True, text=True).stdout
    sets, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = line.strip()
            sets[current] = []
        elif current and line.strip() and not line.strip().startswith("#"):
            sets[current].append(line.strip())
    return sets


def expand(items, sets, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for item in items:
        if item.startswith("@"):
            if item not in sets:
                raise SystemExit(f"FAIL: unknown system call set {item}")
            if item not in seen:
                seen.add(item)
                out |= expand(sets[item], sets, seen)
        else:
            out.add(item)
    return out


def filter_assignments(paths):
    values = []
    for path in paths:
        section = None
        with open(path, encoding="utf-8") as f:
            for raw in f:
                line = raw.strip()
                if not line or line[0] in "#;":
                    continue
                if line.startswith("["):
                    section = line
                elif section == "[Service]" and line.split("=", 1)[0].strip() == "SystemCallFilter":
                    values.append(line.split("=", 1)[1].strip())
    return values


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    unit, listfile, drop_ins = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(listfile, encoding="utf-8") as f:
        needed = {w for line in f if not line.lstrip().startswith("#") for w in line.split()}
    sets = syscall_sets()
    mode, allowed = None, set()
    assignments = filter_assignments([unit, *drop_ins])
    if not assignments:
        raise SystemExit(f"FAIL: {unit} has no SystemCallFilter=")
    for value in assignments:
        if not value:
            mode, allowed = None, set()
            continue
        deny = value.startswith("~")
        calls = expand(value.lstrip("~").split(), sets)
        if mode is None:
            mode = "deny" if deny else "allow"
            allowed = calls  # in deny mode: the denied calls (the unit is then rejected below)
        elif mode == "allow":
            allowed = allowed - calls if deny else allowed | calls
        else:
            allowed = allowed | calls if deny else allowed - calls
    if mode != "allow":
        raise SystemExit(f"FAIL: {unit}: SystemCallFilter= is a deny list; the unit is meant to allow-list")
    allowed |= expand(["@default"], sets)
    missing = sorted(needed - allowed)
    if missing:
        print(f"FAIL: {unit}: SystemCallFilter= blocks system calls the agent makes: {' '.join(missing)}")
        return 1
    print(f"ok: the {len(needed)} system calls in {listfile} are allowed ({len(allowed)} allowed in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
