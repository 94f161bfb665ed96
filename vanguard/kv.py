"""Raw keys on the shared Redis, from async code without a thread hop (and from sync code).

Django's cache has no native async Redis path (`cache.aget` hops to a thread), which the per-request work
of the API cannot afford: the rate-limit counters and the cached API principal use these helpers instead.
With `REDIS_URL` set they talk to Redis (`redis.asyncio` on the event loop, `redis` in sync code), shared by
every worker; without it (development, tests) they use Django's local-memory cache, an in-process dict.
Keys are this module's own (no Django cache prefix or pickling): values are bytes.
"""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.cache import cache

_async_clients: dict[tuple[int, str], object] = {}
_sync_clients: dict[str, object] = {}


def aredis():
    """The `redis.asyncio` client of the running event loop (one per loop: a client is bound to its loop)."""
    import redis.asyncio as aredis_module

    key = (id(asyncio.get_running_loop()), settings.REDIS_URL)
    client = _async_clients.get(key)
    if client is None:
        if len(_async_clients) > 8:  # loops of finished test runs
            _async_clients.clear()
        client = aredis_module.Redis.from_url(settings.REDIS_URL)
        _async_clients[key] = client
    return client


def sredis():
    import redis

    client = _sync_clients.get(settings.REDIS_URL)
    if client is None:
        client = _sync_clients[settings.REDIS_URL] = redis.Redis.from_url(settings.REDIS_URL)
    return client


async def aget(key: str) -> bytes | None:
    if settings.REDIS_URL:
        return await aredis().get(key)
    return cache.get(key)


async def aset(key: str, value: bytes, *, ttl: int) -> None:
    if settings.REDIS_URL:
        await aredis().set(key, value, ex=ttl)
    else:
        cache.set(key, value, timeout=ttl)


def delete(*keys: str) -> None:
    if not keys:
        return
    if settings.REDIS_URL:
        sredis().delete(*keys)
    else:
        cache.delete_many(keys)
