"""The client's address behind reverse proxies: X-Forwarded-For is believed only from configured proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (a bare address is a /32 or /128); ValueError names a bad one."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


def client_address(request: web.Request, trusted: Sequence[Network]) -> str:
    """The peer's address, or, when the peer is a trusted proxy, the first X-Forwarded-For hop from the right
    that is not a trusted proxy (hops left of it were written by the client and prove nothing)."""
    peer = request.remote or ""
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage: keep the last good hop
        client = hop
        if not _within(hop, trusted):
            break
    return client


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)
