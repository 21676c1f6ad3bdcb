"""The registration page's test environment: a private MariaDB (deploy/mariadb.sh), the Keycloak
stand-in (tests/keycloak/keycloak_standin.py), and the real invitation_server writing its email as
.eml files, all on free loopback ports in a temporary directory, torn down at exit. Admin calls go
through the real invitectl (authentication disabled: every caller is a SuperAdmin)."""

import email
import email.policy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import local_run  # noqa: E402

PYTHON = "/usr/bin/python3"
# The realm the stand-in serves: the one deploy/ ships.
REALM_FILE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                           "deploy", "keycloak", "realm-securelink.json"))
STANDIN_SECRET = "standin-secret"


def wait_for(condition, what, timeout=30.0, interval=0.05):
    """Polls `condition` until it returns something truthy (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Environment:
    def __init__(self, server, invitectl, standin, mariadb_script, extra_env=None,
                 password_policy=None, web_port_zero=False):
        """With `web_port_zero` the page listens on 127.0.0.1:0 and web_url comes from the
        "serving" log line (the links in emails then name an unused port: use their path).
        `password_policy` overrides the realm's (a Keycloak policy string)."""
        self.web_port_zero = web_port_zero
        self.server_path = server
        self.invitectl_path = invitectl
        self.dir = tempfile.mkdtemp(prefix="web-test-")
        self.mail_dir = os.path.join(self.dir, "mail")
        os.makedirs(self.mail_dir)
        self.procs = []
        self.mariadb_script = mariadb_script
        self.db_dir = os.path.join(self.dir, "db")
        try:
            self._start(standin, extra_env or {}, password_policy)
        except BaseException:
            self.close()
            raise

    def _start(self, standin, extra_env, password_policy):
        db_port = local_run.free_port()
        subprocess.run(["bash", self.mariadb_script, "start", self.db_dir, str(db_port)],
                       check=True, stdout=subprocess.DEVNULL)
        self.standin_log = standin_log = open(os.path.join(self.dir, "standin.log"), "w")
        standin_args = ["--port", "0", "--realm-file", REALM_FILE,
                        "--client-secret", STANDIN_SECRET]
        if password_policy is not None:
            standin_args += ["--password-policy", password_policy]
        self.standin = subprocess.Popen([PYTHON, standin, *standin_args],
                                        stdout=subprocess.PIPE, stderr=standin_log, text=True)
        self.procs.append(self.standin)
        line = self.standin.stdout.readline()
        m = re.match(r"LISTENING (\d+)", line)
        if not m:
            raise RuntimeError(f"the Keycloak stand-in did not start: {line!r}")
        self.standin_url = f"http://127.0.0.1:{m.group(1)}"

        self.grpc_address = f"127.0.0.1:{local_run.free_port()}"
        web_port = 0 if self.web_port_zero else local_run.free_port()
        self.web_url = f"http://127.0.0.1:{web_port or local_run.free_port()}"
        metrics_port = local_run.free_port()
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVITATIONS_")}
        env.update({
            "INVITATIONS_GRPC_ADDRESS": self.grpc_address,
            "INVITATIONS_WEB_ADDRESS": f"127.0.0.1:{web_port}",
            "INVITATIONS_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
            "INVITATIONS_REGISTRATION_BASE_URL": f"{self.web_url}/register",
            "INVITATIONS_LOGIN_URL": "https://login.example.test/",
            "INVITATIONS_MYSQL_URI": f"mysql://root@127.0.0.1:{db_port}/invitations",
            "INVITATIONS_AUTH": "disabled",
            "INVITATIONS_MAIL_DIR": self.mail_dir,
            "INVITATIONS_KEYCLOAK_URL": self.standin_url,
            "INVITATIONS_KEYCLOAK_CLIENT_SECRET": STANDIN_SECRET,
            "INVITATIONS_TTL_MIN": "1s",
        })
        env.update(extra_env)
        self.server_log_path = os.path.join(self.dir, "server.log")
        self.server_log = open(self.server_log_path, "w")
        self.server = subprocess.Popen([self.server_path], env=env, stdout=self.server_log,
                                       stderr=subprocess.STDOUT)
        self.procs.append(self.server)
        wait_for(lambda: '"msg":"serving"' in self.log() or self.server.poll() is not None,
                 "invitation_server to serve", timeout=60)
        if self.server.poll() is not None:
            raise RuntimeError("invitation_server exited:\n" + self.log())
        if self.web_port_zero:
            # A number, or (in older logs) a string holding one.
            m = re.search(r'"msg":"serving".*"web_port":"?(\d+)', self.log())
            if not m:
                raise RuntimeError("no web_port in the serving line:\n" + self.log())
            self.web_url = f"http://127.0.0.1:{m.group(1)}"

    def log(self):
        with open(self.server_log_path) as f:
            return f.read()

    def close(self):
        for p in reversed(self.procs):
            local_run.stop_process(p)
        for f in (getattr(self, "server_log", None), getattr(self, "standin_log", None),
                  getattr(getattr(self, "standin", None), "stdout", None)):
            if f is not None:
                f.close()
        if os.path.isdir(self.db_dir):
            subprocess.run(["bash", self.mariadb_script, "stop", self.db_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- admin calls through invitectl ---
    def invitectl(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVITATIONS_")}
        env["INVITATIONS_ADDRESS"] = self.grpc_address
        done = subprocess.run([self.invitectl_path, *args, "--json"], env=env,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(f"invitectl {' '.join(args)} failed: {done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def invite(self, email_address, role="vpn-user", tenant="acme", ttl=None):
        args = ["create", "--email", email_address, "--role", role]
        if tenant:
            args += ["--tenant", tenant]
        if ttl:
            args += ["--ttl", ttl]
        created = self.invitectl(*args)
        return created.get("invitation", created)

    def get(self, invitation_id):
        """The invitation as GetInvitation returns it (JSON field names)."""
        got = self.invitectl("get", invitation_id)
        return got.get("invitation", got)

    def events(self, tenant):
        """The recorded audit events of `tenant`, oldest first (invitectl events: one JSON object
        per line)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVITATIONS_")}
        env["INVITATIONS_ADDRESS"] = self.grpc_address
        done = subprocess.run([self.invitectl_path, "events", "--tenant", tenant, "--after", "0",
                               "--json"], env=env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(f"invitectl events failed: {done.stderr}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def state(self, invitation_id):
        """"PENDING", "ACCEPTED", … as the service reports it."""
        got = self.invitectl("get", invitation_id)
        got = got.get("invitation", got)
        return got["state"].replace("INVITATION_STATE_", "")

    # --- the delivered email ---
    def link_from_email(self, to, after=0):
        """The registration link of the newest .eml for `to` written after the `after`-th one."""
        def find():
            messages = []
            for path in sorted(glob.glob(os.path.join(self.mail_dir, "**", "*.eml"),
                                         recursive=True), key=os.path.getmtime):
                with open(path, "rb") as f:
                    msg = email.message_from_binary_file(f, policy=email.policy.default)
                if msg["To"] and to in str(msg["To"]):
                    messages.append(msg)
            if len(messages) <= after:
                return None
            text = messages[-1].get_body(preferencelist=("plain",)).get_content()
            m = re.search(r"(https?://\S+/register\?token=[A-Za-z0-9_\-]+)", text)
            return m.group(1) if m else None
        return wait_for(find, f"the invitation email to {to}")

    # --- the Keycloak stand-in ---
    def keycloak_users(self):
        with urllib.request.urlopen(f"{self.standin_url}/_standin/users", timeout=10) as r:
            return json.loads(r.read())

    def keycloak_login(self, username, password):
        """The HTTP status of a password grant through admin-cli (the direct-grant client
        Keycloak adds to every realm): 200 when the user can log in with nothing left to do."""
        form = urllib.parse.urlencode({"grant_type": "password", "client_id": "admin-cli",
                                       "username": username, "password": password}).encode()
        try:
            with urllib.request.urlopen(
                    f"{self.standin_url}/realms/securelink/protocol/openid-connect/token",
                    data=form, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


def unique_email(prefix):
    unique_email.n += 1
    return f"{prefix}.{os.getpid()}.{unique_email.n}@example.com"


unique_email.n = 0


def parse_args(argv):
    """--server, --invitectl, --standin, --mariadb-script; the rest goes to unittest."""
    import argparse
    parser = argparse.ArgumentParser()
    for name in ("server", "invitectl", "standin", "mariadb-script"):
        parser.add_argument(f"--{name}", required=True)
    args, rest = parser.parse_known_args(argv[1:])
    return args, [argv[0]] + rest
