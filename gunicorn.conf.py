"""gunicorn settings (SPEC §8). Every value can be overridden from the environment.

    gunicorn -c gunicorn.conf.py vanguard.asgi:application

The ASGI app runs in uvicorn workers. gunicorn's own access log is off: the request-id middleware writes one
structured access line per request (route pattern, status, duration, user id, request id), without query strings.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


worker_class = "uvicorn_worker.UvicornWorker"
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
bind = os.environ.get("BIND") or f"0.0.0.0:{_int('PORT', 8000)}"

# Recycle workers now and then so a slow leak never grows without bound; the jitter staggers the restarts.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 50)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Request-size limits (gunicorn's defaults, written down so a change is deliberate).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Behind a reverse proxy the scheme comes from X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER); trust the proxies
# listed here (comma-separated addresses; "*" only when the network guarantees nothing else can connect).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips
# Tmp files for the worker heartbeat on a RAM disk where one exists (containers: /dev/shm).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
