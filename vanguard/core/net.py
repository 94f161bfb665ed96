"""Client addresses behind trusted proxies (`TRUSTED_PROXIES`): the one rule the middleware, the audit trail,
the PII access log, the login lockout and the rate limits share."""

from __future__ import annotations

import functools
import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(value) for value in values)


def _parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An X-Forwarded-For entry as an address: bare, ``host:port`` or ``[v6]:port`` (the forms uvicorn accepts)."""
    value = value.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def address_in(address: str | None, networks: list[str] | tuple[str, ...]) -> bool:
    """Whether an address lies in one of the networks (CIDRs or single addresses, already validated by settings)."""
    if not address or not networks:
        return False
    parsed = _parse_address(address)
    return parsed is not None and any(parsed in network for network in _networks(tuple(networks)))


def _is_trusted_proxy(address: str | None) -> bool:
    from django.conf import settings

    return address_in(address, settings.TRUSTED_PROXIES)


def client_ip(request) -> str | None:
    """The client address: the connection's peer, unless that peer is a trusted proxy (``TRUSTED_PROXIES``).

    Then X-Forwarded-For is read from the right, each proxy having appended the address it saw, and trusted hops
    are skipped: the first untrusted entry is the client. Entries left of it were written by the client and are
    never believed. An unreadable entry stops the walk at the last hop known to be real. This is uvicorn's
    ProxyHeadersMiddleware algorithm, so under gunicorn (which already rewrote the peer with the same list) the
    answer does not change, and under any other server (tests, runserver) it is the same rule.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    if not _is_trusted_proxy(peer):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = _parse_address(hop)
        if address is None:
            return client
        client = str(address)
        if not _is_trusted_proxy(client):
            return client
    return client  # every hop is a trusted proxy: the leftmost one made the request
