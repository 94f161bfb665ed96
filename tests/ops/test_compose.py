"""docker-compose.yml: web (gunicorn with gunicorn.conf.py), worker, beat, PostgreSQL 15 and Redis 7 from the image
the Dockerfile builds; the app containers share one environment, which the production settings accept once real keys
are set and refuse with the placeholders; `docker compose config` (or docker-compose) validates the file where
installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.ops.conftest import PRODUCTION_KEYS, REPO, base_env, manage
from vanguard.keys import KEY_NAMES

COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
APP_SERVICES = ("migrate", "web", "worker", "beat")
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::(?P<kind>[-?])(?P<rest>[^}]*))?\}")


def interpolate(value: object, shell: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?message}, against `shell` (the shell or .env)."""

    def replace(match: re.Match) -> str:
        name, kind, rest = match["name"], match["kind"], match["rest"]
        if shell.get(name):
            return shell[name]
        if kind == "?":
            raise LookupError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return VARIABLE.sub(replace, str(value))


def app_environment(service: str, shell: dict[str, str]) -> dict[str, str]:
    return {name: interpolate(value, shell) for name, value in COMPOSE["services"][service]["environment"].items()}


def test_the_stack_has_web_worker_beat_postgresql_15_and_redis_7():
    services = COMPOSE["services"]
    # then
    assert set(services) == {"db", "redis", *APP_SERVICES}
    assert services["db"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    for name in APP_SERVICES:
        assert services[name]["build"] == "." and services[name]["image"] == "vanguard:latest"
        assert services[name]["volumes"] == ["data:/data"]  # the documents (MEDIA_ROOT) and the backups
    assert services["web"]["command"] == ["gunicorn", "-c", "gunicorn.conf.py", "vanguard.asgi:application"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "vanguard", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "vanguard", "beat"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    # ... and nothing serves or works before the migrations ran
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["db"] == {"condition": "service_healthy"}


def test_web_worker_and_beat_share_one_production_environment_pointing_at_the_stack():
    # given
    shell = {"POSTGRES_PASSWORD": "pw", **PRODUCTION_KEYS}
    environments = {name: app_environment(name, shell) for name in APP_SERVICES}
    # then
    web = environments["web"]
    assert {k: v for k, v in web.items() if k not in {"PORT", "WEB_CONCURRENCY"}} == environments["worker"]
    assert environments["worker"] == environments["beat"] == environments["migrate"]
    assert web["DJANGO_ENV"] == "production"
    assert web["DATABASE_URL"] == "postgres://vanguard:pw@db:5432/vanguard"
    assert web["REDIS_URL"] == "redis://redis:6379/0"
    assert {name: web[name] for name in KEY_NAMES} == {name: PRODUCTION_KEYS[name] for name in KEY_NAMES}
    assert web["MEDIA_ROOT"] == "/data/media" and web["BACKUP_DIR"] == "/data/backups"
    # the database's password is the one in DATABASE_URL
    assert interpolate(COMPOSE["services"]["db"]["environment"]["POSTGRES_PASSWORD"], shell) == "pw"
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        app_environment("web", {})


def _check(environment: dict[str, str]) -> subprocess.CompletedProcess:
    # `check` reads the settings and runs the system checks without connecting to the database or Redis.
    return manage("check", env=base_env(**environment))


def test_the_placeholder_keys_are_refused_and_real_keys_accepted_by_the_production_settings():
    # when: the stack started without setting the keys
    placeholders = _check(app_environment("web", {"POSTGRES_PASSWORD": "pw"}))
    # then
    assert placeholders.returncode != 0
    assert "Production refuses missing or development keys: SECRET_KEY, JWT_SIGNING_KEY, PII_HASH_KEY" in (
        placeholders.stderr
    )
    # when: with real keys, the rest of the environment (hosts, origins, proxies, ...) is a valid production one
    real = _check(app_environment("web", {"POSTGRES_PASSWORD": "pw", **PRODUCTION_KEYS}))
    # then
    assert real.returncode == 0, real.stderr


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(  # noqa: S603
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_validates_the_file(tmp_path):
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    # given: a directory without a .env, so only this environment decides
    env = base_env(POSTGRES_PASSWORD="pw")
    env.pop("SECRET_KEY", None)
    args = [*command, "--file", str(COMPOSE_FILE), "--project-directory", str(tmp_path), "config"]
    # when
    valid = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    del env["POSTGRES_PASSWORD"]
    missing = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    # then
    assert valid.returncode == 0, valid.stderr
    assert "gunicorn.conf.py" in valid.stdout and "dev-insecure-placeholder-set-SECRET_KEY" in valid.stdout
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr
