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
# The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto uvicorn believes: TRUSTED_PROXIES, the one setting
# Django reads too (vanguard/settings.py), comma-separated addresses or CIDR networks. Empty (the default) trusts
# no proxy header: the client is the connection's peer. The uvicorn worker passes this list to uvicorn's
# ProxyHeadersMiddleware, which then takes the client from X-Forwarded-For only when the peer is in it, walking the
# header from the right past the trusted hops. gunicorn's own default (FORWARDED_ALLOW_IPS, else 127.0.0.1) would
# let anything on the loopback interface pick its own address; it is deliberately not used.
_trusted = (part.strip() for part in os.environ.get("TRUSTED_PROXIES", "").split(","))
forwarded_allow_ips = ",".join(part for part in _trusted if part)
proxy_allow_ips = forwarded_allow_ips


def on_starting(server) -> None:
    if os.environ.get("FORWARDED_ALLOW_IPS", "").strip():
        server.log.warning("FORWARDED_ALLOW_IPS is ignored: list the trusted proxies in TRUSTED_PROXIES")


# Tmp files for the worker heartbeat on a RAM disk where one exists (containers: /dev/shm).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
