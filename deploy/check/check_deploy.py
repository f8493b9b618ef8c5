#!/usr/bin/env python3
"""Offline checks of deploy/: Dockerfiles, compose.yaml and the Kubernetes overlays.

Run through scripts/check-deploy.sh, which provides the pinned Python packages. Nothing here needs
Docker, a cluster or the network:

1. Dockerfiles: base images, `cargo build --locked`, non-root user, every COPY source exists (and
   is not excluded by .dockerignore), every workspace member reaches the builder, every
   `COPY --from` names a stage, EXPOSE matches the listen addresses the image sets.
2. compose.yaml: parses; depends_on, volumes and build files exist; every variable a binary needs
   is set (from the service or its image); workers have distinct ids and addresses; every
   required ${VAR:?} is documented in .env.example.
3. Kubernetes: each overlay in deploy/k8s/overlays/ is rendered by scripts/render_kustomize.py,
   written to OUT_DIR, and every object is validated against the Kubernetes JSON schemas of
   kubernetes-validate (K8S_VERSION, strict: unknown fields fail). The CloudNativePG Cluster, a
   custom resource those schemas lack, is validated with deploy/check/cnpg-cluster.schema.json.
   Then references: Service and PDB selectors, HPA targets, NetworkPolicy selectors, Secrets and
   their keys, probe ports, and each binary's environment.

The variables each binary knows come from the README's "Configuration" tables.

Usage: check_deploy.py ROOT OUT_DIR
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
import shlex
import sys

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import VersionNotSupportedError
import yaml

K8S_VERSION = "1.31"

BINARIES = ("control-plane", "data-plane", "router")
README_SECTIONS = {"control-plane": "control-plane", "data-plane": "data-plane (worker)", "router": "router"}

# What a deployment must set for each binary besides the README's "none: required" ones: the
# defaults are loopback addresses and a development database, wrong in any container.
DEPLOY_REQUIRED = {
    "control-plane": {"DATABASE_URL", "CONTROL_HTTP_ADDR", "CONTROL_GRPC_ADDR", "JWT_SECRET", "SECRETS_KEY", "CLUSTER_TOKEN"},
    "data-plane": {"DATABASE_URL", "WORKER_ADDR", "WORKER_ADVERTISE_ADDR", "WORKER_ID", "CONTROL_PLANE_GRPC_URL", "CLUSTER_TOKEN"},
    "router": {"ROUTER_ADDR", "CONTROL_PLANE_HTTP_URL", "CONTROL_PLANE_GRPC_URL", "CLUSTER_TOKEN", "CONSOLE_DIR"},
}
# The listener each binary's HTTP port comes from (probes, EXPOSE, container ports).
HTTP_ADDR = {"control-plane": "CONTROL_HTTP_ADDR", "data-plane": "WORKER_ADDR", "router": "ROUTER_ADDR"}
LISTEN_ADDRS = {"CONTROL_HTTP_ADDR", "CONTROL_GRPC_ADDR", "WORKER_ADDR", "ROUTER_ADDR"}
# Every setting that holds a host:port.
ADDR_VARS = LISTEN_ADDRS | {"METRICS_ADDR", "WORKER_ADVERTISE_ADDR"}
# Variables a manifest may set only to build others ($(POD_IP)); not read by the binaries.
HELPER_VARS = {"POD_NAME", "POD_IP", "CELL_B_URL"}
# Keys of the Secret CloudNativePG generates for a Cluster (`<cluster>-app`).
CNPG_APP_SECRET_KEYS = {"username", "password", "host", "port", "dbname", "uri", "jdbc-uri", "pgpass"}
BASE_IMAGES = {"rust:1-bookworm", "node:22-bookworm-slim", "debian:bookworm-slim"}


class Checker:
    def __init__(self, root: str, out_dir: str):
        self.root = root
        self.out_dir = out_dir
        self.errors: list[str] = []
        self.section_errors = 0

    def fail(self, msg: str) -> None:
        self.errors.append(msg)
        self.section_errors += 1
        print(f"[deploy]   FAIL {msg}", flush=True)

    def step(self, title: str) -> None:
        self.section_errors = 0
        print(f"[deploy] {title}", flush=True)

    def ok(self, msg: str) -> None:
        if self.section_errors == 0:
            print(f"[deploy]   ok: {msg}", flush=True)

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)


# ---------------------------------------------------------------------------------------------
# README: the variables of each binary.

def readme_vars(c: Checker) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    known: dict[str, set[str]] = {}
    required: dict[str, set[str]] = {}
    try:
        text = open(c.path("README.md"), encoding="utf-8").read()
    except OSError as e:
        c.fail(f"README.md: {e}")
        return known, required
    for binary, heading in README_SECTIONS.items():
        m = re.search(r"^### `?" + re.escape(heading) + r"`?\s*$(.*?)(?=^#{2,3} )", text, re.M | re.S)
        names: set[str] = set()
        req: set[str] = set()
        if m:
            for line in m.group(1).splitlines():
                cells = [x.strip() for x in line.strip().strip("|").split("|")]
                if len(cells) < 3 or not line.lstrip().startswith("|"):
                    continue
                found = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]))
                names |= found
                if "required" in cells[2]:
                    req |= found
        if not names:
            c.fail(f"README.md: no configuration table under '### {heading}' (the env var checks read it)")
        known[binary] = names
        required[binary] = req | DEPLOY_REQUIRED[binary]
    return known, required


# ---------------------------------------------------------------------------------------------
# Dockerfiles.

def dockerfile_instructions(path: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def dockerignore_patterns(c: Checker) -> list[str]:
    try:
        lines = open(c.path(".dockerignore"), encoding="utf-8").read().splitlines()
    except OSError:
        c.fail(".dockerignore is missing at the repository root")
        return []
    return [l.strip().rstrip("/") for l in lines if l.strip() and not l.strip().startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    rel = rel.rstrip("/")
    for p in patterns:
        if p.startswith("!"):
            continue
        bare = p[3:] if p.startswith("**/") else p
        for cand in (p, bare):
            if fnmatch.fnmatch(rel, cand) or rel.startswith(cand + "/"):
                return True
        if p.startswith("**/") and any(fnmatch.fnmatch(part, bare) for part in rel.split("/")):
            return True
    return False


def workspace_members(c: Checker) -> list[str]:
    text = open(c.path("Cargo.toml"), encoding="utf-8").read()
    try:
        import tomllib
        return list(tomllib.loads(text)["workspace"]["members"])
    except ImportError:
        m = re.search(r"members\s*=\s*\[(.*?)\]", text, re.S)
        return re.findall(r'"([^"]+)"', m.group(1)) if m else []


def image_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """ENV of the last stage (the image that runs)."""
    env: dict[str, str] = {}
    for word, rest in instructions:
        if word == "FROM":
            env = {}
        elif word == "ENV":
            for tok in shlex.split(rest):
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    env[k] = v
    return env


def port_of(addr: str) -> int | None:
    m = re.search(r":(\d+)$", addr)
    return int(m.group(1)) if m else None


def check_dockerfiles(c: Checker) -> dict[str, dict[str, str]]:
    c.step("Dockerfiles (deploy/docker/)")
    patterns = dockerignore_patterns(c)
    for must in ("target", ".data", "console/node_modules"):
        if not ignored(must, patterns):
            c.fail(f".dockerignore does not exclude {must}/")
    members = workspace_members(c)
    envs: dict[str, dict[str, str]] = {}
    for binary in BINARIES:
        rel = f"deploy/docker/{binary}.Dockerfile"
        path = c.path(rel)
        if not os.path.isfile(path):
            c.fail(f"{rel} is missing")
            continue
        ins = dockerfile_instructions(path)
        stages: set[str] = set()
        froms: list[str] = []
        copied: set[str] = set()
        users: list[str] = []
        exposed: set[int] = set()
        builds = [rest for w, rest in ins if w == "RUN" and "cargo build" in rest]
        for word, rest in ins:
            if word == "FROM":
                parts = rest.split()
                froms.append(parts[0])
                if len(parts) >= 3 and parts[1].upper() == "AS":
                    stages.add(parts[2])
            elif word in ("COPY", "ADD"):
                args = shlex.split(rest)
                flags = [a for a in args if a.startswith("--")]
                paths = [a for a in args if not a.startswith("--")]
                srcs = paths[:-1]
                src_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
                if src_stage is not None:
                    if src_stage not in stages:
                        c.fail(f"{rel}: COPY --from={src_stage}: no such stage before it")
                    continue
                for s in srcs:
                    s = s.rstrip("/") or "."
                    copied.add(s)
                    hits = glob.glob(c.path(s)) if s != "." else [c.root]
                    if not hits:
                        c.fail(f"{rel}: COPY source {s} does not exist in the build context")
                    elif s != "." and ignored(s, patterns):
                        c.fail(f"{rel}: COPY source {s} is excluded by .dockerignore")
            elif word == "USER":
                users.append(rest)
            elif word == "EXPOSE":
                exposed |= {int(p.split("/")[0]) for p in rest.split()}
        for f in froms:
            if f not in BASE_IMAGES and f not in stages:
                c.fail(f"{rel}: FROM {f} is not one of {', '.join(sorted(BASE_IMAGES))}")
        if "rust:1-bookworm" not in froms:
            c.fail(f"{rel}: no rust:1-bookworm builder stage")
        if froms and froms[-1] != "debian:bookworm-slim":
            c.fail(f"{rel}: the runtime stage must be debian:bookworm-slim, not {froms[-1]}")
        if not builds or not all("--locked" in b and "--release" in b for b in builds):
            c.fail(f"{rel}: the binary must be built with cargo build --release --locked")
        if not any(f"-p {binary}" in b for b in builds):
            c.fail(f"{rel}: no cargo build of package {binary}")
        for need in ["Cargo.toml", "Cargo.lock"] + members:
            if need not in copied:
                c.fail(f"{rel}: workspace file or member {need} is not copied into the builder")
        if not users or users[-1].split(":")[0] not in ("10001",):
            c.fail(f"{rel}: the image must run as uid 10001 (USER 10001:10001)")
        env = image_env(ins)
        envs[binary] = env
        ports = {port_of(env[v]) for v in LISTEN_ADDRS if v in env}
        for v in LISTEN_ADDRS & env.keys():
            if not env[v].startswith("0.0.0.0:"):
                c.fail(f"{rel}: {v}={env[v]} does not listen on every interface")
        if ports != exposed:
            c.fail(f"{rel}: EXPOSE {sorted(exposed)} differs from the listen ports set by ENV {sorted(p for p in ports if p)}")
        if binary == "router":
            console = env.get("CONSOLE_DIR")
            if not console or not any(w == "COPY" and "--from=console" in r and r.split()[-1].rstrip("/") == console.rstrip("/") for w, r in ins):
                c.fail(f"{rel}: CONSOLE_DIR must point at the console copied from the console stage")
            if "node:22-bookworm-slim" not in froms or not any(w == "RUN" and "npm ci" in r for w, r in ins) \
                    or not any(w == "RUN" and "npm run build" in r for w, r in ins):
                c.fail(f"{rel}: the console must be built in a node:22-bookworm-slim stage with npm ci and npm run build")
    c.ok("3 Dockerfiles: sources exist, workspace members copied, --locked, non-root, ports exposed")
    return envs


# ---------------------------------------------------------------------------------------------
# Environment of one binary (compose service or Kubernetes container).

def check_env(c: Checker, where: str, binary: str, env: dict[str, str], known, required, strict_addr=True) -> None:
    for name in sorted(env):
        if name not in known.get(binary, set()) and name not in HELPER_VARS:
            c.fail(f"{where}: {name} is not a setting of {binary} (README, Configuration)")
    for name in sorted(required.get(binary, set()) - env.keys()):
        c.fail(f"{where}: {binary} needs {name}, which is not set")
    for name in LISTEN_ADDRS & env.keys():
        value = env[name]
        if value is not None and strict_addr and (value.startswith("127.") or value.startswith("localhost")):
            c.fail(f"{where}: {name}={value} listens on loopback only, unreachable from other containers")
    # An address must be host:port as written (a stray quote or backslash from YAML escaping
    # would stop the binary at start-up).
    for name in ADDR_VARS & env.keys():
        value = env[name]
        if value is None or value.startswith("<from"):
            continue
        if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:$()_]+:[0-9]{1,5}", value):
            c.fail(f"{where}: {name}={value!r} is not host:port")


# ---------------------------------------------------------------------------------------------
# compose.yaml

def check_compose(c: Checker, image_envs, known, required) -> None:
    c.step("compose (deploy/compose.yaml)")
    path = c.path("deploy", "compose.yaml")
    try:
        doc = yaml.safe_load(open(path, encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        c.fail(f"deploy/compose.yaml: {e}")
        return
    services = doc.get("services") or {}
    volumes = set((doc.get("volumes") or {}).keys())
    if not services:
        c.fail("compose.yaml: no services")
        return
    text = open(path, encoding="utf-8").read()
    env_example = c.path("deploy", ".env.example")
    documented: set[str] = set()
    if os.path.isfile(env_example):
        for line in open(env_example, encoding="utf-8"):
            m = re.match(r"\s*#?\s*([A-Z][A-Z0-9_]*)=", line)
            if m:
                documented.add(m.group(1))
    else:
        c.fail("deploy/.env.example is missing")
    for var in sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", text))):
        if var not in documented:
            c.fail(f"compose.yaml requires ${{{var}}} but deploy/.env.example does not mention it")
    workers: list[tuple[str, dict]] = []
    for name, svc in services.items():
        where = f"compose.yaml: service {name}"
        deps = svc.get("depends_on") or {}
        for dep in (deps if isinstance(deps, list) else deps.keys()):
            if dep not in services:
                c.fail(f"{where}: depends_on unknown service {dep}")
        for mount in svc.get("volumes") or []:
            src = mount.split(":")[0] if isinstance(mount, str) else mount.get("source")
            if src and not src.startswith((".", "/", "~")) and src not in volumes:
                c.fail(f"{where}: volume {src} is not declared under top-level volumes")
        build = svc.get("build")
        binary = None
        if build:
            ctx = os.path.normpath(os.path.join(c.root, "deploy", build.get("context", ".")))
            dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
            if not os.path.isdir(ctx):
                c.fail(f"{where}: build context {build.get('context')} does not exist")
            if not os.path.isfile(dockerfile):
                c.fail(f"{where}: dockerfile {build.get('dockerfile')} does not exist")
            if ctx != os.path.normpath(c.root):
                c.fail(f"{where}: the build context must be the repository root")
            m = re.search(r"deploy/docker/([a-z-]+)\.Dockerfile$", build.get("dockerfile", ""))
            binary = m.group(1) if m else None
        if binary is None:
            if name == "postgres" or "postgres" in str(svc.get("image", "")):
                if not str(svc.get("image", "")).startswith("postgres:16"):
                    c.fail(f"{where}: Postgres must be postgres:16")
                test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test", [])))
                if "pg_isready" not in test:
                    c.fail(f"{where}: no pg_isready healthcheck")
            continue
        env_raw = svc.get("environment") or {}
        if isinstance(env_raw, list):
            env_raw = dict(e.split("=", 1) if "=" in e else (e, None) for e in env_raw)
        # A variable without a value is passed through from deploy/.env when set there.
        env = {k: v for k, v in env_raw.items()}
        merged = dict(image_envs.get(binary, {}))
        merged.update({k: v for k, v in env.items()})
        check_env(c, where, binary, merged, known, required)
        needs_pg = binary in ("control-plane", "data-plane")
        cond = (deps.get("postgres") or {}).get("condition") if isinstance(deps, dict) else None
        if needs_pg and cond != "service_healthy":
            c.fail(f"{where}: must depend on postgres with condition service_healthy")
        if binary == "data-plane":
            workers.append((name, merged))
        if binary == "router":
            ports = [str(p) for p in svc.get("ports") or []]
            if not any(p.endswith(":8000") for p in ports):
                c.fail(f"{where}: the router must publish port 8000")
    if len(workers) < 2:
        c.fail(f"compose.yaml: {len(workers)} worker service(s), expected 2")
    for var in ("WORKER_ID", "WORKER_ADDR", "WORKER_ADVERTISE_ADDR"):
        values = [w[1].get(var) for w in workers]
        if len(set(values)) != len(values):
            c.fail(f"compose.yaml: workers share {var} ({values})")
    redis = services.get("redis")
    if not redis or "redis" not in (redis.get("profiles") or []):
        c.fail("compose.yaml: the optional redis service must be under the `redis` profile")
    c.ok(f"{len(services)} services, {len(volumes)} volumes, references and environment complete")


# ---------------------------------------------------------------------------------------------
# Kubernetes

def selector_matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def binary_of(image: str) -> str | None:
    base = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    return base if base in BINARIES else None


def check_k8s_overlay(c: Checker, overlay: str, renderer, cnpg_schema, known, required) -> int:
    rel = os.path.relpath(overlay, c.root)
    try:
        objects = renderer.render(overlay)
    except renderer.RenderError as e:
        c.fail(f"{rel}: {e}")
        return 0
    out = os.path.join(c.out_dir, os.path.basename(overlay) + ".yaml")
    with open(out, "w", encoding="utf-8") as f:
        f.write(yaml.safe_dump_all(objects, sort_keys=False))
    print(f"[deploy]   rendered {rel}: {len(objects)} objects -> {out}", flush=True)

    # Schemas.
    for o in objects:
        name = f"{rel}: {o['kind']}/{o['metadata']['name']}"
        if o["apiVersion"] == "postgresql.cnpg.io/v1":
            for err in sorted(jsonschema.Draft202012Validator(cnpg_schema).iter_errors(o), key=lambda e: list(e.path)):
                c.fail(f"{name}: {'.'.join(map(str, err.path)) or '(root)'}: {err.message}")
            continue
        try:
            kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            c.fail(f"{name}: {'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            c.fail(f"{name}: {e.message}")
        except (kubernetes_validate.InvalidSchemaError, VersionNotSupportedError) as e:
            c.fail(f"{name}: {e.message}")
            return len(objects)

    # References between objects.
    by_kind: dict[str, list[dict]] = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    pod_labels = [(w, w["spec"]["template"]["metadata"].get("labels", {})) for w in workloads]
    clusters = {o["metadata"]["name"] for o in by_kind.get("Cluster", [])}
    secrets: dict[str, set[str]] = {
        s["metadata"]["name"]: set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())
        for s in by_kind.get("Secret", [])
    }
    for cl in clusters:
        secrets[f"{cl}-app"] = CNPG_APP_SECRET_KEYS

    def matches_pods(selector: dict) -> list[dict]:
        return [w for w, labels in pod_labels if selector_matches(selector, labels)]

    for w in workloads:
        sel = w["spec"]["selector"].get("matchLabels", {})
        if not selector_matches(sel, w["spec"]["template"]["metadata"].get("labels", {})):
            c.fail(f"{rel}: {w['kind']}/{w['metadata']['name']}: selector does not match its pod template labels")
    # Two workloads whose selectors take in each other's pods would fight over them.
    for w in workloads:
        sel = w["spec"]["selector"].get("matchLabels", {})
        for other, labels in pod_labels:
            if other is not w and selector_matches(sel, labels):
                c.fail(f"{rel}: {w['kind']}/{w['metadata']['name']}: selector also matches the pods of {other['kind']}/{other['metadata']['name']}")
    # Every worker serves a cell the control plane knows: the default one or one named in CELLS.
    def env_value(binary: str, name: str) -> list[str]:
        return [e.get("value") or "" for w in workloads for ct in w["spec"]["template"]["spec"]["containers"]
                if binary_of(ct["image"]) == binary for e in ct.get("env", []) if e["name"] == name]
    cells = {"default"} | {entry.split("=", 1)[0].strip() for v in env_value("control-plane", "CELLS")
                           for entry in v.split(",") if "=" in entry}
    for w in workloads:
        for ct in w["spec"]["template"]["spec"]["containers"]:
            if binary_of(ct["image"]) != "data-plane":
                continue
            cell = next((e.get("value") for e in ct.get("env", []) if e["name"] == "WORKER_CELL"), "default")
            if cell not in cells:
                c.fail(f"{rel}: {w['kind']}/{w['metadata']['name']}: WORKER_CELL={cell} is not a cell of the control plane (CELLS)")
    for s in by_kind.get("Service", []):
        sel = s["spec"].get("selector") or {}
        targets = matches_pods(sel)
        if not targets:
            c.fail(f"{rel}: Service/{s['metadata']['name']}: selector {sel} matches no pods")
            continue
        names = {p.get("name") for w in targets for ct in w["spec"]["template"]["spec"]["containers"] for p in ct.get("ports", [])}
        nums = {p.get("containerPort") for w in targets for ct in w["spec"]["template"]["spec"]["containers"] for p in ct.get("ports", [])}
        for p in s["spec"].get("ports", []):
            tp = p.get("targetPort", p.get("port"))
            if tp not in names and tp not in nums:
                c.fail(f"{rel}: Service/{s['metadata']['name']}: targetPort {tp} is no container port of its pods")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not matches_pods(pdb["spec"]["selector"].get("matchLabels", {})):
            c.fail(f"{rel}: PodDisruptionBudget/{pdb['metadata']['name']}: selector matches no pods")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        if not any(w["kind"] == ref["kind"] and w["metadata"]["name"] == ref["name"] for w in workloads):
            c.fail(f"{rel}: HorizontalPodAutoscaler/{hpa['metadata']['name']}: no {ref['kind']}/{ref['name']}")
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
            c.fail(f"{rel}: HorizontalPodAutoscaler/{hpa['metadata']['name']}: minReplicas > maxReplicas")
    for np_ in by_kind.get("NetworkPolicy", []):
        sels = [np_["spec"]["podSelector"].get("matchLabels", {})]
        for rule in np_["spec"].get("ingress", []):
            sels += [peer["podSelector"].get("matchLabels", {}) for peer in rule.get("from", []) if "podSelector" in peer]
        for sel in sels:
            if not sel:
                continue  # {}: every pod
            if list(sel) == ["cnpg.io/cluster"]:
                if sel["cnpg.io/cluster"] not in clusters:
                    c.fail(f"{rel}: NetworkPolicy/{np_['metadata']['name']}: no CloudNativePG Cluster {sel['cnpg.io/cluster']}")
            elif not matches_pods(sel):
                c.fail(f"{rel}: NetworkPolicy/{np_['metadata']['name']}: selector {sel} matches no pods")

    for w in workloads:
        spec = w["spec"]["template"]["spec"]
        wname = f"{rel}: {w['kind']}/{w['metadata']['name']}"
        vols = {v["name"] for v in spec.get("volumes", [])}
        for ct in spec["containers"]:
            where = f"{wname} container {ct['name']}"
            port_names = {p.get("name"): p["containerPort"] for p in ct.get("ports", [])}
            for vm in ct.get("volumeMounts", []):
                if vm["name"] not in vols:
                    c.fail(f"{where}: volumeMount {vm['name']} has no volume")
            for probe in ("readinessProbe", "livenessProbe"):
                pr = ct.get(probe)
                if not pr:
                    c.fail(f"{where}: no {probe}")
                    continue
                for kind in ("httpGet", "tcpSocket"):
                    if kind in pr and isinstance(pr[kind]["port"], str) and pr[kind]["port"] not in port_names:
                        c.fail(f"{where}: {probe} port {pr[kind]['port']} is not a named container port")
            if "resources" not in ct or "limits" not in ct["resources"] or "requests" not in ct["resources"]:
                c.fail(f"{where}: resource requests and limits are required")
            sc = ct.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True:
                c.fail(f"{where}: securityContext must forbid privilege escalation and use a read-only root fs")
            if spec.get("securityContext", {}).get("runAsNonRoot") is not True:
                c.fail(f"{wname}: pod securityContext must set runAsNonRoot")
            env: dict[str, str | None] = {}
            for e in ct.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    if ref["name"] not in secrets:
                        c.fail(f"{where}: env {e['name']} reads Secret {ref['name']}, which is not rendered")
                    elif ref["key"] not in secrets[ref["name"]]:
                        c.fail(f"{where}: env {e['name']}: Secret {ref['name']} has no key {ref['key']}")
                env[e["name"]] = e.get("value", "<from " + ("secret" if ref else "field") + ">")
            for ef in ct.get("envFrom", []):
                sref = ef.get("secretRef")
                if sref:
                    if sref["name"] not in secrets:
                        c.fail(f"{where}: envFrom Secret {sref['name']} is not rendered")
                    for key in secrets.get(sref["name"], set()):
                        env.setdefault(key, "<from secret>")
            binary = binary_of(ct["image"])
            if binary is None:
                continue
            check_env(c, where, binary, env, known, required)
            annotations = w["spec"]["template"]["metadata"].get("annotations") or {}
            scrape_port = annotations.get("prometheus.io/port")
            if scrape_port is not None and str(port_of(env.get("METRICS_ADDR") or "")) != str(scrape_port):
                c.fail(f"{where}: prometheus.io/port {scrape_port!r} is not the port of METRICS_ADDR ({env.get('METRICS_ADDR')!r})")
            http_port = port_of(env.get(HTTP_ADDR[binary]) or "")
            if port_names.get("http") != http_port:
                c.fail(f"{where}: container port `http` ({port_names.get('http')}) is not the port of {HTTP_ADDR[binary]} ({http_port})")
            for probe in ("readinessProbe", "livenessProbe"):
                get = (ct.get(probe) or {}).get("httpGet") or {}
                if get.get("path") not in ("/health", "/ready"):
                    c.fail(f"{where}: {probe} must probe /health (or /ready once it exists)")
            if binary == "data-plane" and env.get("FILES_BACKEND") == "local":
                replicas = w["spec"].get("replicas", 1)
                hpa_max = max([h["spec"]["maxReplicas"] for h in by_kind.get("HorizontalPodAutoscaler", [])
                               if h["spec"]["scaleTargetRef"]["name"] == w["metadata"]["name"]] or [replicas])
                if max(replicas, hpa_max) > 1:
                    c.fail(f"{where}: FILES_BACKEND=local with more than one worker: files would not be shared (use s3)")
                mounts = {vm["mountPath"] for vm in ct.get("volumeMounts", [])}
                if env.get("FILES_DIR") not in mounts:
                    c.fail(f"{where}: FILES_DIR {env.get('FILES_DIR')} is not a mounted volume (read-only root fs)")
    return len(objects)


def check_k8s(c: Checker, known, required) -> None:
    sys.path.insert(0, c.path("scripts"))
    import render_kustomize as renderer

    cnpg_schema = json.load(open(c.path("deploy", "check", "cnpg-cluster.schema.json"), encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(cnpg_schema)
    overlays = sorted(d for d in glob.glob(c.path("deploy", "k8s", "overlays", "*")) if os.path.isdir(d))
    if not overlays:
        c.fail("deploy/k8s/overlays: no overlay")
    for overlay in overlays:
        c.step(f"Kubernetes overlay {os.path.relpath(overlay, c.root)} (schemas of Kubernetes {K8S_VERSION}, strict)")
        n = check_k8s_overlay(c, overlay, renderer, cnpg_schema, known, required)
        c.ok(f"{n} objects valid; selectors, secrets, probes and environment consistent")


def main() -> int:
    root, out_dir = sys.argv[1], sys.argv[2]
    c = Checker(os.path.abspath(root), out_dir)
    c.step("README configuration tables")
    known, required = readme_vars(c)
    c.ok(", ".join(f"{b}: {len(v)} settings" for b, v in known.items()))
    image_envs = check_dockerfiles(c)
    check_compose(c, image_envs, known, required)
    check_k8s(c, known, required)
    if c.errors:
        print(f"[deploy] {len(c.errors)} problem(s) found in deploy/", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
