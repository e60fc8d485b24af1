"""The views under test, with exact ground truth for a heap census of the worker process.

  GET /leak?n=K   leaky_view: makes K CachedReport objects and appends them to the module-level _REPORT_CACHE,
                  which is never trimmed: a leak of K objects per request. CachedReport(...) is called in
                  leaky_view itself, so leaky_view is the innermost Python frame when each CachedReport object
                  is allocated (its attributes' str and dict are then made in CachedReport.__init__).
  GET /ok?n=K     ok_view: makes K TransientReport objects (same shape) and drops them before returning.
  GET /stats      the truth as the worker sees it: len(_REPORT_CACHE) and the live instances of both classes
                  counted through the garbage collector (both classes are GC-tracked, having a __dict__).

/leak and /ok answer JSON {"view", "made", "cached"}, where "cached" is len(_REPORT_CACHE) after the request.
The classes' qualified names are memapp.views.CachedReport and memapp.views.TransientReport.
"""

import gc
import json
import os

from django.http import HttpResponse, HttpResponseBadRequest

MAX_PER_REQUEST = 1_000_000

_REPORT_CACHE = []  # module level, never freed: the leak


class CachedReport:
    """A report "cached" for later: each holds a small dict and a 100-character string."""

    def __init__(self, number):
        self.number = number
        self.title = f"report {number:>93}"
        self.fields = {"number": number}


class TransientReport:
    """The same shape as CachedReport, dropped at the end of the request."""

    def __init__(self, number):
        self.number = number
        self.title = f"report {number:>93}"
        self.fields = {"number": number}


def _count(request):
    try:
        n = int(request.GET.get("n", "1"))
    except ValueError:
        return None
    return n if 0 <= n <= MAX_PER_REQUEST else None


def _json(body):
    return HttpResponse(json.dumps(body), content_type="application/json")


def leaky_view(request):
    n = _count(request)
    if n is None:
        return HttpResponseBadRequest(f"n must be an integer in [0, {MAX_PER_REQUEST}]\n")
    for i in range(n):
        _REPORT_CACHE.append(CachedReport(len(_REPORT_CACHE)))
    return _json({"view": "leaky_view", "made": n, "cached": len(_REPORT_CACHE)})


def ok_view(request):
    n = _count(request)
    if n is None:
        return HttpResponseBadRequest(f"n must be an integer in [0, {MAX_PER_REQUEST}]\n")
    reports = []
    for i in range(n):  # a loop, not a comprehension: on 3.11 a comprehension is a frame of its own
        reports.append(TransientReport(i))
    made = len(reports)
    del reports
    return _json({"view": "ok_view", "made": made, "cached": len(_REPORT_CACHE)})


def stats_view(request):
    live = {"CachedReport": 0, "TransientReport": 0}
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in live and type(obj).__module__ == __name__:
            live[name] += 1
    return _json({"pid": os.getpid(), "cached": len(_REPORT_CACHE), "live": live})
