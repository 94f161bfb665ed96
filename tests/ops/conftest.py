"""Helpers for operations tests: subprocesses of manage.py, celery and gunicorn, and a throwaway PostgreSQL server.

Every subprocess is bounded in time and stopped by its own pid; nothing here touches the shared servers beyond
the test database and this suite's own Redis database number.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# This suite's own Redis database: other suites use 15 (TEST_REDIS_URL); nothing else writes here.
OPS_REDIS_URL = os.environ.get("OPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")

PRODUCTION_KEYS = {
    "SECRET_KEY": "prod-secret-" + "k" * 60,
    "JWT_SIGNING_KEY": "prod-jwt-" + "j" * 60,
    "PII_HASH_KEY": "prod-pii-" + "p" * 60,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(**overrides: str) -> dict[str, str]:
    """The environment of a child process: this one's, minus anything that would redirect it, plus overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "CELERY_", "DJANGO_SUPERUSER"))}
    env.pop("REDIS_URL", None)
    env.update({"PYTHONUNBUFFERED": "1", "DJANGO_ENV": "test", "DJANGO_SETTINGS_MODULE": "vanguard.settings"})
    env.update(overrides)
    return env


def production_env(**overrides: str) -> dict[str, str]:
    values = {
        "DJANGO_ENV": "production",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/vanguard",
        "REDIS_URL": OPS_REDIS_URL,
        "ALLOWED_HOSTS": "vanguard.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://vanguard.example.com",
        "CORS_ALLOWED_ORIGINS": "https://portal.example.com",
        **PRODUCTION_KEYS,
    }
    values.update(overrides)
    return base_env(**values)


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def database_url_of_test_db() -> str:
    """The URL of the test database pytest-django created (call from a test with database access)."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def wait_for(predicate: Callable[[], object], *, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen, *, grace: float = 15) -> None:
    """SIGTERM the process (and its group: gunicorn and celery fork children), then SIGKILL after `grace`."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture
def ops_redis():
    """This suite's Redis database, emptied before and after the test."""
    import redis

    client = redis.Redis.from_url(OPS_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.fail(f"Redis is not reachable at {OPS_REDIS_URL} (start it: redis-server --port 6379)")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


class ThrowawayPostgres:
    """A private PostgreSQL server (initdb in a temporary directory, its own port) that a test may stop and start
    at will; the shared server on 5432 is never touched."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"
        self.bin = Path(shutil.which("initdb") or "initdb").resolve().parent  # the server version's own tools

    def _run(self, *args: str, timeout: float = 60) -> None:
        # PostgreSQL refuses to run as root: as root, run its tools as the `postgres` system user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(  # noqa: S603
            [*prefix, *args], cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, args, result.stdout, result.stderr[-2000:])

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def url(self, database: str = "vanguard") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def createdb(self, name: str) -> None:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        pytest.skip("initdb/pg_ctl not on PATH: cannot start a throwaway PostgreSQL server")
    if os.geteuid() == 0 and not (shutil.which("runuser") and _user_exists("postgres")):
        pytest.skip("running as root without a `postgres` system user: PostgreSQL refuses to run as root")
    # Directly under /tmp: pytest's own tmp tree is private to this user, and the server may run as `postgres`.
    server = ThrowawayPostgres(Path(tempfile.mkdtemp(prefix="vanguard-pg-")))
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            server.stop()  # already stopped when the test stopped it
        shutil.rmtree(server.root, ignore_errors=True)
