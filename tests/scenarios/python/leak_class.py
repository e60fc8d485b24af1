"""leak_class.py [PER_SECOND] [INITIAL]: a request handler that leaks Session objects.

handle_request() appends one Session per call to a module-level list; the main thread calls it PER_SECOND times
a second (default 200), after INITIAL (default 1000) calls made at start. Protocol of the scenarios
(tests/scenarios/scenario_common.h): prints "ready <pid>" once the initial sessions exist, then runs until stdin
reaches EOF. A line "sessions" on stdin is answered with "sessions <n>", the number of Session objects alive (the
truth the tests compare a census with); a line "types" with one JSON line {type name: count} of every object the
GC tracks, named as memsight names them (module.qualname, builtins bare), from gc.get_objects().
"""
import collections
import gc
import json
import os
import sys
import threading
import time


class Session:
    def __init__(self, n):
        self.n = n
        self.user = "user%d" % n


SESSIONS = []
lock = threading.Lock()


def handle_request(n):
    with lock:
        SESSIONS.append(Session(n))


def leak_forever(initial, per_second, stop):
    """Keeps the number of calls at initial + per_second * seconds since start."""
    n = initial
    start = time.monotonic()
    while not stop.is_set():
        due = initial + int((time.monotonic() - start) * per_second)
        while n < due:
            handle_request(n)
            n += 1
        stop.wait(0.01)


def type_name(t):
    module = t.__dict__.get("__module__") if isinstance(t.__dict__.get("__module__"), str) else t.__module__
    return t.__qualname__ if module in ("builtins", None, "") else module + "." + t.__qualname__


def own_census():
    return collections.Counter(type_name(type(o)) for o in gc.get_objects())


def main():
    per_second = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    initial = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    for n in range(initial):
        handle_request(n)
    stop = threading.Event()
    threading.Thread(target=leak_forever, args=(initial, per_second, stop), daemon=True).start()
    print("ready %d" % os.getpid(), flush=True)
    for line in sys.stdin:
        with lock:
            if line.strip() == "types":
                print(json.dumps(own_census()), flush=True)
            else:
                print("sessions %d" % len(SESSIONS), flush=True)
    stop.set()


if __name__ == "__main__":
    main()
