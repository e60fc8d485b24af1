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
  # deployment checks: Kubernetes schema validation (npm packages, tests/deploy/k8s); kubectl (kustomize) comes
  # with these machines' image, not from Debian
  nodejs npm
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}; run as root (sudo) to install them" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
