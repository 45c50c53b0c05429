"""The deployment rules of docs/deploy.md, checked on a rendered overlay.

    python3 scripts/k8s-rules.py OVERLAY_NAME RENDERED.yaml   (run by scripts/k8s-check.sh)

Prints one line per broken rule and exits 1 when there is any; PyYAML comes with
kubernetes-validate's venv.
"""

import re
import sys

import yaml

COMPONENTS = ["gateway", "user", "video", "interaction", "social", "chat", "image"]
# Volo drains for up to 30 s after SIGTERM (2 s wait + 28 s drain)
DRAIN_SECS = 30
SECRET_WORDS = re.compile(r"secret|password|passwd|token|credential", re.I)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def main(overlay, path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    errors = []

    def err(msg):
        errors.append(f"overlay {overlay}: {msg}")

    # secrets never in a ConfigMap: no key named like one, no TOML key set to one,
    # no URL carrying a password
    for cm in by_kind.get("ConfigMap", []):
        for key, value in (cm.get("data") or {}).items():
            name = cm["metadata"]["name"]
            if SECRET_WORDS.search(key):
                err(f"ConfigMap {name} has a key {key!r} that looks secret")
            for line in str(value).splitlines():
                line = line.split("#", 1)[0]
                k = line.split("=", 1)[0].strip()
                if "=" in line and SECRET_WORDS.search(k) and line.split("=", 1)[1].strip():
                    err(f"ConfigMap {name}/{key} sets {k}")
                if URL_WITH_PASSWORD.search(line):
                    err(f"ConfigMap {name}/{key} holds a URL with a password")
    secrets = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
    configmaps = {c["metadata"]["name"] for c in by_kind.get("ConfigMap", [])}

    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", []) + by_kind.get("Job", [])
    for w in workloads:
        name = f"{w['kind']} {w['metadata']['name']}"
        pod = w["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and (ref["name"] not in secrets or ref["key"] not in (secrets[ref["name"]].get("data") or {})):
                    err(f"{name}: env {e['name']} refers to a missing secret key {ref['name']}/{ref['key']}")
                if "value" in e and (SECRET_WORDS.search(e["name"]) or URL_WITH_PASSWORD.search(str(e["value"]))):
                    err(f"{name}: env {e['name']} carries a secret in plain text")
            for ef in c.get("envFrom", []):
                ref = ef.get("configMapRef")
                if ref and ref["name"] not in configmaps:
                    err(f"{name}: envFrom refers to a missing ConfigMap {ref['name']}")
            # every fanone process reads the environment's FANONE__* (registry, Milvus, URL)
            if c.get("args", [None])[0] in COMPONENTS + ["migrate"] and not any(
                (ef.get("configMapRef") or {}).get("name", "").startswith("fanone-env") for ef in c.get("envFrom", [])
            ):
                err(f"{name}/{c['name']}: no envFrom ConfigMap fanone-env")
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(part, {})):
                    err(f"{name}/{c['name']}: resources.{part} needs cpu and memory")
            if overlay == "local" and c.get("imagePullPolicy") != "Never":
                err(f"{name}/{c['name']}: images are never pulled here (imagePullPolicy: Never)")

    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    pdbs = {p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component") for p in by_kind.get("PodDisruptionBudget", [])}
    for comp in COMPONENTS:
        d = deployments.get(comp)
        if d is None:
            err(f"no Deployment {comp}")
            continue
        if d["spec"].get("replicas", 1) < 2:
            err(f"Deployment {comp}: fewer than 2 replicas")
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]
        if c.get("args") != [comp]:
            err(f"Deployment {comp}: args should be [{comp!r}]")
        probes = {
            "readinessProbe": "/health/ready",
            "livenessProbe": "/health/live",
        }
        for probe, path in probes.items():
            got = (c.get(probe) or {}).get("httpGet", {})
            if got.get("path") != path or got.get("port") != "admin":
                err(f"Deployment {comp}: {probe} must GET {path} on the admin port")
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        if pod.get("terminationGracePeriodSeconds", 30) < DRAIN_SECS + pre_stop + 5:
            err(f"Deployment {comp}: terminationGracePeriodSeconds below the drain ({DRAIN_SECS} s) + preStop + 5 s")
        sc = pod.get("securityContext", {})
        if not sc.get("runAsNonRoot") or c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
            err(f"Deployment {comp}: must run as non-root without privilege escalation")
        ann = d["spec"]["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true":
            err(f"Deployment {comp}: no prometheus.io/scrape annotation")
        if comp not in pdbs:
            err(f"no PodDisruptionBudget for {comp}")
    if not any(h["spec"]["scaleTargetRef"]["name"] == "gateway" for h in by_kind.get("HorizontalPodAutoscaler", [])):
        err("no HorizontalPodAutoscaler for the gateway")
    if not any(j["spec"]["template"]["spec"]["containers"][0].get("args") == ["migrate"] for j in by_kind.get("Job", [])):
        err("no Job running `fanone migrate`")

    # network: default deny, and the Thrift ports open to the gateway only
    policies = by_kind.get("NetworkPolicy", [])
    if not any(p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"] and not p["spec"].get("ingress") for p in policies):
        err("no default-deny ingress NetworkPolicy")
    for p in policies:
        sel = p["spec"]["podSelector"].get("matchLabels", {})
        if sel.get("fanone.io/tier") == "service":
            for rule in p["spec"].get("ingress", []):
                froms = rule.get("from", [])
                if not froms or any(f.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") != "gateway" for f in froms):
                    err(f"NetworkPolicy {p['metadata']['name']}: services must be reachable from the gateway only")

    # every claim of the local overlay has its volume
    if overlay == "local":
        bound = {(pv["spec"]["claimRef"]["name"]) for pv in by_kind.get("PersistentVolume", []) if pv["spec"].get("claimRef")}
        claims = [c["metadata"]["name"] for c in by_kind.get("PersistentVolumeClaim", [])]
        for s in by_kind.get("StatefulSet", []):
            for t in s["spec"].get("volumeClaimTemplates", []):
                claims.append(f"{t['metadata']['name']}-{s['metadata']['name']}-0")
        for claim in claims:
            if claim not in bound:
                err(f"claim {claim} has no PersistentVolume")

    for e in errors:
        print(e, file=sys.stderr)
    if not errors:
        print(f"overlay {overlay}: deployment rules hold ({len(docs)} objects)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
