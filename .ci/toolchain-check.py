"""Fails when the image's toolchain cannot build what Cargo.lock holds.

Reads `cargo metadata` on stdin. The image builds the normal and build dependencies
(not the dev ones), so the newest `rust-version` among them is what the Dockerfile's
`FROM rust:X.Y` and Cargo.toml's `rust-version` must reach; the two must also agree.
"""
import json
import re
import sys
from collections import deque


def version(v):
    return tuple(int(x) for x in (v or "0").split("."))[:2]


meta = json.load(sys.stdin)
resolve = meta["resolve"]
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in resolve["nodes"]}
seen, queue = set(), deque([resolve["root"]])
while queue:
    pkg = queue.popleft()
    if pkg in seen:
        continue
    seen.add(pkg)
    for dep in nodes[pkg]["deps"]:
        if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
            queue.append(dep["pkg"])

need = packages[max(seen, key=lambda p: version(packages[p].get("rust_version")))]
need_text = f"{need['name']} {need['version']} needs rust {need['rust_version']}"
declared = packages[resolve["root"]].get("rust_version") or "0"
with open("deploy/Dockerfile") as f:
    docker = re.search(r"^FROM rust:(\d+\.\d+)", f.read(), re.M)

problems = []
if not docker:
    problems.append("deploy/Dockerfile: no `FROM rust:X.Y` line")
else:
    if version(docker.group(1)) < version(need["rust_version"]):
        problems.append(f"deploy/Dockerfile builds with rust {docker.group(1)}, but {need_text}")
    if version(declared) != version(docker.group(1)):
        problems.append(
            f"Cargo.toml rust-version {declared} and deploy/Dockerfile's rust {docker.group(1)} differ"
        )
if version(declared) < version(need["rust_version"]):
    problems.append(f"Cargo.toml rust-version is {declared}, but {need_text}")
if problems:
    sys.exit("\n".join(problems))
print(f"  rust {docker.group(1)}; the newest need: {need_text}")
