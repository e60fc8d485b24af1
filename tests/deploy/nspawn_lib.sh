# shellcheck shell=bash
# What the systemd-nspawn tests share (sourced by systemd_nspawn_test.sh and systemd_report_nspawn_test.sh): skip
# and fail, the checks for root and systemd-nspawn, the cached Debian root, a run directory with a copy of it, and
# installing binaries into that copy with the shared libraries the root lacks.

skip() {
    if [ "${MEMSIGHT_REQUIRE_BPF:-0}" = 1 ]; then
        echo "FAIL: would skip under MEMSIGHT_REQUIRE_BPF=1: $*"
        exit 1
    fi
    echo "SKIP: $*"
    exit 77
}
fail() {
    echo "FAIL: $*"
    exit 1
}

nspawn_require() {
    [ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn boots a container; the agent loads BPF programs)"
    command -v systemd-nspawn >/dev/null ||
        fail "systemd-nspawn not installed (Debian: apt-get install systemd-container)"
}

# nspawn_base_root CACHE_DIR: sets BASE to the cached Debian root (systemd as init, curl to scrape), made by
# mmdebstrap the first time (~40 s, from the apt mirror).
nspawn_base_root() {
    BASE=$1/bookworm-systemd
    if [ ! -e "$BASE/.complete" ]; then
        command -v mmdebstrap >/dev/null || fail "mmdebstrap not installed (Debian: apt-get install mmdebstrap)"
        rm -rf "$BASE" "$BASE.tmp"
        mkdir -p "$1"
        echo "making the Debian root in $BASE (once)"
        mmdebstrap --quiet --variant=apt --include=systemd,systemd-sysv,curl bookworm "$BASE.tmp" ||
            fail "mmdebstrap could not make a bookworm root (is the apt mirror reachable?)"
        touch "$BASE.tmp/.complete"
        mv "$BASE.tmp" "$BASE"
    fi
}

# nspawn_run_dir CACHE_DIR NAME: sets RUN (a new directory NAME.XXXXXX), ROOT (a copy of BASE in it) and RESULTS
# (bound into the container as /results). The directory is kept on failure for a look and removed when the caller
# set ok=1.
nspawn_run_dir() {
    RUN=$(mktemp -d "$1/$2.XXXXXX")
    # shellcheck disable=SC2154 # ok is the caller's
    trap 'if [ "${ok:-0}" = 1 ]; then rm -rf "$RUN"; else echo "kept: $RUN"; fi' EXIT
    ROOT=$RUN/root
    RESULTS=$RUN/results
    mkdir -p "$RESULTS"
    cp -a "$BASE" "$ROOT"
}

# nspawn_install SRC DEST [SRC DEST...]: installs executables into ROOT (DEST is a path inside it) and every shared
# library they load that the root does not have.
nspawn_install() {
    local srcs=()
    while [ $# -gt 0 ]; do
        install -m 0755 "$1" "$ROOT$2"
        srcs+=("$1")
        shift 2
    done
    local lib real
    for lib in $(ldd "${srcs[@]}" | awk '$3 ~ /^\// {print $3}' | sort -u); do
        real=$(readlink -f "$lib")
        [ -e "$ROOT$lib" ] || { mkdir -p "$ROOT$(dirname "$lib")" && cp -L "$real" "$ROOT$lib"; }
    done
    # A sanitized build (scripts/dev.sh test): LeakSanitizer needs ptrace at exit, which the units' seccomp filters
    # and capability sets refuse ("LeakSanitizer has encountered a fatal error", exit 1). ASan and UBSan still run.
    if [[ $(ldd "${srcs[@]}") == *libasan.so* ]]; then # (not ldd | grep -q: pipefail and SIGPIPE)
        mkdir -p "$ROOT/etc/systemd/system.conf.d"
        printf '[Manager]\nDefaultEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$ROOT/etc/systemd/system.conf.d/asan.conf"
    fi
}
