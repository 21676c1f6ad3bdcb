"""What operators rely on in deploy/'s manifests, checked without a cluster or a Docker engine.

Every Kubernetes and compose file parses as YAML, and the properties that break a deployment
silently when they drift apart hold: probes ask grpc.health.v1 about the right service on the
right port over TLS, the termination grace covers the drain, selectors match, nothing carries a
literal secret (no password inside a URI either), gRPC is served with a certificate from a
mounted Secret, the database is reached over verified TLS, Keycloak over https, the
NetworkPolicy admits exactly the peers and ports the service needs, Prometheus finds the metrics
port, the image runs as non-root with a health check. The settings come from the ConfigMap
kustomize generates (so a changed setting rolls the pods), every alert links to its runbook
section, and the optional PodMonitor and Ingresses point at the pods' and Services' real ports.

    /usr/bin/python3 -m unittest -v check_manifests   (argv: the repository root)
"""

import glob
import json
import os
import re
import sys
import unittest
import urllib.parse

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_settings  # noqa: E402

ROOT = os.environ.get("REPO_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
SERVICE = "securelink.invitations.v1.InvitationService"
# Names of settings whose values are secrets: they must come from a secret reference.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|SEALING_KEY", re.IGNORECASE)
# A URI with a password in its userinfo: scheme://user:password@host.
URI_WITH_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s@:]*:[^/\s@]*@", re.IGNORECASE)
# Settings naming a Keycloak endpoint the service fetches from.
KEYCLOAK_URL_SETTING = re.compile(r"KEYCLOAK_URL|JWKS_URL")


def parse_duration_seconds(text):
    """Seconds of an absl-style duration such as "25s", "1m30s", "2h"."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError("not a duration: %r" % text)
    return sum(float(n) * units[u] for n, u in parts)


def strings_in(node):
    """Every string anywhere inside a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)


def url_ports(url):
    """The TCP ports a URL connects to (a MySQL URI may list several hosts)."""
    parsed = urllib.parse.urlsplit(url)
    default = {"https": 443, "http": 80, "smtp": 25, "smtps": 465, "mysql": 3306}[parsed.scheme]
    hosts = parsed.netloc.rpartition("@")[2].split(",")
    return {int(h.rpartition(":")[2]) if re.search(r":\d+$", h) else default for h in hosts}


def peer_key(peer):
    """A NetworkPolicy peer as a comparable value."""
    return json.dumps(peer, sort_keys=True)


def load_k8s(subdir=""):
    """Every document of deploy/k8s/<subdir>/*.yaml, by (kind, name)."""
    docs = {}
    for path in sorted(glob.glob(os.path.join(DEPLOY, "k8s", subdir, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                if doc.get("kind") == "Kustomization":
                    continue
                key = (doc["kind"], doc["metadata"]["name"])
                assert key not in docs, "%s defined twice" % (key,)
                docs[key] = doc
    return docs


class KubernetesManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = load_k8s()
        cls.deployment = cls.docs[("Deployment", "invitation-server")]
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.container = cls.pod["containers"][0]
        cls.config = k8s_settings.service_settings(os.path.join(DEPLOY, "k8s"))
        cls.ports = {p["name"]: p["containerPort"] for p in cls.container["ports"]}
        cls.volumes = {v["name"]: v for v in cls.pod["volumes"]}
        # What the process sees: the ConfigMap, overridden by literal env entries.
        cls.settings = dict(cls.config)
        cls.settings.update({e["name"]: e["value"] for e in cls.container.get("env", [])
                             if "value" in e})
        with open(os.path.join(DEPLOY, "k8s", "cert-manager", "certificate.yaml")) as f:
            cls.certificate = yaml.safe_load(f)

    def mounted_file(self, path):
        """The volume a file path inside the container comes from, and its key in the source."""
        for mount in self.container["volumeMounts"]:
            if os.path.dirname(path) != mount["mountPath"]:
                continue
            volume = self.volumes[mount["name"]]
            source = volume.get("secret") or volume.get("configMap")
            self.assertIsNotNone(source, "%s: neither a Secret nor a ConfigMap" % mount["name"])
            name = os.path.basename(path)
            if "items" not in source:
                return volume, name
            items = {item["path"]: item["key"] for item in source["items"]}
            self.assertIn(name, items, "%s is not among the items of volume %s"
                          % (path, mount["name"]))
            return volume, items[name]
        self.fail("%s is on no volume mounted in the container" % path)

    def probe_flags(self, probe):
        """The --flag=value arguments of a probe that runs `invitectl health`."""
        command = self.container[probe]["exec"]["command"]
        self.assertEqual(command[:2], ["invitectl", "health"], probe)
        flags = {}
        for arg in command[2:]:
            # --flag=value in one word: a list edit cannot then separate a flag from its value.
            self.assertRegex(arg, r"^--[a-z-]+=", probe)
            name, _, value = arg[2:].partition("=")
            flags[name] = value
        return flags

    def test_every_document_names_its_kind_and_namespace(self):
        for (kind, name), doc in self.docs.items():
            self.assertIn("apiVersion", doc, name)
            if kind != "Namespace":
                self.assertEqual(doc["metadata"].get("namespace"), "securelink", (kind, name))

    def test_kustomization_lists_every_file(self):
        # The optional parts (cert-manager/, ingress/, monitoring/) live in subdirectories, each
        # with its own kustomization where it has one.
        for subdir in ("", "ingress", "monitoring"):
            directory = os.path.join(DEPLOY, "k8s", subdir)
            listed = set(k8s_settings.kustomization(directory)["resources"])
            files = {os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.yaml"))}
            self.assertEqual(listed, files - {"kustomization.yaml"}, subdir or "deploy/k8s")

    def test_settings_are_a_generated_config_map_the_deployment_references(self):
        # A generated ConfigMap's name carries a hash of its data and kustomize rewrites the
        # references to it, so a changed setting changes the pod template and rolls the pods.
        # A static ConfigMap of the same name would shadow that.
        generator = k8s_settings.config_map_generator(os.path.join(DEPLOY, "k8s"))
        self.assertNotIn(("ConfigMap", generator["name"]), self.docs)
        self.assertEqual(generator.get("namespace"), "securelink")
        self.assertFalse(generator.get("options", {}).get("disableNameSuffixHash"))
        options = k8s_settings.kustomization(os.path.join(DEPLOY, "k8s")).get(
            "generatorOptions", {})
        self.assertFalse(options.get("disableNameSuffixHash"))
        refs = [e["configMapRef"]["name"] for e in self.container.get("envFrom", [])
                if "configMapRef" in e]
        self.assertEqual(refs, [generator["name"]])
        self.assertTrue(all(name.startswith("INVITATIONS_") for name in self.config))
        # What the server needs to start in a pod at all.
        for name in ("INVITATIONS_GRPC_ADDRESS", "INVITATIONS_MYSQL_URI",
                     "INVITATIONS_REGISTRATION_BASE_URL", "INVITATIONS_TOKEN_SEALING_KEY_FILE"):
            self.assertIn(name, self.config)

    def test_no_setting_value_is_quoted(self):
        # An env file's value is taken verbatim: quotes would become part of it.
        for name, value in self.config.items():
            quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
            self.assertFalse(quoted, "%s=%s" % (name, value))

    def test_readiness_and_startup_ask_grpc_health_about_the_invitation_service(self):
        for probe in ("readinessProbe", "startupProbe"):
            flags = self.probe_flags(probe)
            self.assertEqual(flags["service"], SERVICE, probe)
            self.assertEqual(flags["address"], "127.0.0.1:%d" % self.ports["grpc"], probe)

    def test_liveness_asks_grpc_health_about_the_whole_server(self):
        # A database outage must make pods unready, not restart them all.
        flags = self.probe_flags("livenessProbe")
        self.assertEqual(flags["service"], "")
        self.assertEqual(flags["address"], "127.0.0.1:%d" % self.ports["grpc"])

    def test_every_exec_command_is_a_list_of_strings(self):
        # Kubernetes refuses a number in a command (YAML reads `- 5` as one).
        for key in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = self.container[key]["exec"]["command"]
            self.assertTrue(all(isinstance(arg, str) for arg in command), key)
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertTrue(all(isinstance(arg, str) for arg in command), "preStop")

    def test_grpc_is_served_over_tls_with_a_certificate_from_a_mounted_secret(self):
        self.assertNotIn("grpc", {p for k in ("readinessProbe", "livenessProbe", "startupProbe")
                                  for p in self.container[k]},
                         "Kubernetes' grpc probe cannot speak TLS")
        cert_volume, cert_key = self.mounted_file(self.settings["INVITATIONS_TLS_CERT_FILE"])
        key_volume, key_key = self.mounted_file(self.settings["INVITATIONS_TLS_KEY_FILE"])
        self.assertIn("secret", cert_volume)
        self.assertIs(cert_volume, key_volume, "certificate and key from one Secret")
        # The key names of a kubernetes.io/tls Secret, as cert-manager writes it.
        self.assertEqual((cert_key, key_key), ("tls.crt", "tls.key"))
        self.assertEqual(self.certificate["spec"]["secretName"],
                         cert_volume["secret"]["secretName"])

    def test_probes_verify_the_servers_certificate_and_can_present_the_pods_own(self):
        cert_volume, _ = self.mounted_file(self.settings["INVITATIONS_TLS_CERT_FILE"])
        dns_names = self.certificate["spec"]["dnsNames"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            flags = self.probe_flags(probe)
            for flag in ("ca-file", "cert-file", "key-file", "tls-server-name", "deadline"):
                self.assertIn(flag, flags, probe)
            ca_volume, ca_key = self.mounted_file(flags["ca-file"])
            self.assertIs(ca_volume, cert_volume, probe)
            self.assertEqual(ca_key, "ca.crt", probe)
            # The pod's own certificate, so that turning mutual TLS on keeps the probes working.
            self.assertEqual(flags["cert-file"], self.settings["INVITATIONS_TLS_CERT_FILE"], probe)
            self.assertEqual(flags["key-file"], self.settings["INVITATIONS_TLS_KEY_FILE"], probe)
            self.assertIn(flags["tls-server-name"], dns_names, probe)
            # invitectl reports a slow answer itself before the kubelet kills it.
            self.assertLess(parse_duration_seconds(flags["deadline"]),
                            self.container[probe]["timeoutSeconds"], probe)
        self.assertIn("client auth", self.certificate["spec"]["usages"])
        self.assertIn("server auth", self.certificate["spec"]["usages"])
        client_ca = self.settings.get("INVITATIONS_TLS_CLIENT_CA_FILE")
        if client_ca:
            self.mounted_file(client_ca)

    def test_the_certificate_names_every_service_callers_dial(self):
        dns_names = set(self.certificate["spec"]["dnsNames"])
        for (kind, name), doc in self.docs.items():
            if kind == "Service" and any(p["targetPort"] == "grpc" for p in doc["spec"]["ports"]):
                self.assertIn("%s.securelink.svc" % name, dns_names)
                self.assertIn("%s.securelink.svc.cluster.local" % name, dns_names)

    def test_the_database_is_reached_over_verified_tls_with_the_password_from_a_file(self):
        uri = urllib.parse.urlsplit(self.settings["INVITATIONS_MYSQL_URI"])
        self.assertEqual(uri.scheme, "mysql")
        self.assertIsNone(uri.password, "the password belongs in INVITATIONS_MYSQL_PASSWORD_FILE")
        query = urllib.parse.parse_qs(uri.query)
        self.assertEqual(query["ssl-mode"], ["VERIFY_IDENTITY"])
        self.mounted_file(query["ssl-ca"][0])
        password_volume, _ = self.mounted_file(self.settings["INVITATIONS_MYSQL_PASSWORD_FILE"])
        self.assertIn("secret", password_volume)

    def test_keycloak_and_jwks_are_fetched_over_https(self):
        for name, value in self.settings.items():
            if KEYCLOAK_URL_SETTING.search(name):
                self.assertTrue(value.startswith("https://"), "%s=%s" % (name, value))
            elif "://" in value and urllib.parse.urlsplit(value).scheme.startswith("http"):
                self.assertTrue(value.startswith("https://"), "%s=%s" % (name, value))

    # --- NetworkPolicy ----------------------------------------------------------------------

    def policy(self):
        return self.docs[("NetworkPolicy", "invitation-server")]["spec"]

    def assert_peer_is_narrow(self, peer):
        # An empty selector or a world-wide ipBlock would admit everything the rule meant to
        # limit.
        for kind in ("namespaceSelector", "podSelector"):
            if kind in peer:
                self.assertTrue(peer[kind].get("matchLabels") or
                                peer[kind].get("matchExpressions"), peer)
        if "ipBlock" in peer:
            self.assertNotIn(peer["ipBlock"]["cidr"], ("0.0.0.0/0", "::/0"), peer)

    def test_a_network_policy_isolates_the_pods_both_ways(self):
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        selector = self.policy()["podSelector"]["matchLabels"]
        self.assertTrue(selector)
        self.assertTrue(all(labels.get(k) == v for k, v in selector.items()))
        self.assertEqual(set(self.policy()["policyTypes"]), {"Ingress", "Egress"})

    def ingress_peers_by_port(self):
        by_port = {}
        for rule in self.policy()["ingress"]:
            self.assertTrue(rule.get("from"), "an ingress rule without `from` admits anyone")
            self.assertTrue(rule.get("ports"), "an ingress rule without `ports` opens them all")
            for peer in rule["from"]:
                self.assert_peer_is_narrow(peer)
            for port in rule["ports"]:
                self.assertEqual(port.get("protocol", "TCP"), "TCP")
                number = self.ports.get(port["port"], port["port"])
                self.assertIn(number, self.ports.values(), "not a container port: %s" % port)
                by_port.setdefault(number, set()).update(peer_key(p) for p in rule["from"])
        return by_port

    def test_ingress_admits_callers_to_grpc_the_ingress_controller_and_prometheus(self):
        by_port = self.ingress_peers_by_port()
        self.assertEqual(set(by_port), set(self.ports.values()))
        # The registration page: the ingress controller's pods, nothing else.
        page = by_port[self.ports["http"]]
        self.assertEqual(len(page), 1, page)
        controller = json.loads(next(iter(page)))
        self.assertIn("namespaceSelector", controller)
        self.assertIn("podSelector", controller)
        # gRPC: the ingress controller too, and callers that need both a namespace label (set by
        # cluster admins) and a pod label.
        grpc = by_port[self.ports["grpc"]]
        self.assertIn(peer_key(controller), grpc)
        callers = [json.loads(p) for p in grpc - page]
        self.assertTrue(callers)
        for caller in callers:
            self.assertIn("namespaceSelector", caller)
            self.assertIn("podSelector", caller)
        # /metrics: one namespace, Prometheus's.
        metrics = [json.loads(p) for p in by_port[self.ports["metrics"]]]
        self.assertEqual(len(metrics), 1, metrics)
        self.assertEqual(set(metrics[0]), {"namespaceSelector"})

    def test_egress_reaches_only_dns_the_database_smtp_and_keycloak(self):
        needed = {(53, "UDP"), (53, "TCP")}
        for setting in ("INVITATIONS_MYSQL_URI", "INVITATIONS_SMTP_URL",
                        "INVITATIONS_KEYCLOAK_URL", "INVITATIONS_JWT_JWKS_URL"):
            needed |= {(port, "TCP") for port in url_ports(self.settings[setting])}
        allowed = set()
        for rule in self.policy()["egress"]:
            self.assertTrue(rule.get("to"), "an egress rule without `to` reaches anywhere")
            self.assertTrue(rule.get("ports"), "an egress rule without `ports` opens them all")
            for peer in rule["to"]:
                self.assert_peer_is_narrow(peer)
            allowed |= {(p["port"], p.get("protocol", "TCP")) for p in rule["ports"]}
        self.assertEqual(allowed, needed)

    def test_no_password_inside_any_uri(self):
        paths = sorted(glob.glob(os.path.join(DEPLOY, "k8s", "**", "*.yaml"), recursive=True))
        for path in paths:
            with open(path) as f:
                for doc in yaml.safe_load_all(f):
                    for text in strings_in(doc):
                        self.assertIsNone(URI_WITH_PASSWORD.search(text),
                                          "%s: %s" % (os.path.relpath(path, DEPLOY), text))

    def test_listeners_match_the_container_ports(self):
        for env, port in (("INVITATIONS_GRPC_ADDRESS", "grpc"),
                          ("INVITATIONS_METRICS_ADDRESS", "metrics"),
                          ("INVITATIONS_WEB_ADDRESS", "http")):
            host, _, number = self.config[env].rpartition(":")
            self.assertEqual(host, "0.0.0.0", env)
            self.assertEqual(int(number), self.ports[port], env)

    def test_termination_grace_covers_prestop_and_the_drain_with_margin(self):
        drain = parse_duration_seconds(self.config["INVITATIONS_SHUTDOWN_GRACE"])
        pre_stop = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre_stop[0], "sleep")
        grace = self.pod["terminationGracePeriodSeconds"]
        self.assertGreaterEqual(grace, float(pre_stop[1]) + drain + 5)

    def test_secrets_are_references_never_literals(self):
        self.assertNotIn("Secret", {kind for kind, _ in self.docs},
                         "a Secret object in the manifests would put its value in git")
        for name, value in self.config.items():
            if SECRET_NAME.search(name):
                self.assertTrue(name.endswith("_FILE"), "%s must be a *_FILE path" % name)
                self.assertTrue(value.startswith("/run/secrets/"), name)
        for env in self.container.get("env", []):
            if SECRET_NAME.search(env["name"]):
                self.assertNotIn("value", env, env["name"])
                self.assertIn("secretKeyRef", env["valueFrom"], env["name"])
        mounted = {v["name"]: v for v in self.pod["volumes"]}
        secret_files = {item["path"] for item in mounted["secrets"]["secret"]["items"]}
        mount_path = next(m["mountPath"] for m in self.container["volumeMounts"]
                          if m["name"] == "secrets")
        for name, value in self.config.items():
            if name.endswith("_FILE") and SECRET_NAME.search(name):
                self.assertEqual(os.path.dirname(value), mount_path, name)
                self.assertIn(os.path.basename(value), secret_files, name)

    def test_runs_as_the_images_non_root_user(self):
        self.assertTrue(self.pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(self.pod["securityContext"]["runAsUser"], 10001)
        self.assertFalse(self.container["securityContext"]["allowPrivilegeEscalation"])

    def test_selectors_match_the_pods(self):
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]

        def selects(selector):
            return all(labels.get(k) == v for k, v in selector.items())

        self.assertTrue(selects(self.deployment["spec"]["selector"]["matchLabels"]))
        pdb = self.docs[("PodDisruptionBudget", "invitation-server")]
        self.assertTrue(selects(pdb["spec"]["selector"]["matchLabels"]))
        services = [d for (kind, _), d in self.docs.items() if kind == "Service"]
        self.assertGreaterEqual(len(services), 2)
        for service in services:
            self.assertTrue(selects(service["spec"]["selector"]), service["metadata"]["name"])
            for port in service["spec"]["ports"]:
                self.assertIn(port["targetPort"], self.ports, service["metadata"]["name"])

    def test_the_migration_job_migrates_and_the_replicas_only_check(self):
        job = self.docs[("Job", "invitation-server-migrate")]
        container = job["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(container["args"], ["--migrate_only"])
        self.assertEqual(container["image"], self.container["image"],
                         "the Job must apply the migrations of the release the pods run")
        self.assertEqual(self.settings.get("INVITATIONS_MIGRATE"), "false",
                         "with the Job, the replicas' user has no rights to migrate")
        job_env = {e["name"]: e.get("value") for e in container.get("env", [])}
        job_user = urllib.parse.urlsplit(job_env["INVITATIONS_MYSQL_URI"]).username
        replica_user = urllib.parse.urlsplit(self.settings["INVITATIONS_MYSQL_URI"]).username
        self.assertNotEqual(job_user, replica_user)
        with open(os.path.join(DEPLOY, "grants.sql")) as f:
            grants = f.read()
        self.assertRegex(grants, r"GRANT SELECT, INSERT, UPDATE, DELETE ON [^;]* TO '%s'"
                         % re.escape(replica_user))

    def test_disruption_budget_leaves_room_to_evict(self):
        # minAvailable equal to the minimum replica count would block every node drain.
        pdb = self.docs[("PodDisruptionBudget", "invitation-server")]
        hpa = self.docs[("HorizontalPodAutoscaler", "invitation-server")]
        self.assertLess(pdb["spec"]["minAvailable"], hpa["spec"]["minReplicas"])
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)

    def test_autoscaler_targets_the_deployment_with_cpu_requests_set(self):
        hpa = self.docs[("HorizontalPodAutoscaler", "invitation-server")]
        target = hpa["spec"]["scaleTargetRef"]
        self.assertEqual((target["kind"], target["name"]), ("Deployment", "invitation-server"))
        self.assertIn("cpu", self.container["resources"]["requests"])

    def test_prometheus_finds_every_pod_on_the_metrics_port(self):
        metrics = self.docs[("Service", "invitation-server-metrics")]
        self.assertEqual(metrics["spec"]["clusterIP"], "None")
        # A replica without its database is unready, and that is when it must be scraped.
        self.assertTrue(metrics["spec"]["publishNotReadyAddresses"])
        with open(os.path.join(DEPLOY, "prometheus", "prometheus-kubernetes.yml")) as f:
            prom = yaml.safe_load(f)
        job = next(j for j in prom["scrape_configs"] if j["job_name"] == "invitations")
        sd = job["dns_sd_configs"][0]
        self.assertEqual(sd["port"], self.ports["metrics"])
        self.assertEqual(sd["names"], ["invitation-server-metrics.securelink.svc.cluster.local"])


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to
    hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


class AlertRunbooks(unittest.TestCase):
    RUNBOOK_URL = ("https://github.com/securelink/invitation-service/blob/main/deploy/"
                   "RUNBOOK.md#")

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "prometheus", "alerts.yml")) as f:
            cls.rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
        cls.alerts = [r for r in cls.rules if "alert" in r]
        with open(os.path.join(DEPLOY, "RUNBOOK.md")) as f:
            text = f.read()
        # Headings outside fenced code blocks.
        text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
        cls.anchors = {github_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}

    def test_every_alert_links_to_its_own_runbook_section(self):
        self.assertTrue(self.alerts)
        for alert in self.alerts:
            name = alert["alert"]
            url = alert.get("annotations", {}).get("runbook_url", "")
            self.assertTrue(url.startswith(self.RUNBOOK_URL), "%s: runbook_url %r" % (name, url))
            anchor = url[len(self.RUNBOOK_URL):]
            self.assertIn(anchor, self.anchors, "%s: no heading in RUNBOOK.md for #%s"
                          % (name, anchor))
            self.assertEqual(anchor, github_anchor(name), name)

    def test_every_alert_has_a_severity_summary_and_description(self):
        for alert in self.alerts:
            self.assertIn(alert["labels"]["severity"], ("page", "ticket"), alert["alert"])
            for key in ("summary", "description"):
                self.assertTrue(alert["annotations"].get(key), (alert["alert"], key))

    def test_every_alert_is_unit_tested(self):
        with open(os.path.join(DEPLOY, "prometheus", "alerts_test.yml")) as f:
            tests = yaml.safe_load(f)["tests"]
        fired, quiet = set(), set()
        for test in tests:
            for case in test.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
        for alert in self.alerts:
            self.assertIn(alert["alert"], fired, "no test where %s fires" % alert["alert"])
            self.assertIn(alert["alert"], quiet, "no test where %s stays quiet" % alert["alert"])


class OptionalKubernetesParts(unittest.TestCase):
    """deploy/k8s/monitoring (PodMonitor) and deploy/k8s/ingress, against the main manifests."""

    @classmethod
    def setUpClass(cls):
        cls.docs = load_k8s()
        cls.deployment = cls.docs[("Deployment", "invitation-server")]
        cls.pod_labels = cls.deployment["spec"]["template"]["metadata"]["labels"]
        cls.container = cls.deployment["spec"]["template"]["spec"]["containers"][0]
        cls.ports = {p["name"]: p["containerPort"] for p in cls.container["ports"]}
        cls.settings = k8s_settings.service_settings(os.path.join(DEPLOY, "k8s"))
        cls.monitoring = load_k8s("monitoring")
        cls.ingress = load_k8s("ingress")
        with open(os.path.join(DEPLOY, "k8s", "cert-manager", "certificate.yaml")) as f:
            cls.certificate = yaml.safe_load(f)

    def test_the_pod_monitor_selects_the_pods_and_their_metrics_port(self):
        monitor = self.monitoring[("PodMonitor", "invitation-server")]
        self.assertEqual(monitor["apiVersion"], "monitoring.coreos.com/v1")
        self.assertEqual(monitor["metadata"]["namespace"], "securelink")
        selector = monitor["spec"]["selector"]["matchLabels"]
        self.assertTrue(selector)
        self.assertTrue(all(self.pod_labels.get(k) == v for k, v in selector.items()), selector)
        self.assertIn("securelink", monitor["spec"]["namespaceSelector"]["matchNames"])
        endpoints = monitor["spec"]["podMetricsEndpoints"]
        self.assertEqual(len(endpoints), 1)
        self.assertIn(endpoints[0]["port"], self.ports)
        self.assertEqual(self.ports[endpoints[0]["port"]],
                         int(self.settings["INVITATIONS_METRICS_ADDRESS"].rpartition(":")[2]))
        self.assertEqual(endpoints[0].get("path", "/metrics"), "/metrics")

    def test_the_pod_monitor_keeps_the_job_name_the_alerts_select(self):
        with open(os.path.join(DEPLOY, "prometheus", "alerts.yml")) as f:
            alerts = f.read()
        jobs = set(re.findall(r'job="([^"]+)"', alerts))
        endpoint = self.monitoring[("PodMonitor", "invitation-server")]["spec"][
            "podMetricsEndpoints"][0]
        relabeled = {r.get("replacement") for r in endpoint.get("relabelings", [])
                     if r.get("targetLabel") == "job" and r.get("action", "replace") == "replace"}
        self.assertTrue(jobs)
        self.assertEqual(relabeled, jobs)

    def service_port(self, backend):
        service = self.docs.get(("Service", backend["service"]["name"]))
        self.assertIsNotNone(service, "no Service %s" % backend["service"]["name"])
        names = {p["name"]: p for p in service["spec"]["ports"]}
        port = backend["service"]["port"]
        self.assertIn("name", port, "name the Service port, not its number")
        self.assertIn(port["name"], names, backend)
        return names[port["name"]]

    def ingresses(self):
        found = {name: doc for (kind, name), doc in self.ingress.items() if kind == "Ingress"}
        self.assertEqual(set(found), {"invitation-server-page", "invitation-server-grpc"})
        for doc in found.values():
            self.assertEqual(doc["apiVersion"], "networking.k8s.io/v1")
            self.assertEqual(doc["metadata"]["namespace"], "securelink")
        return found

    def backends(self, ingress):
        return [(rule["host"], path) for rule in ingress["spec"]["rules"]
                for path in rule["http"]["paths"]]

    def test_ingress_backends_name_the_services_ports(self):
        for ingress in self.ingresses().values():
            for _, path in self.backends(ingress):
                self.service_port(path["backend"])

    def test_the_page_ingress_serves_the_registration_host_over_https_only_its_routes(self):
        page = self.ingresses()["invitation-server-page"]
        base = urllib.parse.urlsplit(self.settings["INVITATIONS_REGISTRATION_BASE_URL"])
        self.assertEqual(base.scheme, "https")
        hosts = {host for host, _ in self.backends(page)}
        self.assertEqual(hosts, {base.hostname})
        self.assertIn(base.hostname, [h for t in page["spec"]["tls"] for h in t["hosts"]])
        paths = {p["path"]: p for _, p in self.backends(page)}
        self.assertEqual(paths[base.path]["pathType"], "Exact")
        self.assertIn("/static/", paths)
        for path in paths.values():
            self.assertEqual(self.service_port(path["backend"])["targetPort"], "http")

    def test_the_grpc_ingress_speaks_verified_tls_to_the_grpc_port(self):
        grpc = self.ingresses()["invitation-server-grpc"]
        notes = grpc["metadata"]["annotations"]
        # The pods serve gRPC over TLS only (INVITATIONS_TLS_CERT_FILE): plaintext GRPC fails.
        self.assertTrue(self.settings.get("INVITATIONS_TLS_CERT_FILE"))
        self.assertEqual(notes["nginx.ingress.kubernetes.io/backend-protocol"], "GRPCS")
        self.assertEqual(notes["nginx.ingress.kubernetes.io/proxy-ssl-verify"], "on")
        tls_secret = next(v["secret"]["secretName"]
                          for v in self.deployment["spec"]["template"]["spec"]["volumes"]
                          if v["name"] == "tls")
        self.assertEqual(notes["nginx.ingress.kubernetes.io/proxy-ssl-secret"],
                         "securelink/" + tls_secret)
        self.assertIn(notes["nginx.ingress.kubernetes.io/proxy-ssl-name"],
                      self.certificate["spec"]["dnsNames"])
        self.assertTrue(grpc["spec"]["tls"], "gRPC through nginx needs HTTP/2, so TLS")
        for _, path in self.backends(grpc):
            self.assertEqual(self.service_port(path["backend"])["targetPort"], "grpc")


class Compose(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            cls.compose = yaml.safe_load(f)
        cls.services = cls.compose["services"]
        cls.replicas = {n: s for n, s in cls.services.items() if n.startswith("invitations-")}

    def test_the_stack_has_mysql8_two_replicas_keycloak_smtp_and_prometheus(self):
        self.assertTrue(self.services["mysql"]["image"].startswith("mysql:8"))
        self.assertEqual(len(self.replicas), 2)
        self.assertIn("keycloak", self.services["keycloak"]["image"])
        self.assertIn("mailpit", self.services["mailpit"]["image"])
        self.assertIn("prometheus", self.services["prometheus"]["image"])

    def test_replicas_are_built_from_the_dockerfile_and_wait_for_mysql(self):
        for name, replica in self.replicas.items():
            build = replica["build"]
            self.assertTrue(os.path.isfile(os.path.join(DEPLOY, build["context"],
                                                        build["dockerfile"])), name)
            self.assertEqual(replica["depends_on"]["mysql"]["condition"], "service_healthy")

    def test_replicas_publish_distinct_host_ports(self):
        host_ports = [p.split(":")[0] for r in self.replicas.values() for p in r["ports"]]
        self.assertEqual(len(host_ports), len(set(host_ports)))

    def test_stop_grace_covers_the_drain(self):
        for name, replica in self.replicas.items():
            drain = parse_duration_seconds(
                replica["environment"].get("INVITATIONS_SHUTDOWN_GRACE", "25s"))
            self.assertGreater(parse_duration_seconds(replica["stop_grace_period"]), drain, name)

    def test_keycloak_imports_the_shipped_realm(self):
        keycloak = self.services["keycloak"]
        self.assertIn("--import-realm", keycloak["command"])
        mounts = [v.split(":") for v in keycloak["volumes"]]
        realm = next(m for m in mounts if m[1].startswith("/opt/keycloak/data/import/"))
        self.assertTrue(os.path.isfile(os.path.join(DEPLOY, realm[0])))

    def test_replicas_send_mail_to_the_catcher_and_prometheus_uses_deploys_config(self):
        for replica in self.replicas.values():
            self.assertEqual(replica["environment"]["INVITATIONS_SMTP_URL"], "smtp://mailpit:1025")
        volumes = [v.split(":") for v in self.services["prometheus"]["volumes"]]
        self.assertIn(["./prometheus", "/etc/prometheus", "ro"], volumes)
        with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
            prom = yaml.safe_load(f)
        targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
        self.assertEqual(sorted(targets), sorted("%s:9464" % n for n in self.replicas))

    def test_no_literal_secrets(self):
        for name, service in self.services.items():
            for key, value in (service.get("environment") or {}).items():
                if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                    self.assertRegex(str(value), r"\$\{[A-Z_]+:\?", "%s.%s" % (name, key))
        for secret in self.compose["secrets"].values():
            self.assertEqual(set(secret), {"environment"})

    def test_no_password_inside_any_uri_and_the_database_password_is_a_secret_file(self):
        for text in strings_in(self.compose):
            self.assertIsNone(URI_WITH_PASSWORD.search(text), text)
        for name, replica in self.replicas.items():
            path = replica["environment"]["INVITATIONS_MYSQL_PASSWORD_FILE"]
            self.assertEqual(os.path.dirname(path), "/run/secrets", name)
            self.assertIn(os.path.basename(path), replica["secrets"], name)

    def test_keycloak_is_http_only_where_it_is_the_stacks_own(self):
        # The compose network is private to the stack; any other Keycloak is reached over https.
        for name, replica in self.replicas.items():
            for key, value in replica["environment"].items():
                if KEYCLOAK_URL_SETTING.search(key) and not value.startswith("https://"):
                    self.assertIn(urllib.parse.urlsplit(value).hostname, self.services,
                                  "%s.%s" % (name, key))


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            text = f.read()
        # Join continuation lines, drop comments.
        text = re.sub(r"\\\n", " ", text)
        cls.lines = [l.strip() for l in text.splitlines()
                     if l.strip() and not l.strip().startswith("#")]
        stages = [i for i, l in enumerate(cls.lines) if l.startswith("FROM ")]
        cls.runtime = cls.lines[stages[-1]:]
        cls.build = cls.lines[stages[0]:stages[-1]]

    def test_both_stages_are_debian_12(self):
        base = next(l for l in self.lines if l.startswith("ARG DEBIAN_IMAGE="))
        self.assertIn("bookworm", base)
        self.assertEqual(len([l for l in self.lines if l.startswith("FROM ")]), 2)

    def test_build_stage_installs_with_the_projects_package_list(self):
        self.assertTrue(any("deploy/install-deps.sh" in l and l.startswith("RUN")
                            for l in self.build))

    def test_runtime_runs_as_a_numeric_non_root_user(self):
        user = [l for l in self.runtime if l.startswith("USER ")]
        self.assertEqual(len(user), 1)
        uid = user[0].split()[1].split(":")[0]
        self.assertTrue(uid.isdigit() and int(uid) != 0)

    def test_runtime_exposes_grpc_metrics_and_web_ports(self):
        expose = next(l for l in self.runtime if l.startswith("EXPOSE "))
        self.assertEqual(set(expose.split()[1:]), {"50051", "9464", "8080"})

    def test_healthcheck_asks_grpc_health_with_invitectl(self):
        check = next(l for l in self.runtime if l.startswith("HEALTHCHECK "))
        self.assertIn('"invitectl", "health"', check)

    def test_healthcheck_reaches_the_grpc_listener_and_listeners_face_the_network(self):
        env = {}
        for line in self.runtime:
            if line.startswith("ENV "):
                for pair in line[4:].split():
                    name, _, value = pair.partition("=")
                    env[name] = value
        # invitectl (the HEALTHCHECK) targets INVITATIONS_ADDRESS: the server's own gRPC port.
        grpc_port = env["INVITATIONS_GRPC_ADDRESS"].rpartition(":")[2]
        self.assertEqual(env["INVITATIONS_ADDRESS"], "127.0.0.1:" + grpc_port)
        expose = next(l for l in self.runtime if l.startswith("EXPOSE ")).split()[1:]
        for name in ("INVITATIONS_GRPC_ADDRESS", "INVITATIONS_METRICS_ADDRESS",
                     "INVITATIONS_WEB_ADDRESS"):
            host, _, port = env[name].rpartition(":")
            self.assertEqual(host, "0.0.0.0", name)
            self.assertIn(port, expose, name)

    def test_runtime_has_no_compilers(self):
        installs = " ".join(l for l in self.runtime if "apt-get install" in l)
        for dev in ("-dev ", "build-essential", "cmake", "g++"):
            self.assertNotIn(dev, installs + " ")


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        ROOT = sys.argv.pop(1)
        DEPLOY = os.path.join(ROOT, "deploy")
    unittest.main(verbosity=2)
