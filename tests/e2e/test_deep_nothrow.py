#!/usr/bin/env python3
"""Deep tier on C++ code that allocates with the nothrow and aligned-nothrow forms of operator new: each leaking
function is named as its site, with live bytes equal to the scenario's own ground truth (tests/scenarios/
cxx_nothrow.cpp), under libstdc++'s operators and under jemalloc's."""

import json
import os
import unittest

import memsight_e2e as e2e
from memsight_e2e import live

# Exact sessions on a busy allocator: the overhead governor would stop them within seconds.
NO_BUDGET = ["--overhead-budget", "0"]

LEAKS = ("leak_nothrow_node(long)", "leak_nothrow_buffer(unsigned long)", "leak_aligned_nothrow_line(long)",
         "leak_aligned_nothrow_buffer(unsigned long)")
CHURN = "churn_nothrow(long)"
CALLER = "handle_batch(long, unsigned long)"
NOTHROW_FORMS = ("_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
                 "_ZnamSt11align_val_tRKSt9nothrow_t")


class DeepNothrow(unittest.TestCase):
    def run_scenario(self, name, iterations=1000, k=1000):
        path = e2e.scenario(name)
        if not os.path.exists(path):
            self.skipTest(f"{name} was not built; see tests/scenarios/CMakeLists.txt")
        r, truth = e2e.traced_with_truth([path, str(iterations), str(k)], ["--top", "50", *NO_BUDGET])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.report["exact"])
        self.assertEqual(truth["live_blocks"], 4 * iterations, "a nothrow new failed in the scenario")
        return r, truth, iterations

    def check_sites(self, r, truth, iterations):
        sites = r.report["sites"]
        dump = json.dumps(sites[:8], indent=1)
        for name in LEAKS:
            with self.subTest(site=name):
                found = r.sites(name)
                self.assertTrue(found, f"{name} is not a site (its leak went to its caller?):\n{dump}")
                self.assertEqual(live(found), truth["sites"][name], dump)
                self.assertEqual(sum(s["live_count"] for s in found), iterations, dump)
                top = found[0]
                self.assertTrue(top["stack"][0].startswith(name + "+"), top["stack"])
                self.assertTrue(top["stack"][1].startswith(CALLER + "+"), top["stack"])
        # The nothrow deletes release what churn_nothrow allocated, and nothing leaks under the caller.
        churn = r.sites(CHURN)
        self.assertTrue(churn, "churn_nothrow site missing:\n" + dump)
        self.assertEqual(live(churn), 0, json.dumps(churn, indent=1))
        self.assertEqual(live(r.sites(CALLER)), 0, dump)
        self.assertEqual(r.report["counters"]["lost_outstanding_map_full"], 0)

    def test_libstdcxx_nothrow_and_aligned_nothrow_new_name_the_leaking_functions_exactly(self):
        r, truth, iterations = self.run_scenario("cxx_nothrow")
        hooked = r.report["targets"][0]["hooked"]
        libstdcxx = [h for h in hooked if h.startswith("libstdc++ ")]
        self.assertTrue(libstdcxx, hooked)
        for form in NOTHROW_FORMS:
            self.assertIn(form, libstdcxx[0], hooked)
        self.check_sites(r, truth, iterations)

    def test_jemalloc_nothrow_forms_are_probed_and_exact(self):
        # jemalloc defines every operator form itself (they win over libstdc++'s); its nothrow forms wrap the
        # throwing ones without a frame pointer too.
        r, truth, iterations = self.run_scenario("cxx_nothrow_jemalloc")
        self.assertEqual(r.report["targets"][0]["allocator"], "jemalloc")
        jemalloc = [h for h in r.report["targets"][0]["hooked"] if h.startswith("jemalloc ")]
        self.assertTrue(jemalloc, r.report["targets"][0]["hooked"])
        for form in NOTHROW_FORMS:
            self.assertIn(form, jemalloc[0])
        self.check_sites(r, truth, iterations)


if __name__ == "__main__":
    e2e.main()
