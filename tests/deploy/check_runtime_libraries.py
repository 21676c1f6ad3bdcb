"""The runtime stage of deploy/Dockerfile installs every shared library the binaries load.

The image cannot be built here (no Docker engine), so this checks the recipe against the
binaries this build produced: each library `ldd` resolves must belong to a Debian package that
the runtime stage's `apt-get install` brings in (directly or as a dependency) or that every
Debian image has (Priority: required). A library added to the build without its runtime package
would otherwise only show as a container that exits at start.

    check_runtime_libraries.py DOCKERFILE BINARY...
"""

import os
import re
import subprocess
import sys


def runtime_packages(dockerfile):
    """Package names of the `apt-get install` in the Dockerfile's last stage."""
    with open(dockerfile) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stage = text[text.rindex("\nFROM "):]
    packages = []
    for match in re.finditer(r"apt-get install ([^&\n]*)", stage):
        packages += [w for w in match.group(1).split() if not w.startswith("-")]
    if not packages:
        sys.exit("no apt-get install in the runtime stage of %s" % dockerfile)
    return packages


def dependency_closure(packages):
    out = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + packages,
        check=True, capture_output=True, text=True).stdout
    closure = set()
    for line in out.splitlines():
        if line and not line[0].isspace() and not line.startswith("<"):
            closure.add(line.strip().split(":")[0])
    missing = set(packages) - closure
    if missing:
        sys.exit("apt-cache does not know %s (run apt-get update?)" % sorted(missing))
    return closure


def required_packages():
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Priority} ${Essential}\n"],
                         check=True, capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines()
            if " required" in line or line.endswith(" yes")}


def loaded_libraries(binary):
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libraries = []
    for line in out.splitlines():
        match = re.search(r"=>\s+(/\S+)", line)
        if match:
            libraries.append(match.group(1))
        elif "not found" in line:
            sys.exit("%s: %s" % (binary, line.strip()))
    return libraries


def owning_packages(paths):
    """{library path: Debian package} for the paths dpkg knows, in one dpkg call."""
    variants = {}
    for path in paths:
        for candidate in {path, os.path.realpath(path)}:
            for form in {candidate, candidate[len("/usr"):] if candidate.startswith("/usr/")
                         else "/usr" + candidate}:
                variants[form] = path
    result = subprocess.run(["dpkg", "-S"] + sorted(variants), capture_output=True, text=True)
    owners = {}
    for line in result.stdout.splitlines():
        package, _, file = line.partition(": ")
        if file in variants:
            owners[variants[file]] = package.split(":")[0].split(",")[0].strip()
    return owners


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    dockerfile, binaries = sys.argv[1], sys.argv[2:]
    listed = runtime_packages(dockerfile)
    available = dependency_closure(listed) | required_packages()
    problems = []
    libraries = {}  # path -> first binary that loads it
    for binary in binaries:
        for library in loaded_libraries(binary):
            libraries.setdefault(library, os.path.basename(binary))
    owners = owning_packages(libraries)
    checked = len(libraries)
    for library, binary in sorted(libraries.items()):
        package = owners.get(library)
        if package is None:
            problems.append("%s: %s belongs to no Debian package" % (binary, library))
        elif package not in available:
            problems.append("%s: %s comes from %s, which the runtime stage does not install"
                            % (binary, library, package))
    for problem in problems:
        print(problem)
    print("%d libraries checked against %d packages (%s)" % (checked, len(listed), " ".join(listed)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
