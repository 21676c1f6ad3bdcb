"""deploy/k8s rendered by a real kustomize (`kubectl kustomize`): the output parses, the service's
settings are one ConfigMap whose name carries a hash of its data, every pod template references
that name, and a changed setting gives a new name (so `kubectl apply -k` rolls the pods). The
optional parts (monitoring/, ingress/) render too.

Debian 12's kubectl (package kubernetes-client, 1.20) embeds kustomize v2.0.3; the kustomization
files stick to what that version understands, and this test runs with whichever kubectl is
installed.

    kustomize_test.py --kubectl BIN --repo DIR
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_settings  # noqa: E402

ARGS = None
HASHED = re.compile(r"^%s-[a-z0-9]{10}$" % re.escape(k8s_settings.CONFIG_MAP))
# ConfigMaps the operator creates (deploy/k8s/README.md, "Secrets and other objects you create").
EXTERNAL_CONFIG_MAPS = {"mysql-ca"}


def render(directory):
    done = subprocess.run([ARGS.kubectl, "kustomize", directory], capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise AssertionError("kubectl kustomize %s failed:\n%s" % (directory, done.stderr))
    return [d for d in yaml.safe_load_all(done.stdout) if d is not None]


def pod_specs(docs):
    for doc in docs:
        spec = doc.get("spec")
        template = spec.get("template") if isinstance(spec, dict) else None
        if template and "spec" in template:
            yield doc, template["spec"]


def config_map_references(pod):
    for container in pod.get("initContainers", []) + pod.get("containers", []):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield source["configMapRef"]["name"]
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                yield ref["name"]
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            yield volume["configMap"]["name"]


class Kustomization(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k8s = os.path.join(ARGS.repo, "deploy", "k8s")
        cls.docs = render(cls.k8s)

    def generated(self, docs):
        maps = [d for d in docs if d["kind"] == "ConfigMap"
                and d["metadata"]["name"].startswith(k8s_settings.CONFIG_MAP + "-")]
        self.assertEqual(len(maps), 1, [m["metadata"]["name"] for m in maps])
        return maps[0]

    def test_settings_are_one_hash_named_config_map_with_the_env_files_data(self):
        config = self.generated(self.docs)
        self.assertRegex(config["metadata"]["name"], HASHED)
        self.assertEqual(config["metadata"]["namespace"], "securelink")
        self.assertEqual(config["metadata"]["labels"]["app.kubernetes.io/name"],
                         "invitation-server")
        self.assertEqual(config["data"], k8s_settings.service_settings(self.k8s))

    def test_every_pod_template_references_the_generated_config_map(self):
        rendered = {d["metadata"]["name"] for d in self.docs if d["kind"] == "ConfigMap"}
        name = self.generated(self.docs)["metadata"]["name"]
        deployments = [d for d in self.docs if d["kind"] == "Deployment"]
        self.assertEqual(len(deployments), 1)
        for doc, pod in pod_specs(self.docs):
            refs = set(config_map_references(pod))
            for ref in refs:
                self.assertIn(ref, rendered | EXTERNAL_CONFIG_MAPS,
                              "%s %s references a ConfigMap nothing creates: %s"
                              % (doc["kind"], doc["metadata"]["name"], ref))
            if doc["kind"] == "Deployment":
                self.assertIn(name, refs)

    def test_everything_lands_in_the_securelink_namespace(self):
        kinds = set()
        for doc in self.docs:
            kinds.add(doc["kind"])
            if doc["kind"] == "Namespace":
                self.assertEqual(doc["metadata"]["name"], "securelink")
            else:
                self.assertEqual(doc["metadata"].get("namespace"), "securelink",
                                 (doc["kind"], doc["metadata"]["name"]))
        self.assertLessEqual({"Namespace", "ConfigMap", "Deployment", "Service", "NetworkPolicy",
                              "PodDisruptionBudget", "HorizontalPodAutoscaler"}, kinds)

    def test_a_changed_setting_renames_the_config_map_and_changes_the_pod_template(self):
        tmp = tempfile.mkdtemp(prefix="kustomize-")
        try:
            copy = os.path.join(tmp, "k8s")
            shutil.copytree(self.k8s, copy)
            env_file = os.path.join(copy, k8s_settings.env_files(
                k8s_settings.config_map_generator(copy))[0])
            with open(env_file) as f:
                text = f.read()
            changed, count = re.subn(r"(?m)^INVITATIONS_LOG_LEVEL=.*$",
                                     "INVITATIONS_LOG_LEVEL=debug", text)
            self.assertEqual(count, 1)
            with open(env_file, "w") as f:
                f.write(changed)
            docs = render(copy)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        before = self.generated(self.docs)["metadata"]["name"]
        after = self.generated(docs)
        self.assertEqual(after["data"]["INVITATIONS_LOG_LEVEL"], "debug")
        self.assertRegex(after["metadata"]["name"], HASHED)
        self.assertNotEqual(after["metadata"]["name"], before)
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        self.assertIn(after["metadata"]["name"],
                      set(config_map_references(deployment["spec"]["template"]["spec"])))

    def test_the_pod_monitor_renders(self):
        docs = render(os.path.join(self.k8s, "monitoring"))
        self.assertEqual([(d["apiVersion"], d["kind"]) for d in docs],
                         [("monitoring.coreos.com/v1", "PodMonitor")])

    def test_the_ingresses_render(self):
        docs = render(os.path.join(self.k8s, "ingress"))
        self.assertEqual(sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Ingress"),
                         ["invitation-server-grpc", "invitation-server-page"])


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--repo", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
