#!/bin/sh
# Static checks of deploy/systemd/memsight.service with systemd's own tools (no root, no running systemd):
#   check_systemd_unit.sh verify UNIT [DROP_IN...]
#       `systemd-analyze verify` of the unit, and of the unit with each drop-in; any warning fails (a misspelt
#       directive is only a warning to systemd, and would silently drop a protection)
#   check_systemd_unit.sh verify-set FILE...
#       `systemd-analyze verify` of a set of units that refer to each other (the scheduled reports: a template
#       service and its timers), copied together into one directory: every timer, every unit its Unit= names
#       (template instances such as memsight-report@daily.service included) and every other non-template file;
#       any warning fails
#   check_systemd_unit.sh score UNIT MAX [DROP_IN...]
#       `systemd-analyze security --offline=yes`: the exposure level (shown as 0.0-10.0, MAX in tenths, e.g. 24
#       for 2.4) must not exceed MAX, so a weakened sandbox fails
# ExecStart= runs /bin/sh, which exists everywhere, so verify needs no installed memsight binary.
set -eu
mode=$1 unit=$2
shift 2
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze not found (Debian: apt-get install systemd)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The unit with drop-ins appended: later assignments override earlier ones exactly as in a .d/ directory.
combined() {
    cat "$unit"
    for d in "$@"; do
        echo
        cat "$d"
    done
}

case $mode in
verify)
    status=0
    for d in "" "$@"; do
        if [ -n "$d" ]; then combined "$d" >"$tmp/memsight.service"; else combined >"$tmp/memsight.service"; fi
        out=$(cd "$tmp" && systemd-analyze verify --man=no memsight.service 2>&1) || status=1
        if [ -n "$out" ]; then
            echo "$out"
            status=1
        fi
        echo "verify ${d:-$unit}: $([ -z "$out" ] && echo ok || echo FAILED)"
    done
    exit $status
    ;;
verify-set)
    status=0
    for f in "$unit" "$@"; do cp "$f" "$tmp/"; done
    targets=""
    for f in "$tmp"/*; do
        case $f in
        *@.*) ;;                                   # a template: verified through the instances below
        *) targets="$targets $f" ;;
        esac
        case $f in
        *.timer) for u in $(sed -n 's/^Unit=//p' "$f"); do targets="$targets $tmp/$u"; done ;;
        esac
    done
    for t in $targets; do
        out=$(cd "$tmp" && systemd-analyze verify --man=no "$t" 2>&1) || status=1
        if [ -n "$out" ]; then
            echo "$out"
            status=1
        fi
        echo "verify $(basename "$t"): $([ -z "$out" ] && echo ok || echo FAILED)"
    done
    exit $status
    ;;
score)
    max=$1
    shift
    combined "$@" >"$tmp/memsight.service"
    report=$(systemd-analyze security --offline=yes "$tmp/memsight.service" 2>&1) || true
    echo "$report" | grep -F '✗' || true
    echo "$report" | tail -1
    if ! systemd-analyze security --offline=yes --threshold="$max" "$tmp/memsight.service" >/dev/null 2>&1; then
        echo "FAIL: exposure level above $max/10 (lower it, or raise the threshold with the reason in the commit)"
        exit 1
    fi
    echo "ok: exposure level at most $max/10"
    ;;
*)
    echo "usage: $0 verify|verify-set|score UNIT ..."
    exit 2
    ;;
esac
