#!/usr/bin/env python3
"""The agent in a cgroup namespace of its own, as in a container on a cgroup v2 node: it must still export the
container beside it, with the right container_id, pod_uid and the host's cgroup path. With CAP_SYS_ADMIN it joins
pid 1's namespace; without it, it finds its own cgroup in the hierarchy and resolves the '/../' paths against it.

pid 1 of this machine may not be readable (a sandbox's init), so the test gives the agent a pid namespace whose
pid 1 is a shell in the test's own cgroup namespace, the way hostPID gives a DaemonSet pod the host's init."""

import shutil
import textwrap
import unittest
import uuid

import memsight_e2e as e2e
from test_containers import MiB, FakeContainer

CONFIG = "processes:\n  top_by_rss: 10000\n"


class CgroupNamespace(unittest.TestCase):
    def run_agent_in_own_namespace(self, drop_sys_admin):
        for tool in ("unshare", "setpriv"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} (util-linux) is needed")
        tag = uuid.uuid4().hex[:12]
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        pod = str(uuid.uuid4())
        relpath = f"/kubepods/burstable/pod{pod}/{cid}"
        with FakeContainer(f"/memsight-e2e-agent-{tag}", 1 << 30) as agent_cg, \
                FakeContainer(relpath, 512 * MiB) as c:
            # pid 1 (this script) stays in the test's cgroup namespace. The "container" is a process in the fake
            # container's cgroup. The agent moves into a cgroup of its own and unshares: its namespace root is
            # that cgroup, one level below the hierarchy's root, so other processes' paths read "/../kubepods/...".
            drop = "setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin" if drop_sys_admin else ""
            init = textwrap.dedent(f"""\
                sh -c 'echo $$ > "{c.path}/cgroup.procs" && exec sleep 600' &
                sh -c 'echo $$ > "{agent_cg.path}/cgroup.procs" && exec unshare -C {drop} "$@"' sh "$@" &
                wait $!
                """)
            wrap = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", init, "sh"]
            with e2e.Agent(config_text=CONFIG, wrap=wrap) as agent:
                rows = agent.wait_for(
                    lambda m: e2e.select(m, "memsight_container_memory_usage_bytes", container_id=cid),
                    what=f"container {cid[:12]} seen from the agent's own cgroup namespace")
                labels, usage = rows[0]
                self.assertEqual(labels["pod_uid"], pod)
                self.assertGreater(usage, 0)
                procs = e2e.select(agent.scrape(), "memsight_container_processes", container_id=cid)
                self.assertEqual(procs[0][1], 1)
                return labels["cgroup"], relpath, agent.logs()

    def test_joins_the_host_namespace_with_cap_sys_admin(self):
        cgroup, relpath, logs = self.run_agent_in_own_namespace(drop_sys_admin=False)
        self.assertIn("cgroup namespace: joined the host's", logs)
        self.assertEqual(cgroup, relpath)  # host paths again

    def test_resolves_paths_against_its_own_root_without_cap_sys_admin(self):
        cgroup, relpath, logs = self.run_agent_in_own_namespace(drop_sys_admin=True)
        self.assertIn("cannot join the host's", logs)
        self.assertIn("joining needs CAP_SYS_ADMIN", logs)
        self.assertIn("other processes' cgroup paths are resolved against it", logs)
        self.assertEqual(cgroup, relpath)  # '/../kubepods/...' resolved against /memsight-e2e-agent-<tag>


if __name__ == "__main__":
    e2e.main()
