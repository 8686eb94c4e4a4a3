"""compose.yaml and .env.example (issue 11 §3): the file matches what the
image expects (loaded with PyYAML), and `podman-compose up` (Debian's 1.0)
runs it: a fresh named volume, keys from .env, /ready 503 until a provider
exists, the image's HEALTHCHECK healthy after, and the volume survives
`down` + `up`.

    target/py-venv/bin/python tests/container/compose_test.py
"""
import os
import shutil
import tempfile

import yaml

import lib
from lib import check

S = {}
ADMIN = "llmo-admin-ctest-key-0000000002"


def case_matches_the_image():
    with open(os.path.join(lib.ROOT, "compose.yaml")) as f:
        doc = yaml.safe_load(f)
    svc = doc["services"]["llmo"]
    inspected = lib.inspect_image(S["image"])
    image = inspected["Config"]
    S["healthcheck"] = inspected["Healthcheck"]
    check(svc["image"].endswith(":-llmo:latest}"), f"image {svc['image']} (build-image.sh tags llmo:latest)")
    check(svc["env_file"] == ".env", f"env_file {svc.get('env_file')}")
    (vol,) = [v for v in svc["volumes"] if not v.startswith("#")]
    name, target = vol.split(":")
    check(target in image["Volumes"] and name in doc["volumes"], f"volume {vol} vs {image['Volumes']}")
    (port,) = svc["ports"]
    check(f"{port.rsplit(':', 1)[1]}/tcp" in image["ExposedPorts"], f"port {port}")
    check(svc["user"] == image["User"], f"user {svc['user']} vs the image's {image['User']}")
    check(svc["read_only"] is True and svc["cap_drop"] == ["ALL"], "read_only / cap_drop")
    hc = svc["healthcheck"]
    check("test" not in hc and S["healthcheck"]["Test"][1:3] == ["/usr/local/bin/llmo", "health"],
          "the healthcheck is the image's `llmo health`")
    grace = int(svc["stop_grace_period"].rstrip("s"))
    check(grace > 30, f"stop_grace_period {grace}s <= the 30s shutdown timeout")
    env = dict(line.split("=", 1) for line in open(os.path.join(lib.ROOT, ".env.example"))
               if "=" in line and not line.startswith("#"))
    check("LLMO_ADMIN_KEY" in env and "OPENAI_API_KEY" in env, f".env.example {sorted(env)}")
    check(all(v.strip() == "" for v in env.values()), ".env.example holds a value")
    ignored = open(os.path.join(lib.ROOT, ".gitignore")).read().split()
    check("/.env" in ignored, ".env is not git-ignored")
    return "image, user, volume, port, env_file, healthcheck agree"


def case_scale_profile():
    """The `scale` profile, read as compose would: PostgreSQL, Redis, a
    one-shot `llmo migrate up` and two replicas that start after it."""
    with open(os.path.join(lib.ROOT, "compose.yaml")) as f:
        doc = yaml.safe_load(f)
    svcs = doc["services"]
    scale = sorted(n for n, s in svcs.items() if "scale" in s.get("profiles", []))
    check(scale == ["llmo-1", "llmo-2", "llmo-migrate", "postgres", "redis"], f"scale profile {scale}")
    check("profiles" not in svcs["llmo"], "the default service must start without a profile")
    mig = svcs["llmo-migrate"]
    check(mig["command"] == ["migrate", "up"], f"llmo-migrate runs {mig['command']}")
    check(mig["depends_on"]["postgres"]["condition"] == "service_healthy", "migrate waits for postgres")
    ports = set()
    for name in ("llmo-1", "llmo-2"):
        r = svcs[name]
        check(r["depends_on"]["llmo-migrate"]["condition"] == "service_completed_successfully",
              f"{name} starts before the migrations finished")
        check(r["environment"]["LLMO_DB"] == mig["environment"]["LLMO_DB"]
              and r["environment"]["LLMO_DB"].startswith("postgres://")
              and "@postgres:5432/" in r["environment"]["LLMO_DB"], f"{name} LLMO_DB")
        check(r["environment"]["LLMO_REDIS_URL"] == "redis://redis:6379", f"{name} LLMO_REDIS_URL")
        check(r["user"] == svcs["llmo"]["user"] and r["read_only"] is True, f"{name} posture")
        ports.add(r["ports"][0].rsplit(":", 1)[0])
    check(len(ports) == 2, f"the replicas share a host port: {ports}")
    return "postgres, redis, migrate once, two replicas after it"


def compose(*args, check_rc=True):
    cmd = ["podman-compose", "--podman-args", " ".join(lib.PODMAN[1:]), *args]
    r = lib.run(cmd, check_rc=False, timeout=180,
                env=dict(lib.ENV, LLMO_IMAGE=S["image"], HTTP_PORT=str(S["port"])))
    if check_rc and r.returncode != 0:
        raise lib.Fail(f"podman-compose {' '.join(args)}: {r.stdout[-800:]}{r.stderr[-800:]}")
    return r


def case_up():
    proj = tempfile.mkdtemp(prefix="llmo-ctest-compose-")
    name = os.path.basename(proj)  # podman-compose 1.0 names the project after its directory
    S.update(proj=proj, ctr=f"{name}_llmo_1", port=lib.free_port())
    lib.at_exit(lambda: shutil.rmtree(proj, ignore_errors=True))
    lib.at_exit(lambda: lib.podman("network", "rm", "-f", f"{name}_default", check_rc=False))
    lib.at_exit(lambda: lib.podman("volume", "rm", "-f", f"{name}_llmo-data", check_rc=False))
    lib.at_exit(lambda: lib.podman("rm", "-f", "-v", "-t", "0", S["ctr"], check_rc=False))
    shutil.copy(os.path.join(lib.ROOT, "compose.yaml"), proj)
    with open(os.path.join(lib.ROOT, ".env.example")) as f:
        env = f.read()
    env = env.replace("LLMO_ADMIN_KEY=\n", f"LLMO_ADMIN_KEY={ADMIN}\n")
    env = env.replace("OPENAI_API_KEY=\n", "OPENAI_API_KEY=sk-compose-ctest\n")
    with open(os.path.join(proj, ".env"), "w") as f:
        f.write(env)
    os.chdir(proj)
    # Named: Debian's podman-compose 1.0 ignores `profiles:`, and would
    # start the `scale` profile's services too.
    compose("up", "-d", "llmo")
    base = S["base"] = f"http://127.0.0.1:{S['port']}"
    body = lib.wait_status(f"{base}/ready", 503)
    check("no providers" in str(body.get("problem")), f"/ready: {body}")
    check(body["server"]["admin_key"] is True, "LLMO_ADMIN_KEY from .env did not arrive")
    check(lib.podman("healthcheck", "run", S["ctr"], check_rc=False).returncode != 0,
          "healthy before a provider")
    compose("exec", "llmo", "llmo", "provider", "add", "openai", "--kind", "openai",
            "--api-key-env", "OPENAI_API_KEY", "--models", "gpt-4o-mini")
    body = lib.wait_status(f"{base}/ready", 200)
    (p,) = body["providers"]
    check(p["key"] == "env" and p["state"] != "key_missing", f"the key from .env: {p}")
    hc = lib.podman("healthcheck", "run", S["ctr"], check_rc=False)
    check(hc.returncode == 0, f"healthcheck once ready: {hc.stdout}{hc.stderr}")
    return "up, named volume, .env keys, healthy once a provider exists"


def case_down_up_keeps_the_volume():
    compose("down")
    compose("up", "-d", "llmo")
    lib.wait_status(f"{S['base']}/ready", 200)
    compose("down", "-v")
    return "the provider survived down + up"


def main():
    if not shutil.which("podman-compose"):
        raise SystemExit("podman-compose is missing: apt-get install podman-compose")
    S["image"] = lib.build_image()
    lib.main([
        ("compose.yaml matches the image", case_matches_the_image),
        ("the `scale` profile: PostgreSQL, Redis, migrate once, two replicas", case_scale_profile),
        ("podman-compose up: volume, env, healthcheck", case_up),
        ("down + up keeps the named volume", case_down_up_keeps_the_volume),
    ])


if __name__ == "__main__":
    main()
