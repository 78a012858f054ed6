"""Checks of the self-hosting files: compose, Dockerfiles, CI, scripts, and the commands.

There is no Docker engine here, so nothing is built or run in a container. Instead:

- the compose files go through ``docker compose config`` (the Compose v2 binary from
  PyPI) with a complete test environment, and must fail, naming the variable, when a
  required one is missing;
- every Dockerfile goes through hadolint, and its structure is checked (non-root
  ``USER``, pinned bases, the workspace packages it copies match uv.lock);
- ``.gitlab-ci.yml`` is validated against GitLab's schema;
- the scripts the containers run are run here, against fakes (``mc``) or real local
  servers (PostgreSQL, moto's S3 API);
- each service container's command runs here as a local process, with the environment
  its image and compose give it (container host names, paths and ports mapped to local
  ones), and must answer ``/health``; then compose's own healthcheck command, run with
  that environment, must pass.
"""

from __future__ import annotations

import base64
import functools
import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from brain_core.testing import free_port

pytestmark = [
    # brain_core.testing.Server leaves its log file object to the garbage collector.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*server-logs:pytest.PytestUnraisableExceptionWarning"),
]

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
COLLECTOR_FILE = REPO / "compose.collector.yml"
ENV_EXAMPLE = REPO / ".env.example"
BIN = Path(sys.executable).parent
INFRA = REPO / "infrastructure"

#: Every Dockerfile and the compose service built from it.
DOCKERFILES = {
    "brain_receiver/Dockerfile": "receiver",
    "brain_transform_service/Dockerfile": "transform",
    "brain_inference/Dockerfile": "inference",
    "brain_drift/Dockerfile": "drift",
    "brain_data/Dockerfile": "brain-data",
    "brain_collector/Dockerfile": "collector",
    "infrastructure/airflow/Dockerfile": "airflow-api-server",
    "infrastructure/mlflow/Dockerfile": "mlflow",
}

#: Values for the required variables of .env.example (those with an empty value).
DUMMY_REQUIRED = {
    "BRAIN_DOMAIN": "brain.example.org",
    "BRAIN_TLS": "internal",
    "MINIO_ROOT_USER": "brain-admin",
    "AIRFLOW_ADMIN_USERNAME": "admin",
    "AIRFLOW_ADMIN_EMAIL": "admin@example.org",
    "API_URL": "https://brain.example.org",
    "API_USERNAME": "lab1",
}
#: Variables .env.example leaves empty on purpose: optional, not required.
OPTIONAL_EMPTY = {"UPTIME_KUMA_PUSH_URL"}


# ------------------------------------------------------------------------ helpers


def tool(name: str) -> str:
    """A tool from the environment's bin folder (docker-compose, hadolint, ...)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {BIN}; it is a dev dependency (make install)")
    return str(path)


def env_example(*, commented: bool = False) -> dict[str, str]:
    """``VAR=value`` lines of .env.example (``commented``: also ``#VAR=value`` lines)."""
    pattern = r"^#?([A-Z][A-Z0-9_]*)=(.*)$" if commented else r"^([A-Z][A-Z0-9_]*)=(.*)$"
    return {m[1]: m[2] for m in re.finditer(pattern, ENV_EXAMPLE.read_text(), re.M)}


def required_vars() -> list[str]:
    return [k for k, v in env_example().items() if v == "" and k not in OPTIONAL_EMPTY]


def compose_text() -> str:
    """Both compose files without their comment lines."""
    text = COMPOSE_FILE.read_text() + COLLECTOR_FILE.read_text()
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def compose_secret_names(path: Path) -> list[str]:
    return sorted((yaml.safe_load(path.read_text()).get("secrets") or {}).keys())


def write_test_env(tmp: Path, *, drop: str | None = None) -> Path:
    """A complete env file: .env.example, required values filled, dummy secret files."""
    secrets = tmp / "secrets"
    secrets.mkdir(exist_ok=True)
    for name in compose_secret_names(COMPOSE_FILE):
        (secrets / name).write_text("dummy-not-a-real-secret")
    (secrets / "collector_password").write_text("dummy-not-a-real-secret")
    values = {**env_example(), **DUMMY_REQUIRED, "BRAIN_SECRETS_DIR": str(secrets),
              "COLLECTOR_PASSWORD_FILE": str(secrets / "collector_password")}
    if drop:
        values.pop(drop)
    path = tmp / f"test-{drop or 'complete'}.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def compose(file: Path, env_file: Path, *args: str) -> subprocess.CompletedProcess:
    """``docker compose -f FILE --env-file ENV config ...`` with no other environment."""
    argv = [tool("docker-compose"), "-f", str(file), "--project-directory", str(REPO),
            "--env-file", str(env_file), *args]
    clean = {"PATH": os.environ["PATH"], "HOME": str(env_file.parent)}
    return subprocess.run(argv, capture_output=True, text=True, env=clean, timeout=60)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    """docker-compose.yml as compose resolves it (the tools profile included)."""
    tmp = tmp_path_factory.mktemp("compose")
    result = compose(COMPOSE_FILE, write_test_env(tmp), "--profile", "tools", "config",
                     "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def collector_config(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("compose-collector")
    result = compose(COLLECTOR_FILE, write_test_env(tmp), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_shot(service: dict) -> bool:
    """A job that runs to completion (a restart policy of "no"), not a long-running service."""
    return service.get("restart", "no") == "no"


def dockerfile_instructions(path: Path) -> list[tuple[int, str, str]]:
    """(stage index, INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stage, out = -1, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        ins, _, rest = line.partition(" ")
        ins = ins.upper()
        if ins == "FROM":
            stage += 1
        out.append((stage, ins, re.sub(r"\s+", " ", rest).strip()))
    return out


def final_stage(path: Path) -> list[tuple[str, str]]:
    instructions = dockerfile_instructions(path)
    last = max(stage for stage, _, _ in instructions)
    return [(ins, rest) for stage, ins, rest in instructions if stage == last]


def image_env(dockerfile: Path) -> dict[str, str]:
    """The ENV of a Dockerfile's final stage (PATH left out: it is the image's own)."""
    env: dict[str, str] = {}
    for ins, rest in final_stage(dockerfile):
        if ins == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                if key != "PATH":
                    env[key] = value
    return env


def image_cmd(dockerfile: Path) -> list[str]:
    cmds = [json.loads(rest) for ins, rest in final_stage(dockerfile) if ins == "CMD"]
    return cmds[-1]


def image_healthcheck(dockerfile: Path) -> list[str] | None:
    for ins, rest in final_stage(dockerfile):
        if ins == "HEALTHCHECK":
            return ["CMD", *json.loads(rest[rest.index("CMD") + 3:].strip())]
    return None


def workspace_members() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"][
        "members"]


def locked_workspace_deps(package: str) -> set[str]:
    """Workspace packages ``package`` depends on (itself included), from uv.lock."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}
    members = {n for n, p in packages.items() if "editable" in p.get("source", {})}
    seen, todo = {package}, [package]
    while todo:
        for dep in packages[todo.pop()].get("dependencies", []):
            if dep["name"] in members and dep["name"] not in seen:
                seen.add(dep["name"])
                todo.append(dep["name"])
    return seen


def package_of(dockerfile: Path) -> str | None:
    match = re.search(r"--package (\S+)", dockerfile.read_text())
    return match[1] if match else None


# ----------------------------------------------------------------- compose: config


def test_compose_config_accepts_a_complete_environment(config):
    services = config["services"]
    expected = {"caddy", "receiver", "receiver-admin", "transform", "inference", "drift",
                "brain-data", "mlflow", "postgres", "minio", "minio-init", "uptime-kuma",
                "airflow-init", "airflow-api-server", "airflow-scheduler",
                "airflow-dag-processor", "airflow-triggerer"}
    assert expected <= set(services), sorted(expected - set(services))
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == \
        "LocalExecutor"
    assert services["caddy"]["environment"]["BRAIN_DOMAIN"] == "brain.example.org"


def test_collector_compose_config_accepts_a_complete_environment(collector_config):
    collector = collector_config["services"]["collector"]
    assert collector["environment"]["API_URL"] == "https://brain.example.org"
    published = {(p["target"], p["protocol"]) for p in collector["ports"]}
    assert (9000, "udp") in published and (8501, "tcp") in published


@pytest.mark.parametrize("variable", required_vars())
def test_compose_refuses_to_start_without_a_required_variable(tmp_path, variable):
    result = compose(COMPOSE_FILE, write_test_env(tmp_path, drop=variable), "config")
    assert result.returncode != 0
    assert re.search(rf"required variable {variable} is missing a value: set {variable}",
                     result.stderr), result.stderr


@pytest.mark.parametrize("variable", ["API_URL", "API_USERNAME"])
def test_collector_compose_refuses_to_start_without_a_required_variable(tmp_path, variable):
    result = compose(COLLECTOR_FILE, write_test_env(tmp_path, drop=variable), "config")
    assert result.returncode != 0
    assert f"required variable {variable} is missing a value" in result.stderr


def test_every_required_variable_is_documented_and_used():
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", compose_text()))
    documented = set(env_example(commented=True))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    assert set(required_vars()) <= used, "required in .env.example but not in compose"


def test_every_variable_compose_reads_is_in_env_example():
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", compose_text()))
    missing = used - set(env_example(commented=True))
    assert not missing, f"compose reads variables .env.example does not document: {missing}"


def test_env_example_values_match_compose_defaults():
    defaults = dict(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}", compose_text()))
    documented = env_example(commented=True)
    different = {k: (v, documented[k]) for k, v in defaults.items()
                 if k in documented and documented[k] != v}
    assert not different, f"compose default != .env.example value: {different}"


def test_long_running_services_have_healthchecks_with_start_periods(config,
                                                                    collector_config):
    services = {**config["services"], **collector_config["services"]}
    for name, service in services.items():
        if one_shot(service):
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert check.get("start_period"), f"{name}'s healthcheck has no start_period"


def test_one_shot_jobs_are_awaited_to_completion(config):
    services = config["services"]
    jobs = {n for n, s in services.items() if one_shot(s) and "tools" not in
            s.get("profiles", [])}
    assert jobs == {"minio-init", "airflow-init"}
    awaited = {dep for s in services.values() for dep, cond in
               (s.get("depends_on") or {}).items()
               if cond["condition"] == "service_completed_successfully"}
    assert jobs <= awaited


def test_dependencies_wait_for_health(config):
    services = config["services"]
    for name, service in services.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            if one_shot(services[dep]):
                assert cond["condition"] == "service_completed_successfully", (name, dep)
            else:
                assert cond["condition"] == "service_healthy", (name, dep)
                assert services[dep].get("healthcheck", {}).get("test"), dep


def test_no_image_uses_latest_or_floats(config, collector_config):
    images = [s["image"] for s in
              [*config["services"].values(), *collector_config["services"].values()]]
    for path in DOCKERFILES:
        images += [rest.split()[0] for _, ins, rest in dockerfile_instructions(REPO / path)
                   if ins == "FROM"]
        images += re.findall(r"--from=(\S+:\S+)", (REPO / path).read_text())
    ci = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    for job in ci.values():
        if isinstance(job, dict) and "image" in job:
            image = job["image"]
            images.append(image["name"] if isinstance(image, dict) else image)
            images += [s["name"] if isinstance(s, dict) else s
                       for s in job.get("services", [])]
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image} has no tag"
        assert tag not in ("latest", "stable", "main", "edge"), f"{image} floats"


def test_persistent_data_lives_in_named_volumes(config):
    volumes = set(config.get("volumes", {}))
    need = {"spool", "receiver-state", "receiver-credentials", "dvc-raw", "dvc-features",
            "drift-reports", "postgres-data", "minio-data", "uptime-kuma-data",
            "caddy-data", "airflow-logs"}
    assert need <= volumes, sorted(need - volumes)
    mounts = {(name, m["source"]) for name, s in config["services"].items()
              for m in s.get("volumes", []) if m["type"] == "volume"}
    for volume in need:
        assert any(source == volume for _, source in mounts), f"{volume} is mounted nowhere"


def test_no_password_or_key_is_a_literal_value(config, collector_config):
    secretish = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN|FERNET|CREDENTIALS$", re.I)
    services = {**config["services"], **collector_config["services"]}
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if secretish.search(key) and not key.endswith(("_FILE", "_CMD")):
                pytest.fail(f"{name}: {key} is set in the environment; use a secret file")
            if key.endswith("_FILE") and secretish.search(key):
                assert str(value).startswith("/run/secrets/"), (name, key, value)
    text = compose_text()
    defaults = re.findall(r"\$\{([A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN)[A-Z0-9_]*):-", text)
    defaults = [name for name in defaults if not name.endswith(("_FILE", "_DIR"))]
    assert not defaults, f"secrets with default values: {defaults}"


def test_only_caddy_is_published_beyond_localhost(config):
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            if name != "caddy":
                assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port}"


def test_receiver_credentials_are_shared_with_the_admin_tool(config):
    services = config["services"]
    receiver = {m["target"]: m for m in services["receiver"]["volumes"]}
    admin = {m["target"]: m for m in services["receiver-admin"]["volumes"]}
    path = services["receiver"]["environment"]["BRAIN_RECEIVER_CREDENTIALS_FILE"]
    folder = str(Path(path).parent)
    assert receiver[folder]["source"] == admin[folder]["source"] == "receiver-credentials"
    assert receiver[folder].get("read_only") and not admin[folder].get("read_only")
    assert path in services["receiver-admin"]["entrypoint"]


@pytest.mark.parametrize("folder", ["brain_receiver", "brain_transform_service",
                                    "brain_inference", "brain_data", "brain_drift",
                                    "brain_collector", "brain_transformer_pipeline"])
def test_brain_variables_in_compose_are_settings_fields(config, collector_config, folder):
    """Every BRAIN_<SERVICE>_* variable compose sets names a field of that Settings."""
    if importlib.util.find_spec(f"{folder}.config") is None:
        pytest.skip(f"{folder}.config does not exist yet")
    settings = importlib.import_module(f"{folder}.config").Settings
    prefix = settings.model_config["env_prefix"]
    fields = {name.upper() for name in settings.model_fields}
    services = {**config["services"], **collector_config["services"]}
    seen = 0
    for name, service in services.items():
        for key in service.get("environment") or {}:
            if key.startswith(prefix):
                seen += 1
                assert key[len(prefix):] in fields, f"{name}: {key} is not a {folder} setting"
    for dockerfile in DOCKERFILES:
        for key in image_env(REPO / dockerfile):
            if key.startswith(prefix):
                assert key[len(prefix):] in fields, f"{dockerfile}: {key}"
    assert seen, f"compose sets no {prefix}* variable"


# ------------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_hadolint_passes(dockerfile):
    result = subprocess.run([tool("hadolint"), "--config", str(REPO / ".hadolint.yaml"),
                             dockerfile], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_runs_as_a_non_root_user(dockerfile):
    users = [rest for ins, rest in final_stage(REPO / dockerfile) if ins == "USER"]
    assert users, f"{dockerfile} has no USER in its final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"{dockerfile} runs as {users[-1]}"


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_has_two_stages_on_the_same_pinned_base(dockerfile):
    froms = [rest for _, ins, rest in dockerfile_instructions(REPO / dockerfile)
             if ins == "FROM"]
    assert len(froms) == 2
    assert all(f.split()[0] == "python:3.11-slim-bookworm" for f in froms), froms


@pytest.mark.parametrize("dockerfile", [d for d in sorted(DOCKERFILES) if "mlflow" not in d])
def test_dockerfile_installs_exactly_its_locked_workspace_packages(dockerfile):
    path = REPO / dockerfile
    text = path.read_text()
    package = package_of(path)
    assert package, f"{dockerfile} installs no workspace package"
    # Every member's pyproject (uv resolves the whole workspace), before any source.
    for member in workspace_members():
        assert f"COPY {member}/pyproject.toml {member}/" in text, (dockerfile, member)
    copied = {m.replace("_", "-") for m in re.findall(r"^COPY (brain_\w+)/ \1/$", text, re.M)}
    assert copied == locked_workspace_deps(package), (
        f"{dockerfile} copies {sorted(copied)}; {package} needs "
        f"{sorted(locked_workspace_deps(package))}")
    assert text.index("--no-install-workspace") < text.index("COPY brain_core/ ")
    assert "--frozen --no-dev --no-editable" in text


@pytest.mark.parametrize("dockerfile", [d for d in sorted(DOCKERFILES) if "mlflow" not in d])
def test_the_lock_satisfies_the_image_install(dockerfile, tmp_path):
    """``uv sync --frozen --package X`` (dry run) as the builder stage does it."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    package = package_of(REPO / dockerfile)
    result = subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--package", package,
         "--dry-run"], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
             "UV_PYTHON_DOWNLOADS": "never"})
    assert result.returncode == 0, result.stderr
    assert f"{package} @ file://" in result.stderr


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_healthcheck_is_compose_healthcheck(dockerfile, config, collector_config):
    services = {**config["services"], **collector_config["services"]}
    ours = image_healthcheck(REPO / dockerfile)
    if ours is None:
        assert "airflow" in dockerfile, f"{dockerfile} has no HEALTHCHECK"
        return
    assert services[DOCKERFILES[dockerfile]]["healthcheck"]["test"] == ours


def test_every_dockerfile_is_built_by_ci_and_compose(config, collector_config):
    found = {str(p.relative_to(REPO)) for p in REPO.glob("*/Dockerfile")} | \
        {str(p.relative_to(REPO)) for p in (REPO / "infrastructure").glob("*/Dockerfile")}
    assert found == set(DOCKERFILES)
    ci = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    built = {entry["DOCKERFILE"] for entry in ci["build"]["parallel"]["matrix"]}
    assert built == set(DOCKERFILES)
    services = {**config["services"], **collector_config["services"]}
    composed = {s["build"]["dockerfile"] for s in services.values() if "build" in s}
    assert composed == set(DOCKERFILES)


def test_dockerignore_keeps_environments_data_and_secrets_out():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".venv", ".git", "artifacts", "demo-output", ".env", "secrets"} <= ignored


# --------------------------------------------------------------------------- CI


def test_gitlab_ci_matches_gitlab_schema():
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci",
                             "--data-transform", "gitlab-ci", ".gitlab-ci.yml"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_files_match_compose_spec():
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema",
                             "vendor.compose-spec", str(COMPOSE_FILE), str(COLLECTOR_FILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_ci_stages_and_jobs():
    ci = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    assert ci["stages"] == ["lint", "test", "build", "deploy"]
    assert "make lint" in ci["lint"]["script"]
    assert ci["lint"]["variables"]["GIT_DEPTH"] == 0  # the secret scan reads all history
    assert "make audit" in ci["audit"]["script"]
    assert {"lint", "audit", "test"} <= set(ci["build"]["needs"])
    assert any("make test" in line for line in ci["test"]["script"])
    script = " ".join(ci["build"]["script"])
    assert "$CI_REGISTRY_IMAGE/$IMAGE:$CI_COMMIT_SHORT_SHA" in script
    assert "$CI_REGISTRY_IMAGE/$IMAGE:$CI_COMMIT_REF_SLUG" in script
    assert ci["deploy"]["rules"][0]["when"] == "manual"


def test_gitlab_ci_local_lists_the_jobs(tmp_path):
    """gitlab-ci-local (npm; `make system-deps` installs it) parses the pipeline offline."""
    gcl = os.environ.get("GITLAB_CI_LOCAL") or shutil.which("gitlab-ci-local")
    if not gcl or not Path(gcl).exists() and not shutil.which(gcl):
        pytest.fail("gitlab-ci-local is missing: `make system-deps` installs it into .tools/")
    # In a scratch git repository: it writes its state next to the pipeline file.
    shutil.copy(REPO / ".gitlab-ci.yml", tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = subprocess.run([gcl, "--list", "--home", str(tmp_path / "home")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for job in ("lint", "audit", "test", "deploy", "build: [receiver,brain_receiver/Dockerfile]"):
        assert job in result.stdout


# ------------------------------------------------------------------------ scripts


SCRIPTS = ["infrastructure/make-secrets.sh", "infrastructure/minio/init-buckets.sh",
           "infrastructure/mlflow/entrypoint.sh", "infrastructure/airflow/init.sh",
           "infrastructure/airflow/db-uri.sh", "infrastructure/airflow/secret.sh",
           "infrastructure/postgres/init-databases.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_syntax(script):
    shell = "bash" if "postgres" in script else "sh"
    result = subprocess.run([shell, "-n", script], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is missing: `make system-deps` installs it")
    result = subprocess.run(["shellcheck", script], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_caddyfile_routes_every_ui():
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.fail("caddy is missing: `make system-deps` installs it (Debian's caddy)")
    text = (INFRA / "caddy" / "Caddyfile").read_text()
    version = subprocess.run([caddy, "version"], capture_output=True, text=True).stdout
    if re.match(r"v?2\.[0-7]\.", version):
        text = text.replace("basic_auth {", "basicauth {")  # renamed in Caddy 2.8
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"caddy-{uuid.uuid4().hex}"
    work.mkdir()
    users = work / "users"
    users.write_text("brain $2a$14$2tUkXLVsY7kNUWMexNNbIez31oWAlVXhP5To6Hkld53b4K1IstQvq\n")
    (work / "Caddyfile").write_text(text.replace("/run/secrets/caddy_basic_auth", str(users)))
    env = {"PATH": os.environ["PATH"], "HOME": str(work), "BRAIN_DOMAIN": "brain.example.org",
           "BRAIN_TLS": "ops@example.org"}
    result = subprocess.run([caddy, "adapt", "--config", str(work / "Caddyfile"),
                             "--adapter", "caddyfile"], capture_output=True, text=True,
                            env=env, timeout=60)
    shutil.rmtree(work)
    assert result.returncode == 0, result.stderr
    servers = json.loads(result.stdout)["apps"]["http"]["servers"]
    assert all(s["read_header_timeout"] and s["read_timeout"]  # slowloris
               for s in servers.values())
    routes = servers["srv0"]["routes"]
    upstreams = {}
    for route in routes:
        host = route["match"][0]["host"][0]
        text = json.dumps(route)
        upstreams[host] = re.findall(r'"dial": "([^"]+)"', text)[0]
        if host.startswith("mlflow."):
            assert "http_basic" in text
    assert upstreams == {
        "brain.example.org": "receiver:8000", "mlflow.brain.example.org": "mlflow:5000",
        "airflow.brain.example.org": "airflow-api-server:8080",
        "minio.brain.example.org": "minio:9001", "status.brain.example.org": "uptime-kuma:3001"}


@pytest.fixture
def fake_bin(tmp_path) -> Path:
    """A bin folder for fake tools, first on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


def fake_tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_make_secrets_makes_every_compose_secret_once(tmp_path, fake_bin):
    fake_tool(fake_bin, "caddy", "read -r pw; echo '$2a$14$fakehashfakehashfakehash'\n")
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    secrets = tmp_path / "secrets"
    first = subprocess.run(["sh", str(INFRA / "make-secrets.sh"), str(secrets)], env=env,
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert set(compose_secret_names(COMPOSE_FILE)) <= {p.name for p in secrets.iterdir()}
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert (secrets / ".gitignore").read_text() == "*\n"
    for name in compose_secret_names(COMPOSE_FILE):
        content = (secrets / name).read_text()
        assert content and not content.endswith("\n"), name
        assert stat.S_IMODE((secrets / name).stat().st_mode) == 0o644, name
    assert re.fullmatch(r"[0-9a-f]{64}", (secrets / "postgres_password").read_text())
    key = (secrets / "airflow_fernet_key").read_text()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert (secrets / "caddy_basic_auth").read_text().startswith("brain $2a$14$")
    assert "aws_secret_access_key = " in (secrets / "s3_credentials").read_text()
    before = {p.name: p.read_text() for p in secrets.iterdir()}
    again = subprocess.run(["sh", str(INFRA / "make-secrets.sh"), str(secrets)], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0 and "kept" in again.stdout
    assert before == {p.name: p.read_text() for p in secrets.iterdir()}


def run_init_buckets(tmp_path, fake_bin, attach_error: str = ""):
    log = tmp_path / "mc.log"
    fake_tool(fake_bin, "mc", f"""echo "$* | $MC_HOST_brain" >> {log}
case "$*" in
  *"policy attach"*) if [ -n "{attach_error}" ]; then echo "{attach_error}" >&2; exit 1; fi ;;
esac
""")
    (tmp_path / "root").write_text("rootpassword1234")
    (tmp_path / "s3").write_text("[default]\naws_access_key_id = brain-services\n"
                                 "aws_secret_access_key =  0123abcd  \n")
    env = {"PATH": f"{fake_bin}:{os.environ['PATH']}", "MINIO_URL": "http://minio:9000",
           "MINIO_ROOT_USER": "brain-admin", "MINIO_ROOT_PASSWORD_FILE": str(tmp_path / "root"),
           "S3_CREDENTIALS_FILE": str(tmp_path / "s3"),
           "BRAIN_POLICY_FILE": str(INFRA / "minio" / "brain-services-policy.json")}
    result = subprocess.run(["sh", str(INFRA / "minio" / "init-buckets.sh")], env=env,
                            capture_output=True, text=True)
    return result, (log.read_text().splitlines() if log.exists() else [])


def test_minio_init_makes_buckets_and_a_limited_user(tmp_path, fake_bin):
    result, calls = run_init_buckets(tmp_path, fake_bin)
    assert result.returncode == 0, result.stderr
    assert all(c.endswith("| http://brain-admin:rootpassword1234@minio:9000") for c in calls)
    commands = [c.split(" | ")[0] for c in calls]
    assert commands[0] == "ready brain"
    for bucket in ("mlflow", "dvc-raw", "dvc-features"):
        assert f"mb --ignore-existing brain/{bucket}" in commands
    assert "admin user add brain brain-services 0123abcd" in commands
    assert "admin policy attach brain brain-services --user brain-services" in commands
    policy = json.loads((INFRA / "minio" / "brain-services-policy.json").read_text())
    resources = policy["Statement"][0]["Resource"]
    assert sorted(resources) == sorted(f"arn:aws:s3:::{b}{s}" for b in
                                       ("mlflow", "dvc-raw", "dvc-features") for s in ("", "/*"))


def test_minio_init_is_idempotent_but_fails_on_real_errors(tmp_path, fake_bin):
    again, _ = run_init_buckets(tmp_path, fake_bin,
                                "The specified policy change is already in effect.")
    assert again.returncode == 0, again.stderr
    broken, _ = run_init_buckets(tmp_path, fake_bin, "Access Denied.")
    assert broken.returncode != 0 and "Access Denied." in broken.stderr


def test_airflow_secret_helpers(tmp_path):
    (tmp_path / "airflow_jwt_secret").write_text("jwt-secret-value\n")
    (tmp_path / "db").write_text("p@ss/word:1\n")
    env = {**os.environ, "BRAIN_SECRETS_DIR": str(tmp_path), "AIRFLOW_DB_HOST": "postgres",
           "AIRFLOW_DB_PASSWORD_FILE": str(tmp_path / "db")}
    out = subprocess.run(["sh", str(INFRA / "airflow" / "secret.sh"), "airflow_jwt_secret"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "jwt-secret-value"
    missing = subprocess.run(["sh", str(INFRA / "airflow" / "secret.sh"), "nope"], env=env,
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "cannot be read" in missing.stderr
    uri = subprocess.run(["sh", str(INFRA / "airflow" / "db-uri.sh")], env=env,
                         capture_output=True, text=True)
    assert uri.returncode == 0, uri.stderr
    assert uri.stdout == "postgresql+psycopg2://airflow:p%40ss%2Fword%3A1@postgres:5432/airflow"


# ------------------------------------------- each container's command, run locally


def local_paths(tmp: Path) -> dict[str, str]:
    """Container paths -> local folders (longest first)."""
    return {
        "/opt/venv/lib/python3.11/site-packages/brain_dags/dags": str(REPO / "brain_dags" /
                                                                      "dags"),
        "/opt/venv/lib/python3.11/site-packages/brain_collector": str(REPO / "brain_collector"),
        "/opt/brain/airflow": str(INFRA / "airflow"),
        "/opt/airflow": str(tmp / "airflow-home"),
        "/var/lib/brain": str(tmp / "var-lib-brain"),
        "/run/secrets": str(tmp / "secrets"),
    }


def localize(env: dict[str, str | None], tmp: Path, urls: dict[str, str],
             ports: dict[str, int]) -> dict[str, str]:
    """A container's environment with its host names, paths and ports made local."""
    out = {}
    for key, value in env.items():
        value = "" if value is None else str(value)
        for old, new in {**urls, **local_paths(tmp)}.items():
            value = value.replace(old, new)
        if key in ports:
            value = str(ports[key])
        elif key.endswith(("_HOST", "_ADDRESS")) and value == "0.0.0.0":
            value = "127.0.0.1"
        elif key.endswith("_DB_HOST"):
            value = os.environ.get("PGHOST", "127.0.0.1")
        out[key] = value
    return out


def service_env(service: dict, dockerfile: str | None) -> dict:
    """What the container sees: the image's ENV, then compose's environment."""
    env = image_env(REPO / dockerfile) if dockerfile else {}
    env.update(service.get("environment") or {})
    return env


def make_mounts(service: dict, tmp: Path) -> None:
    """Create the local folders that stand in for the service's volumes (empty, as new)."""
    for mount in service.get("volumes", []):
        if mount["type"] == "volume":
            target = mount["target"]
            for old, new in local_paths(tmp).items():
                target = target.replace(old, new)
            Path(target).mkdir(parents=True, exist_ok=True)


def local_argv(argv: list[str], tmp: Path | None = None) -> list[str]:
    """A container command with this environment's executables (and ``tmp``'s paths)."""
    if tmp is not None:
        argv = list(argv)
        for old, new in local_paths(tmp).items():
            argv = [arg.replace(old, new) for arg in argv]
    head, *rest = argv
    if head == "python":
        return [sys.executable, *rest]
    if (BIN / head).exists():
        return [str(BIN / head), *rest]
    return argv


def run_healthcheck(service: dict, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Compose's healthcheck command of ``service``, run here with ``env``."""
    # `config` keeps compose's `$$` escapes; the engine gets a single `$`.
    test = [arg.replace("$$", "$") for arg in service["healthcheck"]["test"]]
    full = {**os.environ, **env, "PATH": f"{BIN}:{os.environ['PATH']}"}
    if test[0] == "CMD-SHELL":
        return subprocess.run(["sh", "-c", test[1]], env=full, capture_output=True, text=True,
                              timeout=120)
    return subprocess.run(local_argv(test[1:]), env=full, capture_output=True, text=True,
                          timeout=120)


def escape_braces(env: dict[str, str]) -> dict[str, str]:
    # start_server formats each value with {port}; nothing else is meant as a field.
    return {k: v.replace("{", "{{").replace("}", "}}") for k, v in env.items()}


def start_service(start_server, config: dict, name: str, dockerfile: str, tmp: Path,
                  urls: dict[str, str], port_var: str, **kwargs):
    """Start ``name``'s container command locally; return (server, local env)."""
    service = config["services"][name]
    port = free_port()
    env = localize(service_env(service, dockerfile), tmp, urls,
                   {port_var: port} if port_var else {})
    make_mounts(service, tmp)
    argv = local_argv(service.get("command") or image_cmd(REPO / dockerfile))
    server = start_server(name, argv, env=escape_braces(env), port=port, **kwargs)
    return server, env


@pytest.fixture
def work(tmp_path) -> Path:
    (tmp_path / "secrets").mkdir()
    return tmp_path


@pytest.mark.integration
def test_receiver_command_starts_and_its_healthcheck_passes(start_server, config, work):
    server, env = start_service(start_server, config, "receiver", "brain_receiver/Dockerfile",
                                work, {}, "BRAIN_RECEIVER_PORT")
    health = httpx.get(f"{server.url}/health", timeout=5).json()
    # Compose's service names do not resolve here: the receiver stores uploads regardless.
    assert health["status"] == "degraded"
    assert health["dependencies"] == {"inference": "unreachable", "drift": "unreachable"}
    assert health["spool"].startswith(str(work / "var-lib-brain" / "spool"))
    check = run_healthcheck(config["services"]["receiver"], env)
    assert check.returncode == 0, check.stderr
    # The admin tool writes the credentials file the receiver reads.
    admin = config["services"]["receiver-admin"]
    argv = local_argv([*admin["entrypoint"], "lab1"])
    argv = [a.replace("/var/lib/brain", str(work / "var-lib-brain")) for a in argv]
    added = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           env={**os.environ, **env})
    assert added.returncode == 0, added.stderr
    assert "API_PASSWORD=" in added.stdout
    credentials = Path(env["BRAIN_RECEIVER_CREDENTIALS_FILE"]).read_text()
    assert credentials.startswith("lab1:$argon2")


@pytest.mark.integration
def test_transform_command_starts_and_its_healthcheck_passes(start_server, config, work):
    server, env = start_service(start_server, config, "transform",
                                "brain_transform_service/Dockerfile", work, {},
                                "BRAIN_TRANSFORM_PORT")
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    check = run_healthcheck(config["services"]["transform"], env)
    assert check.returncode == 0, check.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_inference_command_starts_against_mlflow(start_server, mlflow_server, config, work):
    transform, _ = start_service(start_server, config, "transform",
                                 "brain_transform_service/Dockerfile", work, {},
                                 "BRAIN_TRANSFORM_PORT")
    urls = {"http://mlflow:5000": mlflow_server.url, "http://transform:8001": transform.url}
    server, env = start_service(start_server, config, "inference",
                                "brain_inference/Dockerfile", work, urls,
                                "BRAIN_INFERENCE_PORT", timeout_s=120)
    assert env["BRAIN_INFERENCE_TRACKING_URI"] == mlflow_server.url
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    check = run_healthcheck(config["services"]["inference"], env)
    assert check.returncode == 0, check.stderr


@pytest.mark.integration
def test_collector_command_starts_and_its_healthcheck_passes(start_server, collector_config,
                                                             work):
    if importlib.util.find_spec("brain_collector.app") is None:
        pytest.skip("brain_collector has no app.py yet")
    (work / "secrets" / "collector_password").write_text("a-collector-password-0123")
    service = collector_config["services"]["collector"]
    port = free_port()
    env = localize(service_env(service, "brain_collector/Dockerfile"), work, {},
                   {"STREAMLIT_SERVER_PORT": port})
    env["API_PASSWORD_FILE"] = str(work / "secrets" / "collector_password")
    make_mounts(service, work)
    argv = local_argv(image_cmd(REPO / "brain_collector/Dockerfile"), work)
    server = start_server("collector", argv, env=escape_braces(env), port=port,
                          health="/_stcore/health", timeout_s=120)
    assert httpx.get(f"{server.url}/_stcore/health", timeout=5).text == "ok"
    check = run_healthcheck(service, env)
    assert check.returncode == 0, check.stderr


@pytest.mark.integration
def test_drift_command_starts_and_its_healthcheck_passes(start_server, config, work):
    if importlib.util.find_spec("brain_drift.__main__") is None:
        pytest.skip("brain_drift has no __main__ yet (python -m brain_drift)")
    server, env = start_service(start_server, config, "drift", "brain_drift/Dockerfile", work,
                                {}, "BRAIN_DRIFT_PORT", timeout_s=120)
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    check = run_healthcheck(config["services"]["drift"], env)
    assert check.returncode == 0, check.stderr


def spawn(argv: list[str], log: Path, **kwargs) -> subprocess.Popen:
    """A child process in its own process group, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, **kwargs)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto's S3 API standing in for MinIO, with the buckets minio-init makes."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = spawn([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        for bucket in ("mlflow", "dvc-raw", "dvc-features"):
            assert httpx.put(f"{url}/{bucket}", timeout=5).status_code == 200
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def secrets_for(work: Path, fake_bin: Path) -> Path:
    """The secrets make-secrets.sh makes, where the local /run/secrets points."""
    fake_tool(fake_bin, "caddy", "read -r pw; echo '$2a$14$fakehashfakehashfakehash'\n")
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    subprocess.run(["sh", str(INFRA / "make-secrets.sh"), str(work / "secrets")], env=env,
                   check=True, capture_output=True)
    return work / "secrets"


@pytest.mark.integration
@pytest.mark.slow
def test_brain_data_command_creates_its_repositories_on_s3(config, work, moto, fake_bin):
    secrets_for(work, fake_bin)
    service = config["services"]["brain-data"]
    env = localize(service_env(service, "brain_data/Dockerfile"), work,
                   {"http://minio:9000": moto}, {})
    make_mounts(service, work)
    log = work / "brain-data.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = spawn(local_argv(image_cmd(REPO / "brain_data/Dockerfile")), log,
                 env={**clean, **env}, cwd=work)
    try:
        deadline = time.monotonic() + 120
        while run_healthcheck(service, env).returncode != 0:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        raw_config = (Path(env["BRAIN_DATA_RAW_REPO"]) / ".dvc" / "config").read_text()
        assert "s3://dvc-raw/brain" in raw_config and moto in raw_config
        # Stop it once it watches the spool (SIGTERM during start-up is not graceful).
        while "watching" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]


def postgres_or_skip() -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    if subprocess.run(["pg_isready", "--host", os.environ.get("PGHOST", "127.0.0.1")],
                      capture_output=True).returncode != 0:
        pytest.skip("no PostgreSQL server answers on PGHOST (default 127.0.0.1)")


def psql(sql: str) -> None:
    env = {**os.environ, "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
           "PGUSER": os.environ.get("PGUSER", "postgres")}
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-qc", sql, "postgres"], env=env,
                   check=True, capture_output=True)


@pytest.fixture
def databases(work, fake_bin):
    """init-databases.sh run against the local PostgreSQL, with unique names; dropped after."""
    postgres_or_skip()
    secrets = secrets_for(work, fake_bin)
    suffix = uuid.uuid4().hex[:8]
    names = {f"{app.upper()}_DB_{what}": f"brain_t_{app}_{suffix}"
             for app in ("mlflow", "airflow") for what in ("USER", "NAME")}
    env = {**os.environ, **names, "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
           "POSTGRES_USER": os.environ.get("PGUSER", "postgres"), "POSTGRES_DB": "postgres",
           "MLFLOW_DB_PASSWORD_FILE": str(secrets / "mlflow_db_password"),
           "AIRFLOW_DB_PASSWORD_FILE": str(secrets / "airflow_db_password")}
    script = str(INFRA / "postgres" / "init-databases.sh")
    try:
        for _ in range(2):  # idempotent: the second run only resets the passwords
            result = subprocess.run(["bash", script], env=env, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            assert "ready" in result.stdout
        yield names
    finally:
        for key in ("MLFLOW_DB_NAME", "AIRFLOW_DB_NAME"):
            psql(f'DROP DATABASE IF EXISTS "{names[key]}" WITH (FORCE)')
        for key in ("MLFLOW_DB_USER", "AIRFLOW_DB_USER"):
            psql(f'DROP ROLE IF EXISTS "{names[key]}"')


@pytest.mark.integration
@pytest.mark.slow
def test_mlflow_image_entrypoint_serves_from_postgres_and_s3(start_server, config, work,
                                                            moto, databases):
    service = config["services"]["mlflow"]
    env = {**service_env(service, "infrastructure/mlflow/Dockerfile"),
           "MLFLOW_DB_USER": databases["MLFLOW_DB_USER"],
           "MLFLOW_DB_NAME": databases["MLFLOW_DB_NAME"],
           "MLFLOW_DB_PORT": os.environ.get("PGPORT", "5432"),
           "MLFLOW_HOST": "127.0.0.1", "MLFLOW_WORKERS": "1"}
    port = free_port()
    env = localize(env, work, {"http://minio:9000": moto}, {"MLFLOW_PORT": port})
    env["PATH"] = f"{BIN}:{os.environ['PATH']}"
    entrypoint = ["sh", str(INFRA / "mlflow" / "entrypoint.sh")]
    server = start_server("mlflow-image", [*entrypoint, *image_cmd(REPO /
                          "infrastructure/mlflow/Dockerfile")], env=escape_braces(env),
                          port=port, timeout_s=180)
    assert run_healthcheck(service, env).returncode == 0
    # An artifact goes through the server's proxy into the S3 bucket.
    logged = subprocess.run(
        [sys.executable, "-c", "import mlflow\n"
         "with mlflow.start_run():\n    mlflow.log_text('hello', 'probe.txt')"],
        env={**os.environ, "MLFLOW_TRACKING_URI": server.url}, capture_output=True, text=True,
        timeout=120)
    assert logged.returncode == 0, logged.stderr[-3000:]
    listing = httpx.get(f"{moto}/mlflow?list-type=2&prefix=artifacts/", timeout=5).text
    assert "probe.txt" in listing
    server.stop()
    upgrade = subprocess.run([*entrypoint, "db-upgrade"], env={**os.environ, **env},
                             capture_output=True, text=True, timeout=180)
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]


@functools.cache
def airflow_hostname() -> str:
    return subprocess.run(
        [sys.executable, "-c", "from airflow.utils.net import get_hostname; "
         "print(get_hostname())"], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.integration
@pytest.mark.slow
def test_airflow_components_start_with_compose_settings(start_server, config, work,
                                                        databases):
    if importlib.util.find_spec("airflow") is None:
        pytest.skip("Airflow is not installed (it comes with brain-dags)")
    (work / "airflow-home").mkdir()
    ports = {"api": free_port(), "health": free_port(), "logs": free_port(),
             "trigger_logs": free_port()}
    urls = {"http://airflow-api-server:8080": f"http://127.0.0.1:{ports['api']}",
            "http://mlflow:5000": "http://127.0.0.1:9", "http://transform:8001":
            "http://127.0.0.1:9", "http://minio:9000": "http://127.0.0.1:9"}
    services = config["services"]

    def env_of(name: str) -> dict[str, str]:
        env = localize({**service_env(services[name], "infrastructure/airflow/Dockerfile"),
                        "AIRFLOW_DB_USER": databases["AIRFLOW_DB_USER"],
                        "AIRFLOW_DB_NAME": databases["AIRFLOW_DB_NAME"],
                        "AIRFLOW_DB_PORT": os.environ.get("PGPORT", "5432"),
                        "BRAIN_SECRETS_DIR": str(work / "secrets")},
                       work, urls,
                       {"AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT":
                        ports["health"]})
        env["PATH"] = f"{BIN}:{os.environ['PATH']}"
        env["HOSTNAME"] = airflow_hostname()
        # Here, listen on the loopback only, on free ports, with one API worker.
        env.update({
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["logs"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger_logs"])})
        if importlib.util.find_spec("airflow.providers.fab") is None:
            # Not in the lock yet: the API server cannot load the FAB auth manager.
            env["AIRFLOW__CORE__AUTH_MANAGER"] = ("airflow.api_fastapi.auth.managers.simple."
                                                  "simple_auth_manager.SimpleAuthManager")
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "admin:admin"
        return env

    # airflow-init: the database migration, then the admin user (needs FAB).
    init_env = {**os.environ, **env_of("airflow-init")}
    init = subprocess.run(local_argv(services["airflow-init"]["command"], work), env=init_env,
                          capture_output=True, text=True, timeout=300, cwd=work)
    assert "migrating the metadata database" in init.stdout
    if importlib.util.find_spec("airflow.providers.fab") is None:
        assert init.returncode != 0
        assert "apache-airflow-providers-fab is not installed" in init.stderr
    else:
        assert init.returncode == 0, init.stderr[-3000:]

    argv = services["airflow-api-server"]["command"]
    argv = local_argv([a if a != "8080" else str(ports["api"]) for a in argv])
    api = start_server("airflow-api-server", argv, env=escape_braces(
        env_of("airflow-api-server")), port=ports["api"], health="/api/v2/monitor/health",
        timeout_s=180)
    assert httpx.get(f"{api.url}/api/v2/monitor/health", timeout=10).status_code == 200
    scheduler = start_server("airflow-scheduler",
                             local_argv(services["airflow-scheduler"]["command"]),
                             env=escape_braces(env_of("airflow-scheduler")),
                             port=ports["health"], health="/health", timeout_s=180)
    assert scheduler.proc.poll() is None
    check = run_healthcheck(services["airflow-scheduler"], env_of("airflow-scheduler"))
    assert check.returncode == 0, check.stderr
    # The DAG processor and the triggerer, side by side; `airflow jobs check` finds them.
    names = ("airflow-dag-processor", "airflow-triggerer")
    envs = {name: env_of(name) for name in names}
    procs = {name: spawn(local_argv(services[name]["command"]), work / f"{name}.log",
                         env={**os.environ, **envs[name]}, cwd=work) for name in names}
    try:
        pending, deadline = set(names), time.monotonic() + 180
        while pending:
            for name in sorted(pending):
                check = run_healthcheck(services[name], envs[name])
                if check.returncode == 0:
                    pending.discard(name)
                    continue
                log = (work / f"{name}.log").read_text()[-3000:]
                assert procs[name].poll() is None, log
                assert time.monotonic() < deadline, check.stdout + check.stderr + log
            time.sleep(2)
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    api.stop()
    scheduler.stop()
