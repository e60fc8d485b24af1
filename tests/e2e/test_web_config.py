#!/usr/bin/env python3
"""The agent's endpoint behind a web config (--web-config, docs/security.md) as Prometheus, a kubelet and an
attacker meet it: HTTPS only, basic authentication on every path but the probes, client certificates, and the
request limits (a stalled client is cut off, an oversized header refused). Certificates are made here with
`openssl req`, bcrypt hashes with `htpasswd` (Debian apache2-utils)."""

import base64
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import memsight_e2e as e2e

# docs/security.md#request-limits: civetweb's request_timeout_ms and max_request_size as metrics_server.cpp sets them.
REQUEST_TIMEOUT_S = 5.0
MAX_REQUEST_BYTES = 8192


def sh(*argv, cwd):
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True)


def bcrypt(user, password):
    out = subprocess.run(["htpasswd", "-nbBC", "10", user, password], check=True, capture_output=True, text=True)
    name, _, hash_ = out.stdout.strip().partition(":")
    assert name == user and hash_.startswith("$2y$10$"), out.stdout
    return hash_


def make_tls_files(d):
    """A CA, the agent's certificate for 127.0.0.1 signed by it, and a client certificate signed by it; plus a
    self-signed client certificate no CA vouches for."""
    def key(name):
        sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name, cwd=d)

    key("ca.key")
    sh("openssl", "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=memsight test CA", "-days", "2",
       "-out", "ca.crt", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        key(f"{name}.key")
        sh("openssl", "req", "-new", "-key", f"{name}.key", "-subj", f"/CN=memsight test {name}", "-out",
           f"{name}.csr", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
           "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)
    key("stranger.key")
    sh("openssl", "req", "-x509", "-new", "-key", "stranger.key", "-subj", "/CN=stranger", "-days", "2",
       "-out", "stranger.crt", cwd=d)


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get(url, authorization=None, context=None, method="GET"):
    """(status, headers, body) of one request."""
    req = urllib.request.Request(url, method=method)
    if authorization:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def read_until_closed(sock, limit_s):
    """Reads until the peer closes (returns (bytes, seconds)); fails the test if it stays open past limit_s."""
    sock.settimeout(0.2)
    start = time.monotonic()
    data = b""
    while time.monotonic() - start < limit_s:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        data += chunk
    else:
        raise AssertionError(f"connection still open after {limit_s} s")
    return data, time.monotonic() - start


class WebConfigTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("htpasswd") is None:
            raise AssertionError("htpasswd not found (Debian: apt-get install apache2-utils)")
        cls.dir = tempfile.mkdtemp(prefix="memsight-web-")
        make_tls_files(cls.dir)
        cls.users = f"basic_auth_users:\n  prometheus: {bcrypt('prometheus', 's3cret scrape')}\n" \
                    f"  alice: {bcrypt('alice', 'wonderland')}\n"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def web_config(self, text, name="web.yml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def tls_context(self, client=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        if client:
            ctx.load_cert_chain(os.path.join(self.dir, f"{client}.crt"), os.path.join(self.dir, f"{client}.key"))
        return ctx

    def assert_cut_off(self, sock, what, since):
        """The server closes `sock` about REQUEST_TIMEOUT_S after `since` (when the client stalled)."""
        data, _ = read_until_closed(sock, REQUEST_TIMEOUT_S + 3 - (time.monotonic() - since))
        took = time.monotonic() - since
        self.assertGreater(took, REQUEST_TIMEOUT_S - 1.5, f"{what}: closed too early ({took:.1f} s)")
        self.assertLess(took, REQUEST_TIMEOUT_S + 2, f"{what}: closed too late ({took:.1f} s)")
        self.assertFalse(data.startswith(b"HTTP/1.1 200"), f"{what}: {data[:80]!r}")
        return took

    def test_https_with_basic_auth(self):
        # Relative paths: relative to the web config's directory, wherever the agent runs.
        path = self.web_config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n" + self.users)
        right = ("prometheus", "s3cret scrape")
        with e2e.Agent("--web-config", path, scheme="https", auth=right,
                       cafile=os.path.join(self.dir, "ca.crt")) as agent:
            base = f"https://127.0.0.1:{agent.port}"
            ctx = self.tls_context()
            self.assertIn(f"metrics on https://127.0.0.1:{agent.port}/metrics", agent.logs())

            status, _, body = get(base + "/metrics", basic(*right), ctx)
            self.assertEqual(status, 200)
            self.assertIn("memsight_build_info{", body)
            self.assertEqual(get(base + "/metrics", basic("alice", "wonderland"), ctx)[0], 200)

            # Without credentials, with a wrong password, an unknown user, another scheme: 401 and the challenge,
            # on every path but the probes, unknown paths too (nothing tells what exists).
            for auth in (None, basic("prometheus", "s3cret scrapE"), basic("mallory", "s3cret scrape"),
                         basic("alice", "s3cret scrape"), "Bearer s3cret", "Basic not-base64!"):
                for p in ("/metrics", "/oom", "/nothing-here"):
                    status, headers, body = get(base + p, auth, ctx)
                    self.assertEqual(status, 401, f"{p} with {auth}")
                    self.assertEqual(headers["WWW-Authenticate"], 'Basic realm="memsight", charset="UTF-8"')
                    self.assertNotIn("memsight_", body)
            self.assertEqual(get(base + "/oom", basic(*right), ctx)[0], 200)
            self.assertEqual(get(base + "/nothing-here", basic(*right), ctx)[0], 404)
            # The probes are exempt (docs/security.md): a kubelet's httpGet probe carries no password.
            for p in ("/healthz", "/readyz"):
                self.assertIn(get(base + p, None, ctx)[0], (200, 503), p)
            self.assertEqual(get(base + "/healthz", None, ctx)[0], 200)

            # Plain HTTP to the same port is not served: the TLS handshake fails and nothing HTTP comes back.
            with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as s:
                s.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
                data, _ = read_until_closed(s, REQUEST_TIMEOUT_S + 3)
            self.assertNotIn(b"HTTP/", data)
            self.assertNotIn(b"ok", data)
            with self.assertRaises(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/healthz", timeout=10)

            # A client that connects and never starts the handshake, and one that sends half a request line after
            # it, are cut off after the request timeout; meanwhile others are served.
            with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as idle:
                idle_since = time.monotonic()
                with ctx.wrap_socket(socket.create_connection(("127.0.0.1", agent.port), timeout=10),
                                     server_hostname="127.0.0.1") as slow:
                    slow.sendall(b"GET /metr")
                    slow_since = time.monotonic()
                    self.assertEqual(get(base + "/healthz", None, ctx)[0], 200)
                    took = self.assert_cut_off(slow, "half a request line", slow_since)
                self.assert_cut_off(idle, "no handshake", idle_since)
            print(f"stalled TLS client cut off after {took:.2f} s")

            # An oversized header: an error status, and no metrics.
            status, _, body = get(base + "/metrics", basic(*right) + "x" * (2 * MAX_REQUEST_BYTES), ctx)
            self.assertIn(status, (400, 413, 431), body)
            self.assertNotIn("memsight_", body)

            # Still serving afterwards.
            self.assertEqual(get(base + "/metrics", basic(*right), ctx)[0], 200)

    def test_basic_auth_without_tls(self):
        path = self.web_config(self.users, "auth-only.yml")
        with e2e.Agent("--web-config", path, auth=("alice", "wonderland")) as agent:
            base = f"http://127.0.0.1:{agent.port}"
            self.assertEqual(get(base + "/metrics", basic("alice", "wonderland"))[0], 200)
            self.assertEqual(get(base + "/metrics", basic("alice", "wonderland"), method="HEAD")[0], 200)
            self.assertEqual(get(base + "/metrics")[0], 401)
            self.assertEqual(get(base + "/metrics", basic("alice", "Wonderland"))[0], 401)
            self.assertEqual(get(base + "/healthz")[0], 200)
            self.assertIn("basic authentication on (probes exempt)", agent.logs())

            with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as slow:
                slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                took = self.assert_cut_off(slow, "unfinished headers", time.monotonic())
            print(f"stalled plain-HTTP client cut off after {took:.2f} s")

            # Oversized: the server answers an error status or closes; either way nothing is served.
            with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as big:
                big.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"x" * (2 * MAX_REQUEST_BYTES))
                data, took = read_until_closed(big, REQUEST_TIMEOUT_S + 3)
            self.assertTrue(data == b"" or re.match(rb"HTTP/1\.[01] (400|413|431) ", data), data[:80])
            self.assertNotIn(b"memsight_", data)
            self.assertLess(took, 2, "an oversized request is refused at once, not at the timeout")

    def test_client_certificates(self):
        path = self.web_config("tls_server_config:\n"
                               f"  cert_file: {self.dir}/server.crt\n"
                               f"  key_file: {self.dir}/server.key\n"
                               "  client_auth_type: RequireAndVerifyClientCert\n"
                               "  client_ca_file: ca.crt\n"
                               "  min_version: TLS13\n", "mtls.yml")
        with _MtlsAgent(path, self.dir) as agent:
            base = f"https://127.0.0.1:{agent.port}"
            status, _, body = get(base + "/metrics", None, self.tls_context("client"))
            self.assertEqual(status, 200)
            self.assertIn("memsight_build_info{", body)
            for who in (None, "stranger"):  # no certificate, and one no configured CA signed
                with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionResetError), msg=who):
                    get(base + "/healthz", None, self.tls_context(who))
            # TLS 1.2 is below the file's min_version.
            old = self.tls_context("client")
            old.maximum_version = ssl.TLSVersion.TLSv1_2
            with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
                get(base + "/healthz", None, old)

    def test_bad_web_config_refuses_to_start(self):
        def run(*argv):
            return subprocess.run([e2e.MEMSIGHT, "agent", "--listen", f"127.0.0.1:{e2e.free_port()}", *argv],
                                  capture_output=True, text=True, timeout=60)

        cases = [
            ("tls_server_config:\n  cert_file: server.crt\n", r"web\.yml:1: tls_server_config\.key_file: missing"),
            ("basic_auth_users:\n  alice: wonderland\n", r"web\.yml:2: basic_auth_users\.alice: not a bcrypt hash"),
            ("tls_server_config:\n  cert_file: server.crt\n  key_file: absent.key\n",
             r"web\.yml: tls_server_config\.key_file: cannot read .*/absent\.key: No such file or directory"),
            ("tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n",
             r"web\.yml: tls_server_config\.key_file: cannot use .*/client\.key: .*key values mismatch"),
            ("tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
             r"web\.yml: tls_server_config\.cert_file: cannot use .*/server\.key"),
            ("http_server_config:\n  http2: false\n", r"web\.yml:1: http_server_config: not supported by memsight"),
        ]
        for text, want in cases:
            path = self.web_config(text)
            r = run("--web-config", path)
            self.assertNotEqual(r.returncode, 0, text)
            # The error is one line (TLS files are found unusable after BPF is loaded, so info lines precede it).
            lines = [l for l in r.stderr.splitlines() if l.startswith("memsight:")]
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertRegex(lines[0], "^memsight: " + re.escape(os.path.dirname(path)) + "/" + want, text)
        r = run("--web-config", os.path.join(self.dir, "absent.yml"))
        self.assertRegex(r.stderr.strip(), r"^memsight: cannot read web config .*/absent\.yml: No such file")

        # The config key, and the flag over it.
        bad = self.web_config("basic_auth_users:\n  alice: wonderland\n", "bad.yml")
        good = self.web_config(self.users, "good.yml")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(f"web_config: {bad}\n")
        try:
            r = run("--config", f.name)
            self.assertRegex(r.stderr, r"bad\.yml:2: basic_auth_users\.alice: not a bcrypt hash")
            self.assertNotEqual(r.returncode, 0)
            with e2e.Agent("--config", f.name, "--web-config", good, auth=("alice", "wonderland")) as agent:
                self.assertEqual(get(f"http://127.0.0.1:{agent.port}/metrics")[0], 401)
        finally:
            os.unlink(f.name)


class _MtlsAgent(e2e.Agent):
    """An agent whose scrapes present the client certificate."""

    def __init__(self, path, d):
        super().__init__("--web-config", path, scheme="https", cafile=os.path.join(d, "ca.crt"))
        self.dir = d

    def scrape_text(self):
        ctx = ssl.create_default_context(cafile=self.cafile)
        ctx.load_cert_chain(os.path.join(self.dir, "client.crt"), os.path.join(self.dir, "client.key"))
        with urllib.request.urlopen(self.url, timeout=10, context=ctx) as r:
            return r.read().decode()


if __name__ == "__main__":
    e2e.main()
