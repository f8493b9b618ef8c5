#!/usr/bin/env python3
"""Renders a kustomization (deploy/k8s/...) without the kustomize binary.

It supports exactly the features Backendify's manifests use, and refuses anything else, so a
manifest that needs more fails here instead of rendering differently from `kubectl apply -k`:

- `resources`: YAML files (one or more documents) and folders holding a kustomization.yaml;
- `components`: folders whose kustomization.yaml is `kind: Component` (its `resources` and
  `patches` join the including kustomization's objects);
- `patches` with `path` only: strategic-merge patches, one object per file, matched by apiVersion,
  kind and name. Maps merge key by key (`null` deletes a key); lists of containers, env, volumes,
  volumeMounts, imagePullSecrets and ports merge by their key (name, mountPath, containerPort or
  port) for built-in kinds; every other list, and every list of a custom resource (JSON merge
  patch), is replaced;
- `namespace`: set on every namespaced object;
- `labels` with `pairs` and `includeTemplates` (selectors are never touched);
- `images` with `name`, `newName`, `newTag`.

Transformers run in kustomize's order: patches, namespace, labels, images.

Usage: render_kustomize.py DIR [-o OUT.yaml]   (stdout when no -o)
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

import yaml

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "components", "patches", "images"}
COMPONENT_KEYS = {"apiVersion", "kind", "resources", "patches"}
LABEL_KEYS = {"pairs", "includeTemplates", "includeSelectors"}
IMAGE_KEYS = {"name", "newName", "newTag"}
PATCH_KEYS = {"path"}

# Kinds without a namespace (only those a manifest here could contain).
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass",
}
# API groups whose objects get strategic-merge semantics; anything else is a custom resource.
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"}
# List fields merged item by item (patchMergeKey in the Kubernetes API), by field name.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class RenderError(Exception):
    pass


def load_docs(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        raise RenderError(f"{path}: {e}") from e
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            raise RenderError(f"{path}: every document must be an object with apiVersion and kind")
        if not isinstance(d.get("metadata"), dict) or not d["metadata"].get("name"):
            raise RenderError(f"{path}: a {d['kind']} without metadata.name")
    return docs


def read_kustomization(folder: str) -> tuple[str, dict]:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                try:
                    k = yaml.safe_load(f) or {}
                except yaml.YAMLError as e:
                    raise RenderError(f"{path}: {e}") from e
            if not isinstance(k, dict):
                raise RenderError(f"{path}: not a mapping")
            return path, k
    raise RenderError(f"{folder}: no kustomization.yaml")


def check_keys(where: str, obj: dict, allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise RenderError(f"{where}: unsupported field(s) {', '.join(unknown)} (this renderer supports {', '.join(sorted(allowed))})")


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def ident(obj: dict) -> tuple[str, str, str, str]:
    md = obj["metadata"]
    return (group_of(obj["apiVersion"]), obj["kind"], md.get("namespace", ""), md["name"])


def show(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


# ---------------------------------------------------------------------------------------------
# Strategic merge (the subset described above).

def merge(base, patch, builtin: bool, field: str = ""):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value, builtin, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and builtin:
        key = MERGE_KEYS.get(field)
        if field == "ports" and all(isinstance(i, dict) for i in base + patch):
            key = "containerPort" if any("containerPort" in i for i in base + patch) else "port"
        if key and all(isinstance(i, dict) and key in i for i in base + patch):
            out = [copy.deepcopy(i) for i in base]
            for item in patch:
                for n, existing in enumerate(out):
                    if existing[key] == item[key]:
                        out[n] = merge(existing, item, builtin, "")
                        break
                else:
                    out.append(copy.deepcopy(item))
            return out
    return copy.deepcopy(patch)


def apply_patches(objects: list[dict], patches: list, folder: str, where: str) -> list[dict]:
    for p in patches or []:
        if not isinstance(p, dict):
            raise RenderError(f"{where}: patches must be objects with `path`")
        check_keys(f"{where}: patch", p, PATCH_KEYS)
        if "path" not in p:
            raise RenderError(f"{where}: a patch without `path`")
        path = os.path.join(folder, p["path"])
        docs = load_docs(path)
        if len(docs) != 1:
            raise RenderError(f"{path}: a patch file must hold exactly one object")
        patch = docs[0]
        pmd = patch["metadata"]
        hits = [
            i for i, o in enumerate(objects)
            if o["apiVersion"] == patch["apiVersion"] and o["kind"] == patch["kind"]
            and o["metadata"]["name"] == pmd["name"]
            and ("namespace" not in pmd or o["metadata"].get("namespace") == pmd["namespace"])
        ]
        if len(hits) != 1:
            raise RenderError(f"{path}: patch for {show(patch)} matches {len(hits)} objects (needs exactly 1)")
        i = hits[0]
        objects[i] = merge(objects[i], patch, group_of(patch["apiVersion"]) in BUILTIN_GROUPS)
    return objects


# ---------------------------------------------------------------------------------------------
# The other transformers.

def set_namespace(objects: list[dict], namespace: str) -> None:
    for o in objects:
        if o["kind"] not in CLUSTER_SCOPED:
            o["metadata"]["namespace"] = namespace


def add_labels(objects: list[dict], entries: list, where: str) -> None:
    for entry in entries or []:
        if not isinstance(entry, dict):
            raise RenderError(f"{where}: labels entries must be objects")
        check_keys(f"{where}: labels", entry, LABEL_KEYS)
        if entry.get("includeSelectors"):
            raise RenderError(f"{where}: labels.includeSelectors: true is not supported (selectors are immutable)")
        pairs = entry.get("pairs") or {}
        for o in objects:
            o["metadata"].setdefault("labels", {}).update(pairs)
            if entry.get("includeTemplates") and o["kind"] in WORKLOADS:
                tmpl = o.setdefault("spec", {}).setdefault("template", {})
                tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def pod_spec(o: dict):
    if o["kind"] in WORKLOADS:
        return o.get("spec", {}).get("template", {}).get("spec")
    return None


def set_images(objects: list[dict], images: list, where: str) -> None:
    for img in images or []:
        check_keys(f"{where}: images", img, IMAGE_KEYS)
        if "name" not in img:
            raise RenderError(f"{where}: an images entry without name")
    for o in objects:
        spec = pod_spec(o)
        if not spec:
            continue
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            ref = c.get("image", "")
            name, tag = ref, None
            if ":" in ref.rsplit("/", 1)[-1]:
                name, tag = ref.rsplit(":", 1)
            for img in images or []:
                if img["name"] == name:
                    c["image"] = f"{img.get('newName', name)}:{img.get('newTag', tag or 'latest')}"


# ---------------------------------------------------------------------------------------------

def render(folder: str, component: bool = False) -> list[dict]:
    """The objects of the kustomization in `folder`, transformed by it."""
    where, k = read_kustomization(folder)
    kind = k.get("kind", "Kustomization")
    if component:
        if kind != "Component":
            raise RenderError(f"{where}: a component must be kind: Component")
        check_keys(where, k, COMPONENT_KEYS)
    else:
        if kind != "Kustomization":
            raise RenderError(f"{where}: kind {kind} here is not supported (Component only under components)")
        check_keys(where, k, KUSTOMIZATION_KEYS)
    objects: list[dict] = []
    for res in k.get("resources") or []:
        path = os.path.normpath(os.path.join(folder, res))
        if os.path.isdir(path):
            objects += render(path)
        elif os.path.isfile(path):
            objects += load_docs(path)
        else:
            raise RenderError(f"{where}: resource {res} does not exist")
    if component:
        return objects  # patches are applied by the including kustomization (see below)
    for comp in k.get("components") or []:
        path = os.path.normpath(os.path.join(folder, comp))
        if not os.path.isdir(path):
            raise RenderError(f"{where}: component {comp} does not exist")
        objects += render(path, component=True)
        cwhere, ck = read_kustomization(path)
        objects = apply_patches(objects, ck.get("patches"), path, cwhere)
    objects = apply_patches(objects, k.get("patches"), folder, where)
    if k.get("namespace"):
        set_namespace(objects, k["namespace"])
    add_labels(objects, k.get("labels"), where)
    set_images(objects, k.get("images"), where)
    seen = set()
    for o in objects:
        if ident(o) in seen:
            raise RenderError(f"{where}: {show(o)} is defined twice")
        seen.add(ident(o))
    return objects


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="folder holding a kustomization.yaml")
    ap.add_argument("-o", "--output", help="write the rendered YAML here instead of stdout")
    args = ap.parse_args()
    try:
        objects = render(os.path.normpath(args.dir))
    except RenderError as e:
        print(f"render_kustomize: {e}", file=sys.stderr)
        return 1
    text = yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
