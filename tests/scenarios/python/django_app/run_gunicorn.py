#!/usr/bin/env python3
"""Serves the test app (memapp) with Debian's gunicorn and ONE sync worker on a free loopback port.

    run_gunicorn.py [--gunicorn /usr/bin/gunicorn]

Protocol of the scenario programs (tests/scenarios/scenario_common.h), with the port added: once the worker has
loaded Django and answered GET /stats, prints one line "ready <worker pid> <port>" and flushes; then waits for
stdin EOF or SIGTERM, stops gunicorn (SIGTERM to the master, SIGKILL after 10 s) and exits 0. Exits 1 when
gunicorn does not come up (its log is on stderr), 2 on bad usage.

Debian's /usr/bin/gunicorn starts with #!/usr/bin/python3, i.e. Debian's statically linked /usr/bin/python3.11,
whatever python3 runs this launcher. The worker is the master's only child; the app is loaded in the worker
(no --preload), as in a usual deployment. The listening socket is made here and handed over as fd://N, so the
port is free and known without a race.
"""

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
START_TIMEOUT_S = 60


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gunicorn", default="/usr/bin/gunicorn", help="the gunicorn script (default: Debian's)")
    args = ap.parse_args()
    if not os.access(args.gunicorn, os.X_OK):
        print(f"run_gunicorn.py: {args.gunicorn} not found (Debian: apt-get install gunicorn python3-django)",
              file=sys.stderr)
        return 1

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    ready_r, ready_w = os.pipe()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="memapp.settings", MEMSIGHT_READY_FD=str(ready_w),
               PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)  # the worker imports Debian's django, not anything of the caller's path
    argv = [args.gunicorn, "--config", os.path.join(HERE, "gunicorn_conf.py"), "--chdir", HERE,
            "--bind", f"fd://{listener.fileno()}", "--workers", "1", "--worker-class", "sync",
            "--timeout", "300", "--graceful-timeout", "5", "--log-level", "warning",
            "memapp.wsgi:application"]
    gunicorn = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr,
                                pass_fds=(listener.fileno(), ready_w))
    os.close(ready_w)
    listener.close()

    def stop(*_):
        if gunicorn.poll() is None:
            gunicorn.terminate()
            try:
                gunicorn.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
                gunicorn.wait()

    def on_sigterm(*_):
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)

    worker = None
    deadline = time.monotonic() + START_TIMEOUT_S
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        r, _, _ = select.select([ready_r], [], [], 0.5)
        if r:
            chunk = os.read(ready_r, 64)
            if not chunk:
                break
            line += chunk
        elif gunicorn.poll() is not None:
            break
    os.close(ready_r)
    if line.startswith(b"worker "):
        worker = int(line.split()[1])
    if worker is None:
        print(f"run_gunicorn.py: gunicorn did not start a worker within {START_TIMEOUT_S} s "
              f"(exit status {gunicorn.poll()})", file=sys.stderr)
        stop()
        return 1
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=30) as r:
            served_by = json.load(r)["pid"]
    except OSError as e:
        print(f"run_gunicorn.py: GET /stats failed: {e}", file=sys.stderr)
        stop()
        return 1
    if served_by != worker:
        print(f"run_gunicorn.py: /stats served by pid {served_by}, not the worker {worker}", file=sys.stderr)
        stop()
        return 1

    print(f"ready {worker} {port}", flush=True)
    while sys.stdin.buffer.read(4096):
        pass
    stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
