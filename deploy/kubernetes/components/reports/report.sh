#!/bin/sh
# report.sh daily|weekly: one memsight report of the last 24h / 7d into /reports with a dated name, then removes
# this kind's reports older than MEMSIGHT_REPORT_KEEP_DAYS. Settings come from the memsight-report-settings ConfigMap.
set -eu
kind=${1:-}
case "$kind" in
daily) since=24h ;;
weekly) since=7d ;;
*) echo "report.sh: usage: report.sh daily|weekly" >&2; exit 2 ;;
esac
format=${MEMSIGHT_REPORT_FORMAT:-html}
out="/reports/memsight-$kind-$(date -u +%Y%m%dT%H%MZ).$format"
set -- --prometheus "$MEMSIGHT_PROMETHEUS" --since "$since" --format "$format" --output "$out"
if [ -n "${MEMSIGHT_REPORT_POST_URL:-}" ]; then
  set -- "$@" --post-url "$MEMSIGHT_REPORT_POST_URL" --post-format "${MEMSIGHT_REPORT_POST_FORMAT:-summary}"
fi
# MEMSIGHT_REPORT_ARGS is a list of flags: split on purpose.
memsight report "$@" ${MEMSIGHT_REPORT_ARGS:-}
find /reports -maxdepth 1 -type f -name "memsight-$kind-*" -mtime +"${MEMSIGHT_REPORT_KEEP_DAYS:-90}" -print -delete
