#!/usr/bin/env python3
"""The container image, built and run: deploy/container/Dockerfile built with podman from a local Debian base
(made with mmdebstrap: no registry is needed), run privileged in the host's pid namespace with the bind mounts
docs/deployment.md prescribes, and checked by scraping its /metrics: build info, a host process, a podman
container next to it (with podman's full 64-hex container id) and an OOM kill inside a memory-limited podman
container, attributed to that container.

Environment (set by tests/image/CMakeLists.txt):
  MEMSIGHT_SOURCE_DIR  the repository (build context)
  MEMSIGHT_SCENARIOS   the built scenario programs (grow_rss, spike_exit), bind-mounted into test containers
  MEMSIGHT_IMAGE       the tag to build (default localhost/memsight:test); the image is kept, so a rerun
                       with unchanged sources reuses podman's layer cache
Needs root (exit 77 otherwise; a failure under MEMSIGHT_REQUIRE_BPF=1), podman, runc and, once per machine,
mmdebstrap and deb.debian.org for the base image. A missing tool is a failure, not a skip.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest
import urllib.request

import memsight_e2e as e2e

MiB = 1 << 20
SOURCE_DIR = os.environ.get("MEMSIGHT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE = os.environ.get("MEMSIGHT_IMAGE", "localhost/memsight:test")
BASE = "docker.io/library/debian:bookworm"
BASE_SLIM = "docker.io/library/debian:bookworm-slim"
# cgroupfs: there is no systemd to manage scopes on these machines; runc: the runtime Debian's podman pairs with.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
CONTAINERS_CONF = "/etc/containers/containers.conf"
# Like Debian's -slim images: no manuals, translations or docs (copyright files stay). Both tags get this root.
MMDEBSTRAP = ["mmdebstrap", "--variant=apt", "--dpkgopt=path-exclude=/usr/share/man/*",
              "--dpkgopt=path-exclude=/usr/share/locale/*", "--dpkgopt=path-exclude=/usr/share/info/*",
              "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
              "bookworm", "-"]
NAME_PREFIX = f"memsight-image-test-{os.getpid()}"


def podman(*args, check=True, timeout=120, **kw):
    run = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if check and run.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {run.returncode}:\n{run.stdout}{run.stderr}")
    return run


def need_tool(name, package):
    if shutil.which(name) is None:
        raise AssertionError(f"{name} not installed (Debian: apt-get install {package})")


def ensure_containers_conf(path=CONTAINERS_CONF):
    """podman's default nofile/nproc ulimits cannot be applied here: `default_ulimits = []` in [containers].
    Creates the file or patches it in place; does nothing when it already says so."""
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    section = tomllib.loads(text).get("containers", {})
    if section.get("default_ulimits") == []:
        return
    if "default_ulimits" in section:
        text = re.sub(r"(?ms)^(\s*)default_ulimits\s*=\s*\[.*?\]", r"\1default_ulimits = []", text, count=1)
    elif re.search(r"(?m)^\s*\[containers\]", text):
        text = re.sub(r"(?m)^(\s*\[containers\][^\n]*\n)", r"\1default_ulimits = []\n", text, count=1)
    else:
        text += ("\n" if text and not text.endswith("\n") else "") + "[containers]\ndefault_ulimits = []\n"
    if tomllib.loads(text).get("containers", {}).get("default_ulimits") != []:
        raise AssertionError(f"could not set default_ulimits = [] in {path}; set it by hand")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    print(f"set default_ulimits = [] in {path}", file=sys.stderr)


def image_exists(name):
    return podman("image", "exists", name, check=False).returncode == 0


def ensure_base_images():
    """docker.io/library/debian:bookworm and :bookworm-slim, imported from an mmdebstrap root when missing."""
    missing = [name for name in (BASE, BASE_SLIM) if not image_exists(name)]
    if not missing:
        return
    need_tool("mmdebstrap", "mmdebstrap")
    start = time.time()
    with tempfile.TemporaryFile() as log:
        strap = subprocess.Popen(MMDEBSTRAP, stdout=subprocess.PIPE, stderr=log)
        imp = subprocess.run(PODMAN + ["import", "-", missing[0]], stdin=strap.stdout, capture_output=True,
                             text=True, timeout=600)
        strap.stdout.close()
        strap.wait(timeout=60)
        if strap.returncode != 0 or imp.returncode != 0:
            log.seek(0)
            raise AssertionError(f"base image: mmdebstrap exited {strap.returncode}, podman import "
                                 f"{imp.returncode}:\n{log.read().decode()[-3000:]}\n{imp.stderr}")
    for name in missing[1:]:
        podman("tag", missing[0], name)
    print(f"imported {', '.join(missing)} from mmdebstrap in {time.time() - start:.0f} s", file=sys.stderr)


def build_image():
    start = time.time()
    with tempfile.NamedTemporaryFile("w+", prefix="memsight-image-build-", suffix=".log") as log:
        # --network=host: apt-get in the build reaches the mirror without a container network.
        run = subprocess.run(PODMAN + ["build", "--pull=never", "--network=host", "-f",
                                       os.path.join(SOURCE_DIR, "deploy/container/Dockerfile"), "-t", IMAGE,
                                       SOURCE_DIR], stdout=log, stderr=subprocess.STDOUT, timeout=1500)
        if run.returncode != 0:
            log.seek(0)
            raise AssertionError(f"podman build exited {run.returncode}:\n{log.read()[-6000:]}")
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    print(f"built {IMAGE} in {time.time() - start:.0f} s, {size / 1e6:.0f} MB", file=sys.stderr)


def remove_stale_containers():
    """Containers left by a run that was killed (ctest timeout): their names carry the pid of a dead test."""
    names = podman("ps", "-a", "--format", "{{.Names}}", "--filter", "name=^memsight-image-test-").stdout.split()
    for name in names:
        pid = name.split("-")[3]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            remove_container(name)


def setUpModule():
    need_tool("podman", "podman runc")
    need_tool("runc", "runc")
    ensure_containers_conf()
    remove_stale_containers()
    ensure_base_images()
    build_image()


def container_pid(name):
    return int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())


def container_id(name):
    cid = podman("inspect", "--format", "{{.Id}}", name).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), cid
    return cid


def wait_until(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def remove_container(name):
    podman("rm", "--force", "--time", "2", name, check=False, timeout=60)


class ImageAgent:
    """The image's agent in a podman container (privileged, host pid namespace, host network), scraped on
    127.0.0.1:PORT; removed on exit."""

    def __init__(self, name, cgroupns="host"):
        self.name = name
        self.cgroupns = cgroupns
        self.port = e2e.free_port()
        self.config = None

    def __enter__(self):
        fd, self.config = tempfile.mkstemp(prefix="memsight-image-", suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write("processes:\n  top_by_rss: 10000\n")
        mounts = ["-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "-v", "/sys/kernel/btf:/sys/kernel/btf:ro",
                  "-v", f"{self.config}:/etc/memsight/memsight.yaml:ro"]
        if os.path.ismount("/sys/kernel/tracing"):
            mounts += ["-v", "/sys/kernel/tracing:/sys/kernel/tracing:ro"]
        podman("run", "-d", "--name", self.name, "--privileged", "--pid=host", "--network=host",
               f"--cgroupns={self.cgroupns}", *mounts, IMAGE,
               "agent", "--config", "/etc/memsight/memsight.yaml", "--listen", f"127.0.0.1:{self.port}",
               "--interval", "1s")
        try:
            deadline = time.time() + 60
            while True:
                try:
                    self.scrape_text()
                    return self
                except OSError:
                    pass
                state = podman("inspect", "--format", "{{.State.Status}}", self.name).stdout.strip()
                if state != "running" or time.time() > deadline:
                    raise AssertionError(f"agent container {state}, /metrics not served:\n{self.logs()}")
                time.sleep(0.3)
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        if exc[0] is not None:
            print(f"--- agent container log ---\n{self.logs()}", file=sys.stderr)
        remove_container(self.name)
        if self.config:
            os.unlink(self.config)
        return False

    def logs(self):
        run = podman("logs", self.name, check=False)
        return run.stdout + run.stderr

    def scrape_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            return r.read().decode()

    def scrape(self):
        return e2e.parse_metrics(self.scrape_text())

    def wait_for(self, predicate, timeout=30, what="condition"):
        deadline = time.time() + timeout
        while True:
            got = predicate(self.scrape())
            if got:
                return got
            if time.time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\n--- agent log ---\n"
                                     f"{self.logs()[-4000:]}")
            time.sleep(0.5)


def scenario_container(name, *args, memory, program_args):
    """A container of the slim base running a host scenario program (bind-mounted; same bookworm libc)."""
    podman("run", "-d", "--name", name, f"--memory={memory}", f"--memory-swap={memory}", *args,
           "-v", f"{e2e.SCENARIOS}:/scenarios:ro", BASE_SLIM, *program_args)
    return container_id(name)


class Image(unittest.TestCase):
    """One agent container for every check."""

    @classmethod
    def setUpClass(cls):
        cls.agent = ImageAgent(f"{NAME_PREFIX}-agent").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)

    def container(self, suffix):
        name = f"{NAME_PREFIX}-{suffix}"
        self.addCleanup(remove_container, name)
        return name

    def test_build_info(self):
        rows = e2e.select(self.agent.scrape(), "memsight_build_info")
        self.assertEqual(len(rows), 1, rows)
        self.assertRegex(rows[0][0]["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(rows[0][0]["kernel"], os.uname().release)

    def test_host_process(self):
        with e2e.running([e2e.scenario("grow_rss"), "64"]) as (_, pid):
            # A reading taken while grow_rss was still touching its pages may come first: wait for the full one.
            rows = self.agent.wait_for(
                lambda m: [r for r in e2e.select(m, "memsight_process_resident_bytes", pid=pid, kind="anon")
                           if r[1] >= 63 * MiB],
                what=f"host process grow_rss pid {pid} at 64 MiB")
            labels, anon = rows[0]
            self.assertEqual(labels["comm"], "grow_rss")
            self.assertEqual(labels["container_id"], "")
            self.assertLess(anon, 70 * MiB)

    def test_podman_container(self):
        name = self.container("grow")
        # -i keeps stdin open: grow_rss holds its memory until stdin reaches EOF.
        cid = scenario_container(name, "-i", memory="256m", program_args=["/scenarios/grow_rss", "100"])
        wait_until(lambda: "ready" in podman("logs", name).stdout, what="grow_rss ready in its container")
        pid = container_pid(name)

        def found(m):  # the first readings may predate grow_rss's last pages
            return [r for r in e2e.select(m, "memsight_container_memory_usage_bytes", container_id=cid)
                    if r[1] >= 100 * MiB]

        labels, usage = self.agent.wait_for(found, what=f"container {cid[:12]} at 100 MiB")[0]
        self.assertEqual(labels["pod_uid"], "")
        self.assertTrue(labels["cgroup"].endswith(cid), labels["cgroup"])
        self.assertLess(usage, 256 * MiB)
        m = self.agent.scrape()
        self.assertEqual(e2e.select(m, "memsight_container_memory_limit_bytes", container_id=cid)[0][1], 256 * MiB)
        self.assertEqual(e2e.select(m, "memsight_container_processes", container_id=cid)[0][1], 1)
        procs = self.agent.wait_for(
            lambda m: [r for r in e2e.select(m, "memsight_process_resident_bytes", pid=pid, kind="anon")
                       if r[1] >= 99 * MiB],
            what=f"process {pid} of container {cid[:12]} at 100 MiB")
        self.assertEqual(procs[0][0]["comm"], "grow_rss")
        self.assertEqual(procs[0][0]["container_id"], cid)
        # The agent's own container is a podman container like any other.
        own = container_id(self.agent.name)
        self.assertTrue(e2e.select(m, "memsight_container_processes", container_id=own), f"agent container {own}")

    def test_oom_kill_in_podman_container(self):
        name = self.container("oom")
        # spike_exit touches 512 MiB: killed by the container's 64 MiB limit (no swap: --memory-swap = --memory).
        cid = scenario_container(name, memory="64m", program_args=["/scenarios/spike_exit", "512"])
        status = podman("wait", name, timeout=60).stdout.strip()
        self.assertEqual(status, "137", podman("logs", name, check=False).stderr)  # 128 + SIGKILL

        def killed(m):
            return e2e.select(m, "memsight_oom_kills_total", container_id=cid)

        rows = self.agent.wait_for(killed, what=f"memsight_oom_kills_total{{container_id={cid[:12]}}}")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0][0]["comm"], "spike_exit")
        self.assertEqual(rows[0][1], 1)
        victims = e2e.select(self.agent.scrape(), "memsight_oom_victim_resident_bytes", container_id=cid, kind="anon")
        self.assertEqual(len(victims), 1, victims)
        self.assertEqual(victims[0][0]["comm"], "spike_exit")
        self.assertGreater(victims[0][1], 32 * MiB)  # it died near its 64 MiB limit
        self.assertLessEqual(victims[0][1], 64 * MiB)


class PrivateCgroupNamespace(unittest.TestCase):
    """The agent in a private cgroup namespace (podman's default on cgroup v2): /proc/PID/cgroup paths it reads
    are relative to its own cgroup ("/../libpod-<id>" for a sibling podman container on cgroup v1). It joins
    pid 1's namespace where it can; here pid 1 (the machine's init) is not readable even from --privileged, so
    this exercises the other way: its own cgroup found in the hierarchy, paths resolved against it."""

    def test_containers_seen_from_private_cgroupns(self):
        grow = f"{NAME_PREFIX}-ns-grow"
        self.addCleanup(remove_container, grow)
        cid = scenario_container(grow, "-i", memory="256m", program_args=["/scenarios/grow_rss", "100"])
        with ImageAgent(f"{NAME_PREFIX}-ns-agent", cgroupns="private") as agent:
            def found(m):
                return [r for r in e2e.select(m, "memsight_container_memory_usage_bytes", container_id=cid)
                        if r[1] >= 100 * MiB]

            labels, usage = agent.wait_for(found, what=f"container {cid[:12]} at 100 MiB (private cgroupns)")[0]
            self.assertTrue(labels["cgroup"].endswith(cid), labels["cgroup"])
            self.assertFalse(labels["cgroup"].startswith("/.."), labels["cgroup"])  # the hierarchy's own path
            tracked = e2e.select(agent.scrape(), "memsight_tracked_containers")
            self.assertGreaterEqual(tracked[0][1], 2)  # grow_rss's container and the agent's own


if __name__ == "__main__":
    e2e.main()
