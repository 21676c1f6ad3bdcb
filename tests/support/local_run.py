"""Helpers shared by the Python tests that run the service the way an operator does: the deploy
scripts (deploy/run-replicas.sh, deploy/run-galera.sh) and a bare invitation_server on a private
MariaDB (tests/deploy/k8s_probes_test.py, tests/deploy/prometheus_scrape_test.py).

A plain module, not a framework: each test imports it by adding this folder to sys.path relative
to its own file, so the tests also run by hand without ctest.
"""

import argparse
import ctypes
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time


def parse_args(*required):
    """The test's own options (each `required` one takes a value) and the argv left for
    unittest.main, so unittest's flags (-k, -v, a test name) still work when run by hand."""
    parser = argparse.ArgumentParser()
    for option in required:
        parser.add_argument(option, required=True)
    args, rest = parser.parse_known_args()
    return args, [sys.argv[0]] + rest


def port_free(port):
    """Whether `port` can be bound on loopback now: the scripts take fixed port bases, so the
    test must pick bases whose every port is free, not ask the kernel for one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def nothing_listens(port):
    """Whether no one accepts connections on `port`: what is left after a clean stop."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port():
    """A port the kernel says is free now, for a single listener a test starts itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(offsets):
    """A start port, a multiple of 10, such that start + every offset is free.

    Below Linux's ephemeral range (32768+), so outgoing connections do not take the ports between
    the check and the script's bind."""
    for _ in range(200):
        start = random.randrange(20000, 32768 - max(offsets), 10)
        if all(port_free(start + offset) for offset in offsets):
            return start
    raise AssertionError("no free port ranges found")


def wait_for(what, condition, timeout_s, on_timeout=lambda: ""):
    """Polls `condition` until it returns a truthy value, which is returned. A condition may raise
    to fail at once (e.g. when the process it waits for has exited)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s\n%s"
                                 % (timeout_s, what, on_timeout()))
        time.sleep(0.2)


def read(path):
    """The file's text, or "" while it does not exist yet (a log the child has not opened)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def clean_env():
    """This process's environment without INVITATIONS_*: a developer's own settings must not
    reach the server or invitectl under test."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INVITATIONS_")}


def die_with_parent():
    """Children get SIGKILL if the test process dies, so nothing outlives a killed test."""
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_mariadb(repo, db_dir):
    """A private MariaDB in `db_dir` started with deploy/mariadb.sh, as an operator would; its
    port."""
    port = free_port()
    subprocess.run([os.path.join(repo, "deploy", "mariadb.sh"), "start", db_dir, str(port)],
                   check=True, stdout=subprocess.DEVNULL)
    return port


def stop_mariadb(repo, db_dir):
    """Stops deploy/mariadb.sh's database in `db_dir`; quiet when it is not running."""
    subprocess.run([os.path.join(repo, "deploy", "mariadb.sh"), "stop", db_dir],
                   stdout=subprocess.DEVNULL)


def server_env(db_port, mail_dir):
    """invitation_server's settings for a test: the private database, every listener on a free
    port (the serving line says which), no authentication, mail to files."""
    env = clean_env()
    env.update({
        "INVITATIONS_MYSQL_URI": "mysql://root@127.0.0.1:%d/invitations" % db_port,
        "INVITATIONS_GRPC_ADDRESS": "127.0.0.1:0",
        "INVITATIONS_METRICS_ADDRESS": "127.0.0.1:0",
        "INVITATIONS_WEB_ADDRESS": "127.0.0.1:0",
        "INVITATIONS_AUTH": "disabled",
        "INVITATIONS_MAIL_DIR": mail_dir,
    })
    return env


def start_server(server, env, log_path):
    """invitation_server in the background, its output in `log_path`. Returned before it serves,
    so the caller can record it for clean-up before waiting (see wait_for_serving)."""
    with open(log_path, "w") as log:
        return subprocess.Popen([server], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def wait_for_serving(process, log_path, timeout_s=60):
    """invitation_server's "serving" log entry (it names the ports it bound), once written;
    fails at once with the log if the server exits first."""
    def serving_line():
        if process.poll() is not None:
            raise AssertionError("invitation_server exited (%s):\n%s"
                                 % (process.returncode, read(log_path)))
        for line in read(log_path).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "serving":
                return entry
        return None

    return wait_for("invitation_server's serving line", serving_line, timeout_s,
                    lambda: read(log_path))


def stop_process(process):
    """SIGTERM (the server drains its calls first), then SIGKILL if it takes longer than 40s."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ReplicasScript:
    """deploy/run-replicas.sh or deploy/run-galera.sh run as from an operator's terminal: its own
    process group (Ctrl-C goes to the script and every replica), SIGINT not ignored, and its
    output in `local_dir`/out.txt. `prefix` names the script's settings (REPLICAS, GALERA):
    <prefix>_SKIP_BUILD, <prefix>_{DB,GRPC,METRICS,WEB}_PORT. Keycloak is not needed by these
    tests, so INVITATIONS_KEYCLOAK_URL points at a closed port and no stand-in is started."""

    def __init__(self, repo, build_dir, argv, prefix, local_dir, db, grpc, metrics, web):
        self.build_dir = build_dir
        self.name = os.path.basename(argv[0])
        self.grpc = grpc
        env = clean_env()
        env.update({
            "BUILD_DIR": build_dir,
            prefix + "_SKIP_BUILD": "1",
            "LOCAL_DIR": local_dir,
            prefix + "_DB_PORT": str(db),
            prefix + "_GRPC_PORT": str(grpc),
            prefix + "_METRICS_PORT": str(metrics),
            prefix + "_WEB_PORT": str(web),
            "INVITATIONS_KEYCLOAK_URL": "http://127.0.0.1:1",
            "INVITATIONS_KEYCLOAK_CLIENT_SECRET": "unused-here",
        })
        self.out_path = os.path.join(local_dir, "out.txt")
        self.out = open(self.out_path, "w")
        # A shell started in the background would ignore SIGINT; an operator's terminal does not.
        self.process = subprocess.Popen(
            argv, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def output(self):
        with open(self.out_path) as f:
            return f.read()

    def wait_until_serving(self, timeout_s):
        """Until the script prints how to call the replicas (it does once every one serves);
        fails at once with its output if it exits first."""
        def ready():
            if self.process.poll() is not None:
                raise AssertionError("%s exited:\n%s" % (self.name, self.output()))
            return "Ctrl-C stops" in self.output()

        wait_for("the replicas to serve", ready, timeout_s)

    def kill(self):
        """For tearDown: SIGKILL to the whole group, whatever a failed test left running."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.out.close()

    def invitectl(self, replica, *args):
        """The built invitectl against replica (1..N) with the SuperAdmin token the script
        printed, as the operator would paste it."""
        token = next(line.split("=", 1)[1].strip() for line in self.output().splitlines()
                     if "export INVITATIONS_TOKEN=" in line)
        env = clean_env()
        env["INVITATIONS_TOKEN"] = token
        return subprocess.run(
            [os.path.join(self.build_dir, "client", "invitectl"),
             "--address", "127.0.0.1:%d" % (self.grpc + replica - 1)] + list(args),
            env=env, capture_output=True, text=True, timeout=60)
