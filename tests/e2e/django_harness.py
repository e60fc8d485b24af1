"""The Django test app (tests/scenarios/python/django_app) for end-to-end tests: served by Debian's gunicorn on
Debian's statically linked /usr/bin/python3.11, with one sync worker, and driven over HTTP.

    with DjangoApp() as app:            # starts run_gunicorn.py; app.worker_pid, app.port, app.master_pid
        app.leak(500, requests=4)       # 4 x GET /leak?n=500: 2,000 more CachedReport objects kept forever
        app.ok(500, requests=4)         # 4 x GET /ok?n=500: TransientReport objects made and dropped
        app.cached                      # the truth from the responses: CachedReport objects alive now
        app.stats()                     # the worker's own count (gc), e.g. {"CachedReport": 2000, ...}

Names a census should report for the leak (see views.py): the class memapp.views.CachedReport (module
"memapp.views", qualified name "CachedReport"), allocated in the view function memapp.views.leaky_view
(file .../django_app/memapp/views.py). The one that does not leak: memapp.views.TransientReport in ok_view.

MEMSIGHT_DJANGO_APP overrides the app's folder (default: ../scenarios/python/django_app next to this file).
"""

import json
import os
import subprocess
import sys
import urllib.request

APP_DIR = os.environ.get("MEMSIGHT_DJANGO_APP") or os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "scenarios", "python", "django_app"))
LAUNCHER = os.path.join(APP_DIR, "run_gunicorn.py")
VIEWS_FILE = os.path.join(APP_DIR, "memapp", "views.py")
GUNICORN = "/usr/bin/gunicorn"
INTERPRETER = "/usr/bin/python3.11"  # what /usr/bin/gunicorn runs on (#!/usr/bin/python3 -> python3.11)

LEAK_MODULE = "memapp.views"
LEAK_CLASS = "CachedReport"
LEAK_FUNCTION = "leaky_view"
OK_CLASS = "TransientReport"
OK_FUNCTION = "ok_view"


class DjangoApp:
    """run_gunicorn.py as a context manager; stops gunicorn (stdin EOF) on exit."""

    def __init__(self, gunicorn=GUNICORN):
        self.gunicorn = gunicorn
        self.proc = None
        self.worker_pid = None
        self.master_pid = None
        self.port = None
        self.cached = 0  # CachedReport objects alive, from the last /leak or /ok response
        self.leak_requests = 0
        self.ok_requests = 0

    def __enter__(self):
        for path in (self.gunicorn, INTERPRETER):
            if not os.path.exists(path):
                raise AssertionError(f"{path} not found: the Django tests need Debian's python3-django and gunicorn "
                                     "(scripts/setup.sh installs them)")
        self.proc = subprocess.Popen([sys.executable, LAUNCHER, "--gunicorn", self.gunicorn],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "ready":
            self.__exit__(None, None, None)
            raise AssertionError(f"run_gunicorn.py did not become ready (printed {line}, exit {self.proc.returncode})")
        self.worker_pid, self.port = int(line[1]), int(line[2])
        with open(f"/proc/{self.worker_pid}/stat") as f:
            self.master_pid = int(f.read().rsplit(")", 1)[1].split()[1])
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return False

    def get(self, path, timeout=120):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
            return json.load(r)

    def leak(self, n, requests=1):
        """`requests` x GET /leak?n=N; returns the CachedReport objects alive after them (also self.cached)."""
        for _ in range(requests):
            body = self.get(f"/leak?n={n}")
            if body["made"] != n or body["cached"] != self.cached + n:
                raise AssertionError(f"/leak?n={n} answered {body} with {self.cached} cached before")
            self.cached = body["cached"]
            self.leak_requests += 1
        return self.cached

    def ok(self, n, requests=1):
        """`requests` x GET /ok?n=N (objects made and dropped); returns self.cached, unchanged."""
        for _ in range(requests):
            body = self.get(f"/ok?n={n}")
            if body["made"] != n or body["cached"] != self.cached:
                raise AssertionError(f"/ok?n={n} answered {body} with {self.cached} cached before")
            self.ok_requests += 1
        return self.cached

    def stats(self):
        """The worker's own count of live instances ({"CachedReport": N, "TransientReport": M}), by the gc module;
        also checks that the worker serving it is still app.worker_pid (gunicorn did not replace it)."""
        body = self.get("/stats")
        if body["pid"] != self.worker_pid:
            raise AssertionError(f"/stats served by pid {body['pid']}, not the worker {self.worker_pid}")
        return body["live"]

    def alive(self):
        return self.proc.poll() is None and os.path.exists(f"/proc/{self.worker_pid}")
