#!/bin/sh
# make_alt_root.sh DIR PROGRAM [PROGRAM...]
#
# Builds in DIR a minimal root filesystem for the deep tier's mount-namespace test: each
# PROGRAM is copied to DIR/opt/app/<name>, and every library it needs (from ldd,
# including the dynamic loader) to DIR/opt/altlibc/<soname> -- paths that do not exist on
# the host; the loader is also copied to DIR/lib64/ld-linux-x86-64.so.2 (the programs'
# PT_INTERP). Nothing is patched. A program then runs in that root either directly,
#   LD_LIBRARY_PATH=/opt/altlibc /opt/app/<name> ARGS
# or through the copied loader,
#   /opt/altlibc/ld-linux-x86-64.so.2 --library-path /opt/altlibc /opt/app/<name> ARGS
# and either way /proc/PID/maps names /opt/altlibc/libc.so.6 inside that root.
#
# Run it in a private mount namespace with run_in_alt_root.sh (pivot_root, like a
# container runtime: the host then also reads /opt/altlibc/libc.so.6 in /proc/PID/maps,
# and finds the file only under /proc/PID/root/). A plain chroot is not enough for that:
# the host would read DIR/opt/altlibc/libc.so.6 there, because /proc/PID/maps paths are
# resolved up to the root of the process's mount namespace, not its chroot.
#
# Exit status: 0 on success, 2 on bad usage, 1 on other errors.
set -eu

usage() {
  echo "usage: $0 DIR PROGRAM [PROGRAM...]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
dir=$1
shift

mkdir -p "$dir/opt/app" "$dir/opt/altlibc" "$dir/proc" "$dir/dev" "$dir/tmp" "$dir/oldroot"

for prog in "$@"; do
  if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then
    echo "make_alt_root.sh: $prog is not an executable file" >&2
    exit 1
  fi
  cp -L "$prog" "$dir/opt/app/$(basename "$prog")"
  # ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the loader
  # "/lib64/ld-linux-x86-64.so.2 (0x...)"; "linux-vdso.so.1 (0x...)" has no file.
  ldd "$prog" | awk '
    $2 == "=>" && $3 ~ /^\// { print $3; next }
    $1 ~ /^\// { print $1 }' |
    while read -r lib; do
      cp -L "$lib" "$dir/opt/altlibc/$(basename "$lib")"
    done
done

if [ ! -e "$dir/opt/altlibc/ld-linux-x86-64.so.2" ]; then
  echo "make_alt_root.sh: no ld-linux-x86-64.so.2 among the libraries" >&2
  exit 1
fi
# A second copy where the programs' PT_INTERP points, for direct execution (the
# container-like mode of run_in_alt_root.sh): a regular file, not the host's symlink.
mkdir -p "$dir/lib64"
cp "$dir/opt/altlibc/ld-linux-x86-64.so.2" "$dir/lib64/ld-linux-x86-64.so.2"
echo "make_alt_root.sh: $dir ready: programs in /opt/app, libraries in /opt/altlibc" >&2
