"""pyheap_target.py N: N live instances of a class (N GC-tracked objects), and a CPU-bound loop.

Prints "ready <pid>" once the objects exist. A line on stdin is answered with "rate <loops per second since the
previous line>"; EOF ends it. Used by pyheap_cost.py to time a census and the target's slowdown while it runs.
"""
import os
import sys
import threading
import time


class Obj:
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n


loops = 0


def spin():
    global loops
    x = 0
    while True:
        for i in range(1000):
            x += i * i
        loops += 1


def main():
    objs = [Obj(i) for i in range(int(sys.argv[1]))]
    threading.Thread(target=spin, daemon=True).start()
    print("ready %d" % os.getpid(), flush=True)
    last, last_t = loops, time.monotonic()
    for _ in sys.stdin:
        now, now_t = loops, time.monotonic()
        print("rate %.1f" % ((now - last) / (now_t - last_t)), flush=True)
        last, last_t = now, now_t
    del objs


if __name__ == "__main__":
    main()
