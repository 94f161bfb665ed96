"""A database outage while the server runs: gunicorn (gunicorn.conf.py, uvicorn workers) against a private
PostgreSQL server that the test stops and starts. Requests fail cleanly with 503 while it is down (liveness stays
up) and succeed again after it is back, without restarting the server."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys

from tests.ops.conftest import REPO, base_env, free_port, manage, stop_process, wait_for


def _request(port: int, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        # response.headers is case-insensitive, as HTTP header names are (uvicorn's httptools writer sends them
        # in lower case).
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def _status(port: int, path: str) -> int | None:
    try:
        return _request(port, "GET", path)[0]
    except OSError:
        return None


def test_requests_fail_with_503_while_the_database_is_down_and_recover_after(throwaway_postgres, tmp_path):
    # given: a migrated database on a private server and gunicorn serving the app from it
    pg = throwaway_postgres
    pg.createdb("vanguard")
    env = base_env(DATABASE_URL=pg.url(), DB_POOL_TIMEOUT="2", DB_CONNECT_TIMEOUT="2")
    migrated = manage("migrate", "--noinput", env=env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    port = free_port()
    server_env = {**env, "WEB_CONCURRENCY": "1", "BIND": f"127.0.0.1:{port}"}
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "vanguard.asgi:application"],
            cwd=REPO,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    session = {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}  # the session lookup queries the database
    login = json.dumps({"email": "nobody@vanguard.test", "password": "Not-The-Password-1!"}).encode()
    json_headers = {"Content-Type": "application/json"}
    try:
        wait_for(lambda: _status(port, "/health") == 200, timeout=60, what="gunicorn to serve /health")
        assert _status(port, "/health/ready") == 200
        assert _request(port, "GET", "/admin/", headers=session)[0] == 302

        # when: the database goes away
        pg.stop()

        # then: liveness is unaffected, readiness and database-backed requests answer 503 with Retry-After
        assert _status(port, "/health") == 200
        status, _, body = _request(port, "GET", "/health/ready")
        assert status == 503
        assert json.loads(body)["checks"]["database"]["ok"] is False
        status, headers, body = _request(port, "GET", "/admin/", headers=session)
        assert status == 503 and headers.get("Retry-After")
        assert headers["Content-Type"].startswith("text/html") and b"temporarily unavailable" in body
        status, headers, body = _request(port, "POST", "/api/auth/login", body=login, headers=json_headers)
        assert status == 503 and headers.get("Retry-After")
        assert headers["Content-Type"].startswith("application/problem+json")
        assert json.loads(body)["code"] == "SERVICE_UNAVAILABLE"

        # when: the database comes back
        pg.start()

        # then: the same server process serves database-backed requests again
        wait_for(lambda: _status(port, "/health/ready") == 200, timeout=60, what="readiness to recover")
        wait_for(
            lambda: _request(port, "GET", "/admin/", headers=session)[0] == 302,
            timeout=30,
            what="the admin to work again",
        )
        assert _request(port, "POST", "/api/auth/login", body=login, headers=json_headers)[0] == 401
        assert server.poll() is None, "gunicorn must survive the outage"
    finally:
        stop_process(server)
    log_text = log_path.read_text()
    assert "Not-The-Password-1!" not in log_text
