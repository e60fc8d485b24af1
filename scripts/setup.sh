#!/usr/bin/env bash
# Installs the Debian packages that memsight's build, agent and tests need. Idempotent: prints nothing
# and touches nothing when every package is already there. Needs root (apt-get).
set -euo pipefail

PACKAGES=(
  # build: BPF objects and skeletons, C++ toolchain
  clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev pkg-config cmake make g++
  # libraries
  prometheus-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libdw-dev libyaml-cpp-dev nlohmann-json3-dev
  libprotobuf-dev protobuf-compiler
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev python3 prometheus util-linux curl
  libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev golang-go bpftrace
  # the endpoint's TLS (OpenSSL) and basic auth; htpasswd makes the bcrypt hashes of tests/e2e/test_web_config.py
  libssl-dev libcrypt-dev apache2-utils openssl
  # coverage (gcovr over gcc's gcov counters) and the clang runtimes of the fuzz targets (libFuzzer, ASan, UBSan)
  gcovr libclang-rt-14-dev
  # the monitoring mixin (deploy/mixin: jsonnet, PyYAML) and its end-to-end test with a real Alertmanager
  jsonnet python3-yaml prometheus-alertmanager
  # the container image (a Debian base made by mmdebstrap) and the systemd unit booted in systemd-nspawn;
  # mmdebstrap also makes the Debian trixie root whose python3.13 the Python tests run in a chroot
  mmdebstrap systemd-container
  # the Python tests: a real Django app served by Debian's gunicorn on Debian's /usr/bin/python3.11 (a statically
  # linked CPython, unlike a shared-libpython python3 on PATH); binutils' readelf checks which build exports what
  python3-django gunicorn binutils
  # memsight report's HTML opened in a real browser (headless Chromium) and its screenshot decoded (Debian's python3
  # with PIL; tests/e2e/test_report.py)
  chromium python3-pil
)
# Installed with their Recommends: podman's networking (netavark, aardvark-dns, iptables), slirp4netns, catatonit.
WITH_RECOMMENDS=(podman runc)
# Kubernetes schema validation (npm packages, tests/deploy/k8s) needs node and npm: Debian's, unless the machine
# has them already (these machines' image ships a newer Node.js with its own npm). kubectl (kustomize) comes
# with the machines' image; it is not in Debian.
command -v npm >/dev/null || PACKAGES+=(nodejs npm)

missing=()
missing_rec=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for p in "${WITH_RECOMMENDS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_rec+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#missing_rec[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]} ${missing_rec[*]}; run as root (sudo) to install them" >&2
  exit 1
fi
echo "setup: installing ${missing[*]} ${missing_rec[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ ${#missing[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ ${#missing_rec[@]} -eq 0 ] || apt-get install -y -qq "${missing_rec[@]}" >/dev/null
