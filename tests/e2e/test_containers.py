#!/usr/bin/env python3
"""Per-container metrics and container attribution, with real memory cgroups laid out the way container
runtimes name them (docker's cgroupfs driver, kubelet's cgroupfs driver with containerd)."""

import os
import subprocess
import time
import unittest
import uuid

import memsight_e2e as e2e

MiB = 1 << 20


def memory_cgroup_root():
    """(mount point, version) of the memory controller, as the agent finds it."""
    v2 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, opts = fields[sep + 1], fields[sep + 3]
            if fstype == "cgroup" and "memory" in opts.split(","):
                return fields[4], 1
            if fstype == "cgroup2" and v2 is None:
                v2 = fields[4]
    if v2 and "memory" in open(os.path.join(v2, "cgroup.controllers")).read().split():
        return v2, 2
    raise unittest.SkipTest("no memory cgroup hierarchy mounted")


class FakeContainer:
    """A memory cgroup at `relpath` with a limit, removed (with any parents it created) on exit."""

    def __init__(self, relpath, limit):
        self.root, self.version = memory_cgroup_root()
        self.relpath = relpath
        self.path = self.root + relpath
        self.limit = limit
        self.created = []

    def __enter__(self):
        parts = self.relpath.strip("/").split("/")
        for i in range(len(parts)):
            d = os.path.join(self.root, *parts[: i + 1])
            if not os.path.isdir(d):
                os.mkdir(d)
                self.created.append(d)
                if self.version == 2 and i < len(parts) - 1:
                    with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                        f.write("+memory")
        limit_file = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
        with open(os.path.join(self.path, limit_file), "w") as f:
            f.write(str(self.limit))
        return self

    def __exit__(self, *exc):
        for d in reversed(self.created):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)
        return False

    def start(self, *argv):
        """Starts argv inside the cgroup (it moves itself in before exec)."""
        script = f'echo $$ > "{self.path}/cgroup.procs" && exec "$@"'
        return e2e.running(["sh", "-c", script, "sh", *argv])


class Containers(unittest.TestCase):
    def check_container(self, relpath, container_id, pod_uid):
        with FakeContainer(relpath, 512 * MiB) as c, e2e.Agent(config_text="processes:\n  top_by_rss: 10000\n") as agent, \
                c.start(e2e.scenario("grow_rss"), "100") as (_, pid):

            def found(m):
                return e2e.select(m, "memsight_container_memory_usage_bytes", container_id=container_id)

            rows = agent.wait_for(found, what=f"container {container_id[:12]}")
            labels, usage = rows[0]
            self.assertEqual(labels["pod_uid"], pod_uid)
            self.assertEqual(labels["cgroup"], relpath)
            self.assertGreaterEqual(usage, 100 * MiB)
            self.assertLess(usage, 200 * MiB)
            m = agent.scrape()
            limit = e2e.select(m, "memsight_container_memory_limit_bytes", container_id=container_id)
            self.assertEqual(limit[0][1], 512 * MiB)
            ws = e2e.select(m, "memsight_container_memory_working_set_bytes", container_id=container_id)[0][1]
            self.assertLessEqual(ws, usage)
            self.assertGreaterEqual(ws, 100 * MiB)
            anon = e2e.select(m, "memsight_container_resident_bytes", container_id=container_id, kind="anon")[0][1]
            self.assertGreaterEqual(anon, 99 * MiB)
            procs = e2e.select(m, "memsight_container_processes", container_id=container_id)[0][1]
            self.assertEqual(procs, 1)
            proc_rows = e2e.select(m, "memsight_process_resident_bytes", pid=pid, kind="anon")
            self.assertEqual(proc_rows[0][0]["container_id"], container_id)
            self.assertEqual(proc_rows[0][0]["pod_uid"], pod_uid)

    def test_docker_cgroupfs_driver(self):
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        self.check_container(f"/docker/{cid}", cid, "")

    def test_kubepods_cgroupfs_driver(self):
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        pod = str(uuid.uuid4())
        self.check_container(f"/kubepods/burstable/pod{pod}/{cid}", cid, pod)


if __name__ == "__main__":
    e2e.main()
