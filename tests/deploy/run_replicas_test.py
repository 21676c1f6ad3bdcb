"""deploy/run-replicas.sh 2, as an operator uses it: both replicas serve one database (an
invitation created through one is listed by the other), each has its own metrics port, and
Ctrl-C (SIGINT to the whole process group) stops the replicas and the database.

Free ports everywhere: the port bases are picked where every port of the three ranges is free,
the database gets a free port, and the data lives in a temporary LOCAL_DIR. Keycloak is not
needed here, so INVITATIONS_KEYCLOAK_URL points at a closed port and no stand-in is started.

    run_replicas_test.py --repo DIR --build-dir DIR
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import local_run  # noqa: E402

ARGS = None
N = 2


class RunReplicas(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="replicas-", dir="/tmp")
        # Three port bases, each followed by N - 1 free ports, the ranges apart.
        start = local_run.free_port_block([base + i for base in (0, 100, 200) for i in range(N)])
        self.grpc, self.metrics, self.web = start, start + 100, start + 200
        self.replicas = local_run.ReplicasScript(
            ARGS.repo, ARGS.build_dir,
            [os.path.join(ARGS.repo, "deploy", "run-replicas.sh"), str(N)], "REPLICAS", self.tmp,
            db=local_run.free_port(), grpc=self.grpc, metrics=self.metrics, web=self.web)
        self.script = self.replicas.process

    def tearDown(self):
        self.replicas.kill()
        local_run.stop_mariadb(ARGS.repo, os.path.join(self.tmp, "replicas", "mariadb"))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_replicas_share_one_database_and_ctrl_c_stops_everything(self):
        self.replicas.wait_until_serving(180)
        for replica in range(1, N + 1):
            self.assertIn("127.0.0.1:%d" % (self.grpc + replica - 1), self.replicas.output())

        email = "replicas.%d@example.com" % os.getpid()
        created = self.replicas.invitectl(1, "create", "--email", email, "--role", "vpn-user",
                                          "--tenant", "replicas")
        self.assertEqual(created.returncode, 0, created.stderr)
        listed = self.replicas.invitectl(2, "list", "--tenant", "replicas")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn(email, listed.stdout)
        for replica in range(1, N + 1):
            health = self.replicas.invitectl(replica, "health")
            self.assertEqual((health.returncode, health.stdout), (0, "SERVING\n"), health.stderr)
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/metrics" % (self.metrics + replica - 1),
                    timeout=10) as response:
                self.assertIn(b"grpc_server_handled_total", response.read())

        os.killpg(self.script.pid, signal.SIGINT)
        self.assertEqual(self.script.wait(timeout=120), 130, self.replicas.output())
        self.assertIn("run-replicas: stopped", self.replicas.output())
        for base in (self.grpc, self.metrics, self.web):
            for i in range(N):
                self.assertTrue(local_run.nothing_listens(base + i),
                                "port %d still served" % (base + i))
        status = subprocess.run([os.path.join(ARGS.repo, "deploy", "mariadb.sh"), "status",
                                 os.path.join(self.tmp, "replicas", "mariadb")],
                                stdout=subprocess.DEVNULL)
        self.assertEqual(status.returncode, 3, "the database is still running")


if __name__ == "__main__":
    ARGS, argv = local_run.parse_args("--repo", "--build-dir")
    ARGS.build_dir = os.path.abspath(ARGS.build_dir)
    unittest.main(argv=argv, verbosity=2)
