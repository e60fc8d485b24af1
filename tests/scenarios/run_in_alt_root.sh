#!/bin/sh
# run_in_alt_root.sh [--via-loader] DIR NAME [ARGS...]   (root; DIR from make_alt_root.sh)
#
# Runs DIR/opt/app/NAME in a new private mount namespace whose root is DIR, the way a
# container runtime does it (bind-mount DIR on itself, pivot_root into it, detach the old
# root; a fresh /proc is mounted in it). stdin/stdout/stderr pass through; the pid the program prints ("ready <pid>") is its
# host pid (no pid namespace).
#   default:       exec /opt/app/NAME with LD_LIBRARY_PATH=/opt/altlibc (PT_INTERP
#                  /lib64/ld-linux-x86-64.so.2 is DIR's copy): comm = NAME (first 15
#                  bytes), /proc/PID/exe -> /opt/app/NAME.
#   --via-loader:  exec /opt/altlibc/ld-linux-x86-64.so.2 --library-path /opt/altlibc
#                  /opt/app/NAME: comm = "ld-linux-x86-64", /proc/PID/exe -> the loader;
#                  the program is only a file mapping in /proc/PID/maps.
# Seen from the host, /proc/PID/maps names /opt/altlibc/libc.so.6 (a path that does not
# exist on the host; the file is reachable as /proc/PID/root/opt/altlibc/libc.so.6).
set -eu

via_loader=0
if [ "${1:-}" = "--via-loader" ]; then
  via_loader=1
  shift
fi
if [ $# -lt 2 ]; then
  echo "usage: $0 [--via-loader] DIR NAME [ARGS...]" >&2
  exit 2
fi
dir=$(cd "$1" && pwd)
name=$2
shift 2
if [ ! -x "$dir/opt/app/$name" ] || [ ! -e "$dir/opt/altlibc/ld-linux-x86-64.so.2" ]; then
  echo "run_in_alt_root.sh: $dir has no opt/app/$name (run make_alt_root.sh first)" >&2
  exit 1
fi

# Inside: mount and pivot_root run from the old root; after the pivot only shell builtins
# (cd, exec, test) and the old root's own loader are used, as DIR has no shell or tools.
# shellcheck disable=SC2016 # the script is expanded by the inner sh
exec unshare --mount --propagation private --fork sh -c '
  set -e
  via_loader=$1; dir=$2; name=$3; shift 3
  # Resolved before the pivot: the host loader and umount, to detach the old root after.
  ld=$(readlink -f /lib64/ld-linux-x86-64.so.2)
  um=$(readlink -f "$(command -v umount)")
  mount --bind "$dir" "$dir"
  mount -t proc proc "$dir/proc" # umount needs /proc/self/mountinfo; containers have it
  cd "$dir"
  pivot_root . oldroot
  cd /
  if ! "/oldroot$ld" --library-path "/oldroot${ld%/*}:/oldroot/lib/x86_64-linux-gnu:/oldroot/usr/lib/x86_64-linux-gnu" \
      "/oldroot$um" --lazy /oldroot; then
    echo "run_in_alt_root.sh: could not detach the old root (continuing)" >&2
  fi
  if [ "$via_loader" = 1 ]; then
    exec /opt/altlibc/ld-linux-x86-64.so.2 --library-path /opt/altlibc "/opt/app/$name" "$@"
  fi
  LD_LIBRARY_PATH=/opt/altlibc
  export LD_LIBRARY_PATH
  exec "/opt/app/$name" "$@"
' run_in_alt_root "$via_loader" "$dir" "$name" "$@"
