"""The Kubernetes base (issue 11 §4), offline: `kubectl kustomize
deploy/k8s` renders; every object validates against the Kubernetes OpenAPI
schemas (PyPI `kubernetes-validate`, strict: unknown fields fail); the
security posture and the shutdown budget are what §4 lists; and the image
runs under podman the way the rendered StatefulSet says: its user, group and
fsGroup, read-only root, dropped capabilities, args, env (+ the example
Secret through envFrom), volumes (the PVC, the ConfigMap laid out as the
kubelet does, the emptyDir) and port, then its probes are hit.

Every setting the podman run uses is read from the rendered YAML, none is
copied here. Run with target/py-venv's python (PyYAML, kubernetes-validate):

    target/py-venv/bin/python tests/container/k8s_test.py
"""
import copy
import json
import os
import shutil
import subprocess
import tempfile
import time
import tomllib

import yaml
from kubernetes_validate import validate, ValidationError

import lib
from lib import check, log

# ---------------------------------------------------------------------------
# SWITCH ON AFTER MERGING the `config` branch (`llmo serve --apply` /
# LLMO_APPLY): then the catalog in the ConfigMap must be applied by the pod,
# and re-applied when the ConfigMap's mount is swapped. Before that merge the
# binary ignores LLMO_APPLY, and check_catalog_applied() is skipped.
APPLY_MERGED = True
# ---------------------------------------------------------------------------

K8S = os.path.join(lib.ROOT, "deploy", "k8s")
KUBE_VERSION = "1.30.0"  # the oldest Kubernetes the base is checked against
S = {}


def rendered():
    out = lib.run(["kubectl", "kustomize", K8S]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    check(len(found) == 1, f"want one {kind}, rendered {len(found)}")
    return found[0]


def case_render_and_validate():
    docs = S["docs"] = rendered()
    kinds = sorted(d["kind"] for d in docs)
    check(kinds == ["ConfigMap", "Service", "StatefulSet"], f"rendered kinds {kinds}")
    for d in docs:
        try:
            validate(d, KUBE_VERSION, strict=True)
        except ValidationError as e:
            raise lib.Fail(f"{d['kind']}/{d['metadata']['name']}: {e}")
    # The validator does fail: an unknown field and a wrong type are caught.
    sts = by_kind(docs, "StatefulSet")
    for mutate in (lambda c: c["securityContext"].update(readOnlyRootFilesytem=True),
                   lambda c: c.update(ports="8000")):
        bad = copy.deepcopy(sts)
        mutate(bad["spec"]["template"]["spec"]["containers"][0])
        try:
            validate(bad, KUBE_VERSION, strict=True)
        except ValidationError:
            continue
        raise lib.Fail("kubernetes-validate accepted a broken StatefulSet")
    secret = yaml.safe_load(open(os.path.join(K8S, "secret.example.yaml")))
    validate(secret, KUBE_VERSION, strict=True)
    S["secret"] = secret
    return f"{len(docs)} objects valid against Kubernetes {KUBE_VERSION} (strict)"


def case_postgres_overlay():
    """deploy/k8s/overlays/postgres, offline: the StatefulSet becomes a
    3-replica Deployment (no PVC), a PodDisruptionBudget covers it, a Job
    runs `llmo migrate up`, and the URLs come from the Secret."""
    out = lib.run(["kubectl", "kustomize", os.path.join(K8S, "overlays", "postgres")]).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    kinds = sorted(d["kind"] for d in docs)
    check(kinds == ["ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "Service"],
          f"rendered kinds {kinds}")
    for d in docs:
        try:
            validate(d, KUBE_VERSION, strict=True)
        except ValidationError as e:
            raise lib.Fail(f"overlay {d['kind']}/{d['metadata']['name']}: {e}")
    dep, job = by_kind(docs, "Deployment"), by_kind(docs, "Job")
    pdb, svc = by_kind(docs, "PodDisruptionBudget"), by_kind(docs, "Service")
    check(dep["spec"]["replicas"] == 3, f"replicas {dep['spec']['replicas']}")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    sel = svc["spec"]["selector"]
    check(all(pod_labels.get(k) == v for k, v in sel.items()), f"the Service {sel} misses the pods {pod_labels}")
    check(all(pod_labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()),
          "the PodDisruptionBudget misses the pods")
    check(pdb["spec"]["minAvailable"] < dep["spec"]["replicas"], "the PDB blocks every drain")
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    check(not all(job_labels.get(k) == v for k, v in sel.items()), "the Service would route to the migration Job")
    check(job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate", "up"], "the Job's args")
    (ctr,) = dep["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in ctr["env"]}
    for name in ("LLMO_DB", "LLMO_REDIS_URL"):
        ref = env[name].get("valueFrom", {}).get("secretKeyRef", {})
        check(ref.get("name") == "llmo-database", f"{name} is not read from the Secret: {env[name]}")
    check(not any(v["name"] == "data" for v in dep["spec"]["template"]["spec"]["volumes"]), "a data volume left")
    secret = yaml.safe_load(open(os.path.join(K8S, "overlays", "postgres", "secret.example.yaml")))
    validate(secret, KUBE_VERSION, strict=True)
    check({"LLMO_DB", "LLMO_MIGRATE_DB", "LLMO_REDIS_URL"} <= set(secret["stringData"]), "the example Secret's keys")
    return f"{len(docs)} objects valid; 3 replicas, PDB, migrate Job, URLs from the Secret"


def container_spec():
    sts = by_kind(S["docs"], "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return sts, pod, c


def env_value(c, name):
    return next((e.get("value") for e in c.get("env", []) if e["name"] == name), None)


def case_posture():
    """§4's list, on the rendered objects."""
    sts, pod, c = container_spec()
    sc, psc = c["securityContext"], pod["securityContext"]
    check(sts["spec"]["replicas"] == 1, "replicas")
    check(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data", "PVC template")
    check(psc.get("fsGroup") == 65532, f"fsGroup {psc.get('fsGroup')}")
    want = {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False}
    for k, v in want.items():
        check(sc.get(k) is v, f"securityContext.{k} = {sc.get(k)!r}")
    check(sc["capabilities"]["drop"] == ["ALL"], f"capabilities {sc['capabilities']}")
    check((sc.get("seccompProfile") or psc.get("seccompProfile"))["type"] == "RuntimeDefault",
          "seccompProfile")
    (http,) = [p["containerPort"] for p in c["ports"] if p["name"] == "http"]
    listen = env_value(c, "LLMO_LISTEN")
    check(listen == f"0.0.0.0:{http}", f"LLMO_LISTEN {listen} vs containerPort {http}")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        check(c[probe]["httpGet"]["port"] in ("http", http), f"{probe} port")
    check(c["livenessProbe"]["httpGet"]["path"] == "/health", "liveness path")
    check(c["readinessProbe"]["httpGet"]["path"] == "/ready", "readiness path")
    check("startupProbe" in c, "startupProbe")
    res = c["resources"]
    check(res["requests"].get("memory") and res["limits"].get("memory"), f"resources {res}")
    shutdown = env_value(c, "LLMO_SHUTDOWN_TIMEOUT") or "30s"
    check(shutdown.endswith("s"), f"LLMO_SHUTDOWN_TIMEOUT {shutdown}")
    grace = pod["terminationGracePeriodSeconds"]
    check(grace > int(shutdown[:-1]), f"terminationGracePeriodSeconds {grace} <= {shutdown}")
    # The catalog is the ConfigMap, mounted as a directory (subPath mounts are
    # never updated), at the path LLMO_APPLY names; the format parses.
    apply = env_value(c, "LLMO_APPLY")
    mount = next(m for m in c["volumeMounts"] if apply and apply.startswith(m["mountPath"] + "/"))
    check("subPath" not in mount, "the catalog mount uses subPath (never updated)")
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    cm = by_kind(S["docs"], "ConfigMap")
    check(vol["configMap"]["name"] == cm["metadata"]["name"], "catalog volume -> ConfigMap")
    catalog = tomllib.loads(cm["data"][os.path.basename(apply)])
    check(set(catalog) <= {"providers", "models", "keys"}, f"catalog tables {set(catalog)}")
    # Every key variable a provider names is in the Secret the pod reads.
    secret_name = c["envFrom"][0]["secretRef"]["name"]
    check(S["secret"]["metadata"]["name"] == secret_name, "secret.example.yaml's name")
    for name, p in catalog.get("providers", {}).items():
        if "api_key_env" in p:
            check(p["api_key_env"] in S["secret"]["stringData"],
                  f"provider {name}: {p['api_key_env']} is not in secret.example.yaml")
    # The image tag follows Cargo.toml's version.
    version = lib.run(["sed", "-n", 's/^version = "\\(.*\\)"$/\\1/p',
                       os.path.join(lib.ROOT, "Cargo.toml")]).stdout.split()[0]
    check(c["image"] == f"llmo:{version}", f"image {c['image']} (Cargo.toml says {version})")
    return f"grace {grace}s > shutdown {shutdown}; catalog at {apply}"


def kubelet_configmap_dir(cm, ts):
    """The ConfigMap as the kubelet lays it out: files in a timestamped
    directory, `..data` pointing at it, each key a symlink through `..data`;
    an update writes a new directory and renames a new `..data` over the old."""
    d = tempfile.mkdtemp(prefix="llmo-ctest-cm-")
    lib.at_exit(lambda: shutil.rmtree(d, ignore_errors=True))
    swap_configmap(d, cm["data"], ts)
    for key in cm["data"]:
        os.symlink(f"..data/{key}", os.path.join(d, key))
    os.chmod(d, 0o755)
    return d


def swap_configmap(d, data, ts):
    stamp = f"..{ts}"
    os.mkdir(os.path.join(d, stamp))
    for key, text in data.items():
        with open(os.path.join(d, stamp, key), "w") as f:
            f.write(text)
        os.chmod(os.path.join(d, stamp, key), 0o644)
    os.chmod(os.path.join(d, stamp), 0o755)
    os.symlink(stamp, os.path.join(d, "..data_tmp"))
    os.rename(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))


def podman_args_from_manifest(pod, c, port):
    """The `podman run` arguments that mean what the pod spec says."""
    psc, sc = pod.get("securityContext", {}), c.get("securityContext", {})
    uid = sc.get("runAsUser", psc.get("runAsUser"))
    gid = sc.get("runAsGroup", psc.get("runAsGroup"))
    check(uid is not None and gid is not None, "runAsUser/runAsGroup not set")
    args = ["--user", f"{uid}:{gid}"]
    if "fsGroup" in psc:
        args += ["--group-add", str(psc["fsGroup"])]
    if sc.get("readOnlyRootFilesystem"):
        # Only the pod's volumes are writable: no tmpfs that podman adds.
        args += ["--read-only", "--read-only-tmpfs=false"]
    if sc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    for cap in sc.get("capabilities", {}).get("drop", []):
        args += ["--cap-drop", cap]
    for cap in sc.get("capabilities", {}).get("add", []):
        args += ["--cap-add", cap]
    for e in c.get("env", []):
        args += ["-e", f"{e['name']}={e['value']}"]
    for src in c.get("envFrom", []):
        name = src["secretRef"]["name"]
        check(name == S["secret"]["metadata"]["name"], f"envFrom secret {name}")
        for k, v in S["secret"]["stringData"].items():
            args += ["-e", f"{k}={v}"]
    # The volumes: the PVC as a directory the way fsGroup leaves it (group
    # 65532, setgid, group-writable, owned by root), the ConfigMap as the
    # kubelet lays it out, an emptyDir as a world-writable directory.
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {t["metadata"]["name"] for t in S["sts"]["spec"].get("volumeClaimTemplates", [])}
    for m in c.get("volumeMounts", []):
        name, ro = m["name"], ":ro" if m.get("readOnly") else ""
        if name in claims:
            d = lib.data_dir(owner=0, mode=0o2770)
            os.chown(d, 0, psc["fsGroup"])
            os.chmod(d, 0o2770)
            S["pvc"] = d
        elif "configMap" in vols[name]:
            cm = by_kind(S["docs"], "ConfigMap")
            check(vols[name]["configMap"]["name"] == cm["metadata"]["name"], "configMap name")
            d = S["cm_dir"] = kubelet_configmap_dir(cm, "2026_01_01_00_00_00.1")
        elif "emptyDir" in vols[name]:
            d = lib.data_dir(owner=0, mode=0o1777)
        else:
            raise lib.Fail(f"volume {name}: no podman equivalent in this test")
        args += ["-v", f"{d}:{m['mountPath']}{ro}"]
    (p,) = [p for p in c["ports"] if p["name"] == "http"]
    args += ["-p", f"127.0.0.1:{port}:{p['containerPort']}"]
    return args


def probe_url(c, probe, port):
    g = c[probe]["httpGet"]
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(g["port"] in named or isinstance(g["port"], int), f"{probe} port {g['port']}")
    return f"http://127.0.0.1:{port}{g['path']}", named.get(g["port"], g["port"])


def case_runs_as_the_manifest_says():
    sts, pod, c = container_spec()
    S["sts"] = sts
    lib.build_image()
    port = lib.free_port()
    args = podman_args_from_manifest(pod, c, port)
    secrets = set(S["secret"]["stringData"].values())
    log("podman run", " ".join(a.split("=")[0] + "=***" if a.split("=", 1)[-1] in secrets else a
                                for a in args))
    ctr = S["ctr"] = lib.start("k8s", args, c.get("args", []))
    started = time.monotonic()
    mounts = json.loads(lib.podman("inspect", ctr, "--format", "{{json .Mounts}}").stdout)
    got = {m["Destination"]: m["RW"] for m in mounts}
    want = {m["mountPath"]: not m.get("readOnly", False) for m in c["volumeMounts"]}
    check(got == want, f"mounts {got}, the manifest says {want}")
    url, _ = probe_url(c, "startupProbe", port)
    # The manifest allows minutes (migrations of a large database); a fresh
    # one here is up in well under a second.
    lib.wait_status(url, 200, timeout=min(30, c["startupProbe"]["periodSeconds"] *
                                          c["startupProbe"]["failureThreshold"]))
    log(f"startupProbe {url} 200 after {time.monotonic() - started:.2f}s")
    help_ = lib.exec_(ctr, "llmo", "serve", "--help").stdout
    if "--apply" in help_ and not APPLY_MERGED:
        raise lib.Fail("this llmo has `serve --apply`: set APPLY_MERGED = True in "
                       "tests/container/k8s_test.py")
    url, _ = probe_url(c, "livenessProbe", port)
    check(lib.http("GET", url)[0] == 200, f"livenessProbe {url}")
    url, _ = probe_url(c, "readinessProbe", port)
    st, body = lib.http("GET", url)
    S["ready_url"] = url
    if not APPLY_MERGED:
        check(st == 503 and "no providers" in str(body.get("problem")),
              f"readinessProbe before the catalog is applied: {st} {body}")
    # The database is on the PVC, made by uid 65532 through fsGroup alone.
    db = os.path.join(S["pvc"], os.path.basename(env_value(c, "LLMO_DB")))
    lib.eventually(lambda: os.path.exists(db), f"{db} on the PVC")
    st_db = os.stat(db)
    check((st_db.st_uid, st_db.st_gid) == (65532, 65532), f"db owner {st_db.st_uid}:{st_db.st_gid}")
    doctor = lib.exec_(ctr, "llmo", "doctor", check_rc=False)
    check(doctor.returncode == 0, f"llmo doctor in the pod: {doctor.stdout}{doctor.stderr}")
    for v in S["secret"]["stringData"].values():
        check(v not in doctor.stdout + doctor.stderr + lib.logs(ctr), "a secret was printed")
    return f"probes: startup/liveness 200, readiness {st}"


def check_catalog_applied():
    """(APPLY_MERGED) The pod applied the ConfigMap's catalog: /ready 200 with
    the provider from catalog.toml, its model listed; then a ConfigMap
    update (the kubelet's symlink swap) is applied without a restart."""
    ctr, c = S["ctr"], container_spec()[2]
    lib.wait_status(S["ready_url"], 200)
    providers = lib.exec_(ctr, "llmo", "--json", "provider", "list").stdout
    cm = by_kind(S["docs"], "ConfigMap")
    key = os.path.basename(env_value(c, "LLMO_APPLY"))
    catalog = tomllib.loads(cm["data"][key])
    for name in catalog.get("providers", {}):
        check(f'"{name}"' in providers, f"provider {name} from the ConfigMap: {providers}")
    models = lib.exec_(ctr, "llmo", "--json", "model", "list").stdout
    for name in catalog.get("models", {}):
        check(f'"{name}"' in models, f"model {name} from the ConfigMap: {models}")
    new = cm["data"][key] + '\n[models."ctest-added"]\nproviders = [\n  { provider = "' + \
        next(iter(catalog["providers"])) + '", upstream_model = "x" },\n]\n'
    swap_configmap(S["cm_dir"], {key: new}, "2026_01_01_00_05_00.2")
    lib.eventually(lambda: '"ctest-added"' in lib.exec_(ctr, "llmo", "--json", "model", "list").stdout,
                   "the model added to the ConfigMap", timeout=30)
    return "catalog applied at start and after the ConfigMap swap"


def case_catalog():
    if not APPLY_MERGED:
        return "SKIPPED until `serve --apply` is merged (APPLY_MERGED = False)"
    return check_catalog_applied()


def case_sigterm():
    """The kubelet's stop: SIGTERM, then SIGKILL after the grace period."""
    pod = container_spec()[1]
    grace = pod["terminationGracePeriodSeconds"]
    t = time.monotonic()
    lib.podman("stop", "-t", str(grace), S["ctr"], timeout=grace + 30)
    took = time.monotonic() - t
    code = lib.podman("inspect", S["ctr"], "--format", "{{.State.ExitCode}}").stdout.strip()
    check(code == "0" and took < grace, f"exit {code} after {took:.1f}s (grace {grace}s)")
    return f"exit 0 in {took:.1f}s"


if __name__ == "__main__":
    if not shutil.which("kubectl"):
        raise SystemExit("kubectl is missing: it comes with these machines; install the "
                         "Kubernetes client (`kubectl`) to render deploy/k8s")
    lib.main([
        ("kubectl kustomize renders; every object validates offline", case_render_and_validate),
        ("the PostgreSQL overlay renders: Deployment x3, PDB, migrate Job", case_postgres_overlay),
        ("security posture, probes, shutdown budget, catalog, secrets", case_posture),
        ("the image runs as the rendered StatefulSet says; probes answer", case_runs_as_the_manifest_says),
        ("the ConfigMap's catalog is applied (LLMO_APPLY)", case_catalog),
        ("SIGTERM: exit 0 within terminationGracePeriodSeconds", case_sigterm),
    ])
