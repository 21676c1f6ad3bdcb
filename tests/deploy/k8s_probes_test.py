"""The Kubernetes probes of deploy/k8s/deployment.yaml, run as the kubelet would run them, against
invitation_server configured with the TLS settings of deploy/k8s/invitation-server.env (the
ConfigMap kustomization.yaml generates).

Everything is real and private to the test: a MariaDB started with deploy/mariadb.sh, a CA and a
pod certificate made by openssl the way deploy/k8s/cert-manager/certificate.yaml asks for one
(its dnsNames, its key type and usages; no loopback name), two invitation_server processes on
free ports (TLS as shipped, and with mutual TLS turned on as the ConfigMap describes), and each
probe's exec command with only the Secret's mount path and the port rewritten.

    k8s_probes_test.py --repo DIR --server BIN --invitectl BIN
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import local_run  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_settings  # noqa: E402

ARGS = None
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
SERVICE = "securelink.invitations.v1.InvitationService"


def load_k8s(name):
    with open(os.path.join(ARGS.repo, "deploy", "k8s", name)) as f:
        return yaml.safe_load(f)


class ProbesWorkAgainstTheTlsServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="k8sprobes-", dir="/tmp")
        cls.db_dir = os.path.join(cls.tmp, "db")
        cls.servers = {}
        deployment = load_k8s("deployment.yaml")
        cls.container = deployment["spec"]["template"]["spec"]["containers"][0]
        cls.config = k8s_settings.service_settings(os.path.join(ARGS.repo, "deploy", "k8s"))
        cls.certificate = load_k8s(os.path.join("cert-manager", "certificate.yaml"))
        cls.grpc_port = next(p["containerPort"] for p in cls.container["ports"]
                             if p["name"] == "grpc")
        cls.tls_mount = next(m["mountPath"] for m in cls.container["volumeMounts"]
                             if m["name"] == "tls")
        cls.tls_dir = os.path.join(cls.tmp, "tls")
        try:
            cls._make_pod_certificate()
            cls._start_database()
            cls._start_server("tls", mutual=False)
            cls._start_server("mtls", mutual=True)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for process, _ in cls.servers.values():
            local_run.stop_process(process)
        if os.path.isdir(cls.db_dir):
            local_run.stop_mariadb(ARGS.repo, cls.db_dir)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def in_pod(cls, path):
        """A path under the TLS Secret's mount, mapped to this test's directory."""
        prefix = cls.tls_mount.rstrip("/") + "/"
        assert path.startswith(prefix), "%s is not under %s" % (path, prefix)
        return os.path.join(cls.tls_dir, path[len(prefix):])

    @classmethod
    def _make_pod_certificate(cls):
        """What the issuer would write into the Secret: tls.crt, tls.key and ca.crt."""
        spec = cls.certificate["spec"]
        assert spec["privateKey"]["algorithm"] == "ECDSA" and spec["privateKey"]["size"] == 256
        os.makedirs(cls.tls_dir)
        path = lambda name: os.path.join(cls.tls_dir, name)  # noqa: E731

        def openssl(*args):
            subprocess.run(["/usr/bin/openssl"] + list(args), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=securelink probe test CA",
                "-keyout", path("ca.key"), "-out", path("ca.crt"))
        openssl("req", *ec, "-subj", "/CN=invitation-server", "-keyout", path("tls.key"),
                "-out", path("tls.csr"))
        usages = {"server auth": "serverAuth", "client auth": "clientAuth"}
        with open(path("tls.ext"), "w") as f:
            f.write("subjectAltName=%s\n" % ",".join("DNS:" + n for n in spec["dnsNames"]))
            f.write("extendedKeyUsage=%s\n"
                    % ",".join(usages[u] for u in spec["usages"] if u in usages))
        openssl("x509", "-req", "-in", path("tls.csr"), "-CA", path("ca.crt"), "-CAkey",
                path("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", path("tls.ext"),
                "-out", path("tls.crt"))

    @classmethod
    def _start_database(cls):
        cls.db_port = local_run.start_mariadb(ARGS.repo, cls.db_dir)

    @classmethod
    def _start_server(cls, name, mutual):
        env = local_run.server_env(cls.db_port, os.path.join(cls.tmp, "mail-" + name))
        for setting in ("INVITATIONS_TLS_CERT_FILE", "INVITATIONS_TLS_KEY_FILE"):
            env[setting] = cls.in_pod(cls.config[setting])
        if mutual:
            # What invitation-server.env's comment says to add for mutual TLS.
            env["INVITATIONS_TLS_CLIENT_CA_FILE"] = cls.in_pod(cls.tls_mount + "/ca.crt")
        log_path = os.path.join(cls.tmp, "server-%s.log" % name)
        process = local_run.start_server(ARGS.server, env, log_path)
        cls.servers[name] = (process, log_path)
        serving = local_run.wait_for_serving(process, log_path)
        setattr(cls, "port_" + name, int(serving["port"]))

    def probe_command(self, probe, port, drop=()):
        """The probe's exec command as the kubelet runs it, rewritten for this test."""
        command = self.container[probe]["exec"]["command"]
        self.assertEqual(command[0], "invitectl")
        out = [ARGS.invitectl]
        for arg in command[1:]:
            name, eq, value = arg.partition("=")
            if name in drop:
                continue
            if name == "--address":
                self.assertEqual(value, "127.0.0.1:%d" % self.grpc_port)
                value = "127.0.0.1:%d" % port
            elif value.startswith(self.tls_mount + "/"):
                value = self.in_pod(value)
            out.append(name + eq + value)
        return out

    def run_probe(self, probe, port, drop=()):
        return subprocess.run(self.probe_command(probe, port, drop), env=local_run.clean_env(),
                              capture_output=True, text=True, timeout=60)

    def wait_until_ready(self, port):
        # SERVING once migrations are done; the startup probe's budget is far longer.
        local_run.wait_for("the readiness probe to pass",
                           lambda: self.run_probe("readinessProbe", port).returncode == 0, 60,
                           lambda: self.run_probe("readinessProbe", port).stderr)

    def test_every_probe_passes_against_the_server_as_shipped(self):
        self.wait_until_ready(self.port_tls)
        for probe in PROBES:
            result = self.run_probe(probe, self.port_tls)
            self.assertEqual(result.returncode, 0, "%s: %s" % (probe, result.stderr))
            self.assertEqual(result.stdout, "SERVING\n", probe)
            self.assertEqual(result.stderr, "", probe)

    def test_every_probe_passes_with_mutual_tls_turned_on(self):
        self.wait_until_ready(self.port_mtls)
        for probe in PROBES:
            result = self.run_probe(probe, self.port_mtls)
            self.assertEqual(result.returncode, 0, "%s: %s" % (probe, result.stderr))
            self.assertEqual(result.stdout, "SERVING\n", probe)

    def test_under_mutual_tls_a_probe_without_the_pods_certificate_is_refused(self):
        self.wait_until_ready(self.port_mtls)
        result = self.run_probe("readinessProbe", self.port_mtls,
                                drop=("--cert-file", "--key-file"))
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("UNAVAILABLE", result.stderr)

    def test_the_certificate_needs_no_loopback_name_because_the_probe_names_the_service(self):
        self.wait_until_ready(self.port_tls)
        # Without --tls-server-name invitectl checks the certificate for "127.0.0.1", which the
        # certificate does not carry, and the handshake fails.
        result = self.run_probe("readinessProbe", self.port_tls, drop=("--tls-server-name",))
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("UNAVAILABLE", result.stderr)

    def test_a_plaintext_grpc_health_check_like_kubernetes_own_probe_fails(self):
        # Why the probes exec invitectl: Kubernetes' grpc probe has no TLS, and a plaintext
        # grpc.health.v1 Check against this port never gets an answer.
        self.wait_until_ready(self.port_tls)
        result = subprocess.run(
            [ARGS.invitectl, "health", "--service=" + SERVICE,
             "--address=127.0.0.1:%d" % self.port_tls, "--deadline=2s"],
            env=local_run.clean_env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stdout, "")


if __name__ == "__main__":
    ARGS, argv = local_run.parse_args("--repo", "--server", "--invitectl")
    unittest.main(argv=argv, verbosity=2)
