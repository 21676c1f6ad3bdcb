"""deploy/run-replicas.sh 2, as an operator uses it: both replicas serve one database (an
invitation created through one is listed by the other), each has its own metrics port, and
Ctrl-C (SIGINT to the whole process group) stops the replicas and the database.

Free ports everywhere: the port bases are picked where every port of the three ranges is free,
the database gets a free port, and the data lives in a temporary LOCAL_DIR. Keycloak is not
needed here, so INVITATIONS_KEYCLOAK_URL points at a closed port and no stand-in is started.

    run_replicas_test.py --repo DIR --build-dir DIR
"""

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

ARGS = None
N = 2


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def nothing_listens(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_bases(count):
    """Three port bases, each followed by `count - 1` free ports, the ranges apart."""
    for _ in range(200):
        # Below Linux's ephemeral range (32768+), so outgoing connections do not take them.
        start = random.randrange(20000, 32400, 10)
        bases = [start, start + 100, start + 200]
        if all(port_free(b + i) for b in bases for i in range(count)):
            return bases
    raise AssertionError("no free port ranges found")


def wait_for(what, condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


class RunReplicas(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="replicas-", dir="/tmp")
        self.grpc, self.metrics, self.web = free_bases(N)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVITATIONS_")}
        env.update({
            "BUILD_DIR": ARGS.build_dir,
            "REPLICAS_SKIP_BUILD": "1",
            "LOCAL_DIR": self.tmp,
            "REPLICAS_DB_PORT": str(free_port()),
            "REPLICAS_GRPC_PORT": str(self.grpc),
            "REPLICAS_METRICS_PORT": str(self.metrics),
            "REPLICAS_WEB_PORT": str(self.web),
            "INVITATIONS_KEYCLOAK_URL": "http://127.0.0.1:1",
            "INVITATIONS_KEYCLOAK_CLIENT_SECRET": "unused-here",
        })
        self.out_path = os.path.join(self.tmp, "out.txt")
        self.out = open(self.out_path, "w")
        # A shell started in the background would ignore SIGINT; an operator's terminal does not.
        self.script = subprocess.Popen(
            [os.path.join(ARGS.repo, "deploy", "run-replicas.sh"), str(N)], cwd=ARGS.repo,
            env=env, stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def tearDown(self):
        if self.script.poll() is None:
            os.killpg(self.script.pid, signal.SIGKILL)
            self.script.wait()
        subprocess.run([os.path.join(ARGS.repo, "deploy", "mariadb.sh"), "stop",
                        os.path.join(self.tmp, "replicas", "mariadb")], stdout=subprocess.DEVNULL)
        self.out.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def output(self):
        with open(self.out_path) as f:
            return f.read()

    def invitectl(self, replica, *args):
        token = next(line.split("=", 1)[1].strip() for line in self.output().splitlines()
                     if "export INVITATIONS_TOKEN=" in line)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVITATIONS_")}
        env["INVITATIONS_TOKEN"] = token
        return subprocess.run(
            [os.path.join(ARGS.build_dir, "client", "invitectl"),
             "--address", "127.0.0.1:%d" % (self.grpc + replica - 1)] + list(args),
            env=env, capture_output=True, text=True, timeout=60)

    def test_replicas_share_one_database_and_ctrl_c_stops_everything(self):
        def ready():
            if self.script.poll() is not None:
                raise AssertionError("run-replicas.sh exited:\n" + self.output())
            return "Ctrl-C stops" in self.output()

        wait_for("the replicas to serve", ready, 180)
        for replica in range(1, N + 1):
            self.assertIn("127.0.0.1:%d" % (self.grpc + replica - 1), self.output())

        email = "replicas.%d@example.com" % os.getpid()
        created = self.invitectl(1, "create", "--email", email, "--role", "vpn-user",
                                 "--tenant", "replicas")
        self.assertEqual(created.returncode, 0, created.stderr)
        listed = self.invitectl(2, "list", "--tenant", "replicas")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn(email, listed.stdout)
        for replica in range(1, N + 1):
            health = self.invitectl(replica, "health")
            self.assertEqual((health.returncode, health.stdout), (0, "SERVING\n"), health.stderr)
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/metrics" % (self.metrics + replica - 1),
                    timeout=10) as response:
                self.assertIn(b"grpc_server_handled_total", response.read())

        os.killpg(self.script.pid, signal.SIGINT)
        self.assertEqual(self.script.wait(timeout=120), 130, self.output())
        self.assertIn("run-replicas: stopped", self.output())
        for base in (self.grpc, self.metrics, self.web):
            for i in range(N):
                self.assertTrue(nothing_listens(base + i), "port %d still served" % (base + i))
        status = subprocess.run([os.path.join(ARGS.repo, "deploy", "mariadb.sh"), "status",
                                 os.path.join(self.tmp, "replicas", "mariadb")],
                                stdout=subprocess.DEVNULL)
        self.assertEqual(status.returncode, 3, "the database is still running")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--build-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.build_dir = os.path.abspath(ARGS.build_dir)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
