#!/bin/bash
# Runs deploy/systemd/memsight.service for real, under systemd, with every sandboxing directive it has
# (DynamicUser, ambient capabilities, SystemCallFilter, IPAddressDeny, ProtectSystem, ...): boots a minimal
# Debian root in systemd-nspawn (PID 1 of this machine need not be systemd), starts the unit there with a
# deep-tier session on a leaking scenario program, scrapes /metrics from inside and checks what came out.
#
#   systemd_nspawn_test.sh MEMSIGHT_BIN UNIT_FILE SCENARIO_DIR CACHE_DIR CAPEFF [DROP_IN...]
#
# CAPEFF is the agent's expected effective capability mask as /proc/PID/status prints it; DROP_IN files (e.g.
# deploy/systemd/drop-ins/*.conf) go to /etc/systemd/system/memsight.service.d/ next to the test's own.
#
# CACHE_DIR keeps the Debian root made by mmdebstrap (~40 s once, from the apt mirror); each run boots a copy.
# Exit 77 (skip) only without root; MEMSIGHT_REQUIRE_BPF=1 turns that skip into a failure. A missing tool is a
# failure with the package to install (Debian: systemd-container, mmdebstrap).
set -euo pipefail

BIN=${1:?memsight binary} UNIT=${2:?unit file} SCENARIOS=${3:?scenario dir} CACHE=${4:?cache dir}
CAPEFF=${5:?expected CapEff}
shift 5
DROP_INS=("$@")

# shellcheck source=nspawn_lib.sh
. "$(dirname "$0")/nspawn_lib.sh"

nspawn_require
for f in "$BIN" "$UNIT" "$SCENARIOS/leaker" "${DROP_INS[@]}"; do [ -e "$f" ] || fail "missing $f"; done

# 1. The cached Debian root: systemd as init, curl to scrape.
nspawn_base_root "$CACHE"

# 2. A copy of it with the binary (and the shared libraries it needs that the root lacks), the unit under
#    test unchanged, a leaking program as a service, and a check service that scrapes and powers off.
nspawn_run_dir "$CACHE" run
nspawn_install "$BIN" /usr/local/bin/memsight "$SCENARIOS/leaker" /usr/local/bin/leaker
SYSD=$ROOT/etc/systemd/system
install -m 0644 "$UNIT" "$SYSD/memsight.service"
ln -sf /etc/systemd/system/memsight.service "$SYSD/multi-user.target.wants/memsight.service"

# The leaker: `go` then stdin stays open, so it leaks 1000 bytes per ms for the whole boot.
cat >"$SYSD/memsight-leaker.service" <<'EOF'
[Unit]
Description=leaking scenario program for the memsight unit test
Before=memsight.service
[Service]
ExecStart=/bin/sh -c '(echo go; exec sleep infinity) | /usr/local/bin/leaker 1000000 1000 2 >/run/leaker.out'
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/memsight-leaker.service "$SYSD/multi-user.target.wants/memsight-leaker.service"

# Only ExecStart= changes (a deep-tier session on the leaker, no overhead budget so that it stays on); the
# sandbox is the unit's own.
mkdir -p "$SYSD/memsight.service.d"
for d in "${DROP_INS[@]}"; do install -m 0644 "$d" "$SYSD/memsight.service.d/"; done
cat >"$SYSD/memsight.service.d/test-deep.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/bin/sh -c 'until grep -q "^ready" /run/leaker.out 2>/dev/null; do sleep 0.2; done; exec /usr/local/bin/memsight agent --interval 1s --deep-pid $$(cut -d" " -f2 /run/leaker.out) --deep-overhead-budget 0'
EOF

cat >"$ROOT/usr/local/bin/memsight-check" <<'EOF'
#!/bin/sh
# Waits for live heap bytes from the deep tier (they need the probes attached and a reading), then records what the tests
# on the host check, and powers the container off.
for i in $(seq 60); do
    if curl -sf http://127.0.0.1:9756/metrics >/results/metrics.txt &&
        grep -Eq '^memsight_heap_live_bytes\{.*\} [1-9]' /results/metrics.txt; then
        break
    fi
    sleep 1
done
systemctl show memsight -p ActiveState -p SubState -p NRestarts -p Result -p MainPID >/results/state.txt
pid=$(systemctl show memsight -p MainPID --value)
grep -E '^(Uid|CapEff|CapAmb|CapBnd|NoNewPrivs|Seccomp):' /proc/$pid/status >/results/status.txt || true
journalctl -u memsight -u memsight-leaker --no-pager -o short-monotonic >/results/journal.txt 2>&1 || true
journalctl -b --no-pager -o cat | grep -i firewall >/results/firewall.txt 2>&1 || true
systemctl --no-block poweroff
EOF
chmod 0755 "$ROOT/usr/local/bin/memsight-check"
cat >"$SYSD/memsight-check.service" <<'EOF'
[Unit]
After=memsight.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/memsight-check
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/memsight-check.service "$SYSD/multi-user.target.wants/memsight-check.service"

# 3. Boot. tracefs is bound from the host (mounted there first if needed, as the agent itself would);
#    --private-network keeps the container's 127.0.0.1:9756 apart from any agent running on this host.
if [ ! -d /sys/kernel/tracing/events ]; then
    mount -t tracefs tracefs /sys/kernel/tracing || fail "tracefs is not mounted and cannot be mounted"
fi
echo "booting the container (log: $RUN/nspawn.log)"
rc=0
timeout 110 systemd-nspawn --quiet --boot --directory="$ROOT" --register=no --keep-unit --private-network \
    --capability=all --system-call-filter='bpf perf_event_open' \
    --bind-ro=/sys/kernel/tracing --bind="$RESULTS:/results" >"$RUN/nspawn.log" 2>&1 </dev/null || rc=$?

show() {
    for f in state.txt status.txt firewall.txt journal.txt; do
        echo "--- $f"
        cat "$RESULTS/$f" 2>/dev/null || echo "(none)"
    done
    echo "--- nspawn (exit $rc)"
    tail -40 "$RUN/nspawn.log"
}
[ -s "$RESULTS/state.txt" ] || {
    show
    fail "the container did not run its check (nspawn exit $rc)"
}

# 4. What the unit must give.
errors=()
grep -qx 'ActiveState=active' "$RESULTS/state.txt" || errors+=("memsight.service is not active")
grep -qx 'NRestarts=0' "$RESULTS/state.txt" || errors+=("memsight.service restarted")
M=$RESULTS/metrics.txt
grep -q '^memsight_process_resident_bytes{' "$M" || errors+=("no memsight_process_resident_bytes series")
grep -q '^memsight_process_resident_bytes{.*comm="leaker"' "$M" || errors+=("the leaker has no RSS series")
grep -Eq '^memsight_events_total\{type="exec"\} [1-9]' "$M" || errors+=("no exec events (tracepoints not attached)")
grep -Eq '^memsight_deep_sessions [1-9]' "$M" || errors+=("no deep-tier session running")
# Call sites stay addresses here: nspawn gives the container its own pid namespace, BPF reports host pids,
# and the agent finds no /proc/<host pid> to symbolize with (the agent needs the host pid namespace,
# docs/deployment.md). Symbolization's privileges are measured on the host instead ("Privileges and why").
grep -Eq '^memsight_heap_live_bytes\{.*\} [1-9]' "$M" || errors+=("no live heap bytes (deep-tier probes not working)")
grep -Eq '^Uid:\s+0\s' "$RESULTS/status.txt" && errors+=("the agent runs as root (DynamicUser= not applied)")
grep -Eq '^Seccomp:\s+2' "$RESULTS/status.txt" || errors+=("no seccomp filter on the agent")
grep -Eq "^CapEff:\s+$CAPEFF\$" "$RESULTS/status.txt" || errors+=("the agent's CapEff is not $CAPEFF")
grep -Eq '^NoNewPrivs:\s+1' "$RESULTS/status.txt" || errors+=("NoNewPrivileges= not applied")
# systemd says so when it cannot enforce IPAddressDeny= (no cgroup BPF firewall, e.g. a pure cgroup v1 host).
[ -s "$RESULTS/firewall.txt" ] && errors+=("IPAddressDeny= not enforced: $(head -1 "$RESULTS/firewall.txt")")
if grep -Eiq 'operation not permitted|permission denied|missing capability' "$RESULTS/journal.txt"; then
    errors+=("permission errors in the agent's journal")
fi
if [ ${#errors[@]} -gt 0 ]; then
    show
    printf 'FAIL: %s\n' "${errors[@]}"
    exit 1
fi
ok=1
echo "ok: memsight.service ran sandboxed ($(tr '\n' ' ' <"$RESULTS/status.txt")); $(grep -c '^memsight_' "$M") series scraped"
