"""deploy/run-galera.sh and deploy/galera.sh, as an operator uses them: three replicas on a
three-node cluster share every invitation and Ctrl-C stops replicas and nodes; then the same
cluster restarts from a graceful stop, rejoins a crashed node, recovers from a crash of every
node (keeping the data each time), refuses nothing it should not, and stops.

Free ports everywhere, and the data lives in a temporary LOCAL_DIR under /tmp (whose parents the
nodes' `mysql` user can traverse). Keycloak is not needed here, so INVITATIONS_KEYCLOAK_URL points
at a closed port and no stand-in is started. One cluster for the whole flow: each cold start
costs seconds.

    galera_scripts_test.py --repo DIR --build-dir DIR
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import local_run  # noqa: E402

ARGS = None
N = 3


def mariadbd_pids(cluster_dir):
    """The mariadbd processes serving a node of `cluster_dir`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if len(args) > 1 and args[1].decode(errors="replace").startswith(
                "--defaults-file=%s/node" % cluster_dir):
            found.append(int(pid))
    return found


class GaleraScripts(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="galera-", dir="/tmp")
        # mkdtemp makes it 0700; the nodes run as `mysql` and must get through it.
        os.chmod(self.tmp, 0o755)
        self.cluster = os.path.join(self.tmp, "galera", "cluster")
        # The nodes' MySQL ports, their Galera ports (base + 100, three per node) and the
        # replicas' gRPC, metrics and web ports, every port free.
        wanted = list(range(N)) + [100 + i for i in range(3 * N)]
        wanted += [first + i for first in (200, 300, 400) for i in range(N)]
        base = local_run.free_port_block(wanted)
        self.db, self.grpc = base, base + 200
        self.replicas = local_run.ReplicasScript(
            ARGS.repo, ARGS.build_dir, [os.path.join(ARGS.repo, "deploy", "run-galera.sh")],
            "GALERA", self.tmp, db=base, grpc=base + 200, metrics=base + 300, web=base + 400)
        self.script = self.replicas.process

    def tearDown(self):
        self.replicas.kill()
        self.galera("stop")
        for pid in mariadbd_pids(self.cluster):  # Whatever a failed step left behind.
            os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def galera(self, *args):
        return subprocess.run([os.path.join(ARGS.repo, "deploy", "galera.sh"), args[0],
                               self.cluster] + list(args[1:]),
                              capture_output=True, text=True, timeout=600)

    def start(self):
        started = self.galera("start", str(self.db))
        self.assertEqual(started.returncode, 0, started.stdout + started.stderr)
        return started

    def sql(self, node, statement):
        """`statement` on node (1..N) over TCP as root without a password, after the node has
        applied everything committed before (a causal read)."""
        result = subprocess.run(
            ["mariadb", "-h127.0.0.1", "-P%d" % (self.db + node - 1), "-uroot", "-N", "-B",
             "-e", "SET SESSION wsrep_sync_wait = 1; " + statement],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def assert_synced(self):
        status = self.galera("status")
        self.assertEqual(status.returncode, 0, status.stdout + status.stderr)
        self.assertEqual(status.stdout.count("Synced, cluster size 3, Primary"), N, status.stdout)

    def count_invitation(self, node, invitation_id):
        return self.sql(node, "SELECT COUNT(*) FROM invitations.invitations WHERE id = '%s'"
                        % invitation_id)

    def test_replicas_share_the_cluster_and_the_cluster_survives_stops_and_crashes(self):
        self.replicas.wait_until_serving(300)
        # Each replica names every node, its own first, so it moves to a live node.
        for node in range(1, N + 1):
            hosts = ",".join("127.0.0.1:%d" % (self.db + (node - 1 + k) % N) for k in range(N))
            self.assertIn("mysql://root@%s/invitations" % hosts, self.replicas.output())
        self.assert_synced()

        # Through replica 1 (node 1), read back through replica 3 (node 3).
        email = "galera.%d@example.com" % os.getpid()
        created = self.replicas.invitectl(1, "create", "--email", email, "--role", "vpn-user",
                                          "--tenant", "galera", "--suppress-email")
        self.assertEqual(created.returncode, 0, created.stderr)
        invitation_id = next(line.split()[1] for line in created.stdout.splitlines()
                             if line.startswith("id:"))
        got = self.replicas.invitectl(3, "get", invitation_id)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn(email, got.stdout)

        os.killpg(self.script.pid, signal.SIGINT)
        self.assertEqual(self.script.wait(timeout=300), 130, self.replicas.output())
        self.assertIn("run-galera: stopped", self.replicas.output())
        self.assertEqual(mariadbd_pids(self.cluster), [])
        self.assertEqual(self.galera("status").returncode, 3)

        # From a graceful stop: the last node standing bootstraps, the others rejoin.
        self.start()
        self.assert_synced()
        self.assertEqual(self.count_invitation(2, invitation_id), "1\n")
        again = self.start()
        self.assertIn("already running", again.stdout)

        # One node crashes: only it is started again, and it catches up.
        node2 = [pid for pid in mariadbd_pids(self.cluster)
                 if "/node2/" in open("/proc/%d/cmdline" % pid).read()]
        self.assertEqual(len(node2), 1)
        os.killpg(node2[0], signal.SIGKILL)
        self.sql(1, "CREATE TABLE invitations.galera_check (id INT PRIMARY KEY)")
        rejoined = self.start()
        self.assertIn("node 2 joins", rejoined.stderr)
        self.assertNotIn("bootstraps", rejoined.stderr)
        self.assert_synced()
        self.assertEqual(self.sql(2, "SHOW TABLES FROM invitations LIKE 'galera_check'"),
                         "galera_check\n")

        # Every node crashes: none is marked safe to bootstrap; the most advanced one is found.
        for pid in mariadbd_pids(self.cluster):
            os.killpg(pid, signal.SIGKILL)
        local_run.wait_for("the nodes to die", lambda: not mariadbd_pids(self.cluster), 30)
        recovered = self.start()
        self.assertIn("recovered position", recovered.stderr)
        self.assert_synced()
        self.assertEqual(self.count_invitation(3, invitation_id), "1\n")

        stopped = self.galera("stop")
        self.assertEqual(stopped.returncode, 0, stopped.stderr)
        self.assertEqual(mariadbd_pids(self.cluster), [])


if __name__ == "__main__":
    ARGS, argv = local_run.parse_args("--repo", "--build-dir")
    ARGS.build_dir = os.path.abspath(ARGS.build_dir)
    unittest.main(argv=argv, verbosity=2)
