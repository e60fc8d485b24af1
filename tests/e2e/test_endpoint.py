#!/usr/bin/env python3
"""The agent's HTTP endpoint as Prometheus, a kubelet and a person meet it: metrics, the two probes, what is
refused, and listen addresses given as host names."""

import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import memsight_e2e as e2e


def get(url, method="GET"):
    """(status, body) of one request."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Endpoint(unittest.TestCase):
    def test_probes_and_paths(self):
        with e2e.Agent(interval="1s") as agent:
            base = f"http://127.0.0.1:{agent.port}"
            # /metrics answers from the start; /readyz once the first scan is done (within a few intervals).
            deadline = time.time() + 20
            while True:
                status, body = get(base + "/readyz")
                if status == 200 or time.time() > deadline:
                    break
                self.assertEqual(status, 503, body)
                self.assertTrue(body.startswith("starting:"), body)
                time.sleep(0.2)
            self.assertEqual(status, 200, body)
            self.assertRegex(body, r"^ok: \d+ scans, the last \d+ s ago\n$")
            status, body = get(base + "/healthz")
            self.assertEqual((status, body.split(":")[0]), (200, "ok"))
            status, body = get(base + "/metrics")
            self.assertEqual(status, 200)
            self.assertIn("memsight_build_info{", body)
            self.assertEqual(get(base + "/metrics", "HEAD"), (200, ""))
            self.assertEqual(get(base + "/metrics", "POST")[0], 405)
            for path in ("/", "/metrics/x", "/healthzz", "/readyz/"):
                self.assertEqual(get(base + path)[0], 404, path)

    def test_sigterm_is_a_clean_stop(self):
        agent = e2e.Agent(interval="1s")
        with agent:
            agent.wait_for(lambda m: e2e.select(m, "memsight_tracked_processes"), what="first scan")
        self.assertEqual(agent.proc.returncode, 0)  # Agent.__exit__ sent SIGTERM and waited

    def test_listen_on_a_host_name(self):
        port = e2e.free_port()
        name = socket.gethostname()
        addrs = {a[4][0] for a in socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)}
        proc = subprocess.Popen([e2e.MEMSIGHT, "agent", "--listen", f"{name}:{port}", "--interval", "1s"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 30
            served = set()
            while time.time() < deadline and served != addrs:
                self.assertIsNone(proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
                for a in addrs - served:
                    try:
                        if get(f"http://{a}:{port}/healthz")[0] == 200:
                            served.add(a)
                    except OSError:
                        pass
                time.sleep(0.2)
            self.assertEqual(served, addrs)  # every IPv4 address the name resolves to
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=15)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("metrics on http://", err)

    def test_unresolvable_name_is_refused_before_loading_bpf(self):
        r = subprocess.run([e2e.MEMSIGHT, "agent", "--listen", "no-such-node.invalid:9756"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.strip(), r"^memsight: --listen: host 'no-such-node\.invalid' in "
                                           r"'no-such-node\.invalid:9756' does not resolve \(.*\); give an IP "
                                           r"address, or a name in /etc/hosts or DNS$")


if __name__ == "__main__":
    e2e.main()
