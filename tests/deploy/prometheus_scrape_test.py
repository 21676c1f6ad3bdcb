"""A real Prometheus, configured with deploy/prometheus/prometheus.yml, scrapes a running
invitation_server and answers queries about what the service did.

Everything is real and private to the test: a MariaDB started with deploy/mariadb.sh, the built
invitation_server (every listener on a free port), calls made with the built invitectl, and the
`prometheus` binary (Debian's package) on a free port with its storage in a temporary directory.
The only change to deploy's config is the target address (and absolute paths for its rule files).

    prometheus_scrape_test.py --repo DIR --server BIN --invitectl BIN --prometheus BIN
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import urllib.request

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import local_run  # noqa: E402

ARGS = None
# Generous: Prometheus scrapes every 15s (deploy's setting) and the machine is shared.
READY_TIMEOUT_S = 90
CREATES = 3


def http_json(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


class PrometheusScrapesTheService(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="promscrape-", dir="/tmp")
        cls.db_dir = os.path.join(cls.tmp, "db")
        cls.server = None
        cls.prometheus = None
        try:
            cls._start_database()
            cls._start_server()
            cls._make_calls()
            cls._start_prometheus()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for process in (cls.prometheus, cls.server):
            local_run.stop_process(process)
        if os.path.isdir(cls.db_dir):
            local_run.stop_mariadb(ARGS.repo, cls.db_dir)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def _start_database(cls):
        cls.db_port = local_run.start_mariadb(ARGS.repo, cls.db_dir)

    @classmethod
    def _start_server(cls):
        env = local_run.server_env(cls.db_port, os.path.join(cls.tmp, "mail"))
        cls.server_log = os.path.join(cls.tmp, "server.log")
        cls.server = local_run.start_server(ARGS.server, env, cls.server_log)
        serving = local_run.wait_for_serving(cls.server, cls.server_log)
        cls.grpc_port = int(serving["port"])
        if "metrics_port" not in serving:
            raise AssertionError("the serving line names no metrics_port: %s" % serving)
        cls.metrics_port = int(serving["metrics_port"])

    @classmethod
    def invitectl(cls, *args):
        env = local_run.clean_env()
        env["INVITATIONS_ADDRESS"] = "127.0.0.1:%d" % cls.grpc_port
        return subprocess.run([ARGS.invitectl] + list(args), env=env, capture_output=True,
                              text=True, timeout=60)

    @classmethod
    def _make_calls(cls):
        for i in range(CREATES):
            result = cls.invitectl("create", "--email", "scrape%d.%d@example.com" % (i, os.getpid()),
                                   "--role", "vpn-user", "--tenant", "acme", "--suppress-email")
            assert result.returncode == 0, result.stderr
        # One refused call: a malformed id is INVALID_ARGUMENT.
        result = cls.invitectl("get", "not-a-uuid")
        assert result.returncode == 1, (result.returncode, result.stderr)

    @classmethod
    def _start_prometheus(cls):
        deploy = os.path.join(ARGS.repo, "deploy", "prometheus")
        with open(os.path.join(deploy, "prometheus.yml")) as f:
            config = yaml.safe_load(f)
        jobs = [j for j in config["scrape_configs"] if j["job_name"] == "invitations"]
        assert len(jobs) == 1, "deploy/prometheus/prometheus.yml has no invitations job"
        jobs[0]["static_configs"] = [{"targets": ["127.0.0.1:%d" % cls.metrics_port]}]
        config["rule_files"] = [os.path.join(deploy, r) for r in config.get("rule_files", [])]
        config_path = os.path.join(cls.tmp, "prometheus.yml")
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)

        # A free port can be taken between the check and Prometheus' bind: try a few.
        for attempt in range(3):
            cls.prometheus_port = local_run.free_port()
            cls.prometheus_log = os.path.join(cls.tmp, "prometheus-%d.log" % attempt)
            with open(cls.prometheus_log, "w") as log:
                cls.prometheus = subprocess.Popen(
                    [ARGS.prometheus, "--config.file=" + config_path,
                     "--storage.tsdb.path=" + os.path.join(cls.tmp, "tsdb-%d" % attempt),
                     "--web.listen-address=127.0.0.1:%d" % cls.prometheus_port],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    preexec_fn=local_run.die_with_parent)

            def ready():
                if cls.prometheus.poll() is not None:
                    return "exited"
                try:
                    with urllib.request.urlopen(cls.url("/-/ready"), timeout=2) as response:
                        return "ready" if response.status == 200 else None
                except OSError:
                    return None

            state = local_run.wait_for("Prometheus to be ready", ready, READY_TIMEOUT_S,
                                       lambda: local_run.read(cls.prometheus_log))
            if state == "ready":
                return
            if "address already in use" not in local_run.read(cls.prometheus_log):
                raise AssertionError("prometheus exited:\n" + local_run.read(cls.prometheus_log))
        raise AssertionError("prometheus found no free port:\n"
                             + local_run.read(cls.prometheus_log))

    @classmethod
    def url(cls, path, **query):
        suffix = "?" + urllib.parse.urlencode(query) if query else ""
        return "http://127.0.0.1:%d%s%s" % (cls.prometheus_port, path, suffix)

    def query(self, promql):
        """The instant vector of `promql` as {frozenset(labels): value}, once non-empty."""
        def answer():
            body = http_json(self.url("/api/v1/query", query=promql))
            if body and body.get("status") == "success" and body["data"]["result"]:
                return body["data"]["result"]
            return None

        result = local_run.wait_for("Prometheus to return " + promql, answer, READY_TIMEOUT_S,
                                    lambda: local_run.read(self.prometheus_log)[-3000:])
        return {frozenset(r["metric"].items()): float(r["value"][1]) for r in result}

    def test_query_api_returns_the_services_grpc_counts(self):
        result = self.query('grpc_server_handled_total{job="invitations",'
                            'grpc_method="CreateInvitation",grpc_code="OK"}')
        self.assertEqual(list(result.values()), [CREATES])
        labels = dict(next(iter(result)))
        self.assertEqual(labels["grpc_service"], "securelink.invitations.v1.InvitationService")
        self.assertEqual(labels["grpc_type"], "unary")
        self.assertEqual(labels["instance"], "127.0.0.1:%d" % self.metrics_port)

    def test_refused_calls_are_counted_under_their_code(self):
        result = self.query('grpc_server_handled_total{job="invitations",'
                            'grpc_method="GetInvitation",grpc_code="InvalidArgument"}')
        self.assertEqual(list(result.values()), [1])

    def test_the_target_is_up(self):
        result = self.query('up{job="invitations"}')
        self.assertEqual(list(result.values()), [1])

    def test_deploys_alert_rules_load_and_evaluate(self):
        with open(os.path.join(ARGS.repo, "deploy", "prometheus", "alerts.yml")) as f:
            expected = {r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]}

        def rules_now():
            body = http_json(self.url("/api/v1/rules"))
            if not body or body.get("status") != "success":
                return None
            return [r for g in body["data"]["groups"] for r in g["rules"]] or None

        # Once the service's series are in, wait for one more evaluation of every rule, so that
        # the rules have seen real data.
        self.query('up{job="invitations"}')
        before = {r["name"]: r.get("lastEvaluation") for r in local_run.wait_for(
            "the alert rules to load", rules_now, READY_TIMEOUT_S)}

        def evaluated_since():
            rules = rules_now()
            if rules and all(r.get("lastEvaluation") != before.get(r["name"]) for r in rules):
                return rules
            return None

        rules = local_run.wait_for("the alert rules to be evaluated", evaluated_since,
                                   READY_TIMEOUT_S,
                                   lambda: local_run.read(self.prometheus_log)[-3000:])
        self.assertEqual({r["name"] for r in rules}, expected)
        for rule in rules:
            self.assertEqual(rule["health"], "ok", rule)
        # A healthy service raises none of them.
        self.assertEqual([r["name"] for r in rules if r["state"] != "inactive"], [])


if __name__ == "__main__":
    ARGS, argv = local_run.parse_args("--repo", "--server", "--invitectl", "--prometheus")
    unittest.main(argv=argv, verbosity=2)
