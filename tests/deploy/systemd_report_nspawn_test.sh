#!/bin/bash
# Runs the scheduled report units for real, under systemd: boots the cached Debian root of systemd_nspawn_test.sh in
# systemd-nspawn with the agent's unit (deploy/systemd/memsight.service, unchanged), a Prometheus scraping it (the
# host's /usr/bin/prometheus, a Go binary that needs only libc) and memsight-report@.service with its timers, then
# starts memsight-report@daily.service as the timer would and checks: the unit succeeded under a dynamic non-root
# user, the report is in /var/lib/memsight-reports with its dated name, an old report was removed (retention), and
# the report still runs after the agent's unit restarted (both are DynamicUser units with their own state directory).
#
#   systemd_report_nspawn_test.sh MEMSIGHT_BIN UNITS_DIR CACHE_DIR PROMETHEUS_BIN
#
# Exit 77 (skip) only without root; MEMSIGHT_REQUIRE_BPF=1 turns that skip into a failure.
set -euo pipefail

BIN=${1:?memsight binary} UNITS=${2:?deploy/systemd} CACHE=${3:?cache dir} PROMETHEUS=${4:?prometheus binary}

# shellcheck source=nspawn_lib.sh
. "$(dirname "$0")/nspawn_lib.sh"

nspawn_require
for f in "$BIN" "$PROMETHEUS" "$UNITS/memsight.service" "$UNITS/memsight-report@.service" \
    "$UNITS/memsight-report-daily.timer" "$UNITS/memsight-report-weekly.timer"; do
    [ -e "$f" ] || fail "missing $f"
done

nspawn_base_root "$CACHE"
nspawn_run_dir "$CACHE" report-run
# prometheus is a Go binary that needs only libc; memsight's libraries are copied.
nspawn_install "$BIN" /usr/local/bin/memsight "$PROMETHEUS" /usr/local/bin/prometheus
SYSD=$ROOT/etc/systemd/system
install -m 0644 "$UNITS/memsight.service" "$UNITS/memsight-report@.service" "$UNITS/memsight-report-daily.timer" \
    "$UNITS/memsight-report-weekly.timer" "$SYSD/"
ln -sf /etc/systemd/system/memsight.service "$SYSD/multi-user.target.wants/memsight.service"
mkdir -p "$SYSD/timers.target.wants"
ln -sf /etc/systemd/system/memsight-report-daily.timer "$SYSD/timers.target.wants/"
ln -sf /etc/systemd/system/memsight-report-weekly.timer "$SYSD/timers.target.wants/"
# The settings file as an operator writes it: this container's Prometheus and agent, a short period.
mkdir -p "$ROOT/etc/memsight"
cat >"$ROOT/etc/memsight/report.env" <<'EOF'
MEMSIGHT_PROMETHEUS=http://127.0.0.1:9090
MEMSIGHT_REPORT_AGENT=http://127.0.0.1:9756
MEMSIGHT_REPORT_KEEP_DAYS=30
EOF

cat >"$ROOT/etc/prometheus-test.yml" <<'EOF'
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: memsight
    static_configs:
      - targets: ['127.0.0.1:9756']
EOF
cat >"$SYSD/prometheus-test.service" <<'EOF'
[Unit]
After=memsight.service
[Service]
ExecStart=/usr/local/bin/prometheus --config.file=/etc/prometheus-test.yml --storage.tsdb.path=/var/lib/prometheus-test --web.listen-address=127.0.0.1:9090
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/prometheus-test.service "$SYSD/multi-user.target.wants/prometheus-test.service"

cat >"$ROOT/usr/local/bin/report-check" <<'EOF'
#!/bin/sh
# Waits for Prometheus to hold the agent's series, runs the daily report twice (an old report planted between the two
# runs, the agent's unit restarted between them), records what the host checks, and powers the container off.
q='http://127.0.0.1:9090/api/v1/query?query=memsight_build_info'
for i in $(seq 60); do
    curl -sf "$q" | grep -q '"version"' && { sleep 2; break; }
    sleep 1
done
systemctl list-timers --all --no-pager >/results/timers.txt 2>&1
systemctl start memsight-report@daily.service
systemctl show memsight-report@daily.service -p Result -p ExecMainStatus >/results/first.txt
ls -l /var/lib/memsight-reports/ >/results/first-ls.txt 2>&1
touch -d '100 days ago' /var/lib/memsight-reports/memsight-daily-20200101T0005Z.html
touch -d '100 days ago' /var/lib/memsight-reports/memsight-weekly-20200101T0015Z.html
systemctl restart memsight.service
sleep 3
systemctl start memsight-report@daily.service
systemctl show memsight-report@daily.service -p Result -p ExecMainStatus >/results/second.txt
ls -ln /var/lib/memsight-reports/ >/results/second-ls.txt 2>&1
stat -c '%U %a %n' /var/lib/memsight /var/lib/memsight-reports /var/lib/private/memsight-reports >/results/stat.txt 2>&1
f=$(ls /var/lib/memsight-reports/memsight-daily-2*.html 2>/dev/null | grep -v 20200101 | head -1)
[ -n "$f" ] && cp "$f" /results/report.html
journalctl -u 'memsight-report@*' --no-pager -o cat >/results/journal.txt 2>&1
systemctl start memsight-report@monthly.service 2>/dev/null
systemctl show memsight-report@monthly.service -p Result -p ExecMainStatus >/results/monthly.txt
journalctl -u memsight-report@monthly.service --no-pager -o cat >/results/monthly-journal.txt 2>&1
systemctl --no-block poweroff
EOF
chmod 0755 "$ROOT/usr/local/bin/report-check"
cat >"$SYSD/report-check.service" <<'EOF'
[Unit]
After=memsight.service prometheus-test.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/report-check
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/report-check.service "$SYSD/multi-user.target.wants/report-check.service"

if [ ! -d /sys/kernel/tracing/events ]; then
    mount -t tracefs tracefs /sys/kernel/tracing || fail "tracefs is not mounted and cannot be mounted"
fi
echo "booting the container (log: $RUN/nspawn.log)"
rc=0
timeout 150 systemd-nspawn --quiet --boot --directory="$ROOT" --register=no --keep-unit --private-network \
    --capability=all --system-call-filter='bpf perf_event_open' \
    --bind-ro=/sys/kernel/tracing --bind="$RESULTS:/results" >"$RUN/nspawn.log" 2>&1 </dev/null || rc=$?

show() {
    for f in timers.txt first.txt first-ls.txt second.txt second-ls.txt stat.txt monthly.txt journal.txt \
        monthly-journal.txt; do
        echo "--- $f"
        cat "$RESULTS/$f" 2>/dev/null || echo "(none)"
    done
    echo "--- nspawn (exit $rc)"
    tail -30 "$RUN/nspawn.log"
}
[ -s "$RESULTS/second.txt" ] || {
    show
    fail "the container did not run its check (nspawn exit $rc)"
}

errors=()
grep -qx 'Result=success' "$RESULTS/first.txt" || errors+=("the first report run failed")
grep -qx 'Result=success' "$RESULTS/second.txt" || errors+=("the report failed after the agent's unit restarted")
grep -q 'memsight-report-daily.timer' "$RESULTS/timers.txt" || errors+=("the daily timer is not loaded")
grep -q 'memsight-report-weekly.timer' "$RESULTS/timers.txt" || errors+=("the weekly timer is not loaded")
grep -Eq 'memsight-daily-2[0-9]{7}T[0-9]{4}Z\.html' "$RESULTS/first-ls.txt" || errors+=("no dated daily report")
if grep -q 'memsight-daily-20200101' "$RESULTS/second-ls.txt"; then errors+=("retention kept a 100-day-old report"); fi
grep -q 'memsight-weekly-20200101' "$RESULTS/second-ls.txt" || errors+=("the daily run removed a weekly report")
# The report ran as the unit's dynamic user, not root (uid column of ls -ln).
awk '/memsight-daily-2/ && !/20200101/ && $3 == 0 {bad=1} END {exit bad}' "$RESULTS/second-ls.txt" || errors+=("the report was written by root")
[ -s "$RESULTS/report.html" ] || errors+=("no report file to read")
grep -q 'memsight_build_info\|Fleet' "$RESULTS/report.html" 2>/dev/null || errors+=("the report has no Fleet section")
grep -qx 'Result=exit-code' "$RESULTS/monthly.txt" || errors+=("an unknown instance (monthly) did not fail")
grep -q 'the instance must be daily or weekly' "$RESULTS/monthly-journal.txt" || errors+=("no message for the unknown instance")
if [ ${#errors[@]} -gt 0 ]; then
    show
    printf 'FAIL: %s\n' "${errors[@]}"
    exit 1
fi
ok=1
echo "ok: memsight-report@daily ran twice under systemd (around an agent restart); $(grep -c 'memsight-' "$RESULTS/second-ls.txt") files in /var/lib/memsight-reports, the 100-day-old daily report removed, the weekly one kept"
cat "$RESULTS/stat.txt"
