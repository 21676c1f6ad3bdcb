"""deploy/k8s's service settings as kustomize makes them: kustomization.yaml's configMapGenerator
named invitation-server reads KEY=value lines from its env file(s), the way kustomize's own
parser does (leading white space dropped, blank and # lines skipped, the value verbatim after
the first '='), so the manifest checks need no kubectl."""

import os
import re

import yaml

CONFIG_MAP = "invitation-server"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_env_file(path):
    """{KEY: value} of a kustomize env file. A line without '=' would take its value from the
    environment of whoever runs kubectl: refused, like an invalid name."""
    settings = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f.read().splitlines(), 1):
            line = line.lstrip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or not ENV_NAME.match(key):
                raise ValueError("%s:%d: not KEY=value: %r" % (path, number, line))
            if key in settings:
                raise ValueError("%s:%d: %s set twice" % (path, number, key))
            settings[key] = value
    return settings


def kustomization(k8s_dir):
    with open(os.path.join(k8s_dir, "kustomization.yaml")) as f:
        return yaml.safe_load(f)


def config_map_generator(k8s_dir):
    """The configMapGenerator entry that makes the service's settings."""
    generators = kustomization(k8s_dir).get("configMapGenerator") or []
    matching = [g for g in generators if g["name"] == CONFIG_MAP]
    if len(matching) != 1:
        raise ValueError("kustomization.yaml must generate exactly one ConfigMap %s" % CONFIG_MAP)
    return matching[0]


def env_files(generator):
    """The env files of a generator: `env` (kustomize v2.0.3, Debian's kubectl) or `envs`."""
    files = list(generator.get("envs") or [])
    if generator.get("env"):
        files.append(generator["env"])
    return files


def service_settings(k8s_dir):
    """{INVITATIONS_*: value} of the generated ConfigMap."""
    generator = config_map_generator(k8s_dir)
    settings = {}
    for name in env_files(generator):
        settings.update(read_env_file(os.path.join(k8s_dir, name)))
    for literal in generator.get("literals") or []:
        key, _, value = literal.partition("=")
        settings[key] = value
    return settings
