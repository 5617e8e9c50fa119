"""Where webhooks may be sent: public addresses only (no loopback, private, link-local or metadata), unless allowed."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from omnihub.common.clientaddr import Network


class BlockedAddress(OSError):
    """A webhook URL (or what its name resolves to) is not a public address; the text says which and why.

    An OSError with a strerror, so that aiohttp's connection error (raised from the resolver) carries the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EACCES, reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local (cloud metadata lives here)"
    if ip.is_private:
        return "private"
    if ip.is_multicast:
        return "multicast"
    return "reserved"


class UrlGuard:
    """Refuses non-public destinations; `allow` (CIDRs from OMNIHUB_INBOX_WEBHOOK_ALLOW_NETWORKS) lets some in."""

    def __init__(self, allow: Sequence[Network] = (), dns: AbstractResolver | None = None) -> None:
        self.allow = tuple(allow)
        self._dns = dns  # names resolve through it at subscription and at delivery

    @property
    def dns(self) -> AbstractResolver:
        """The resolver (aiohttp's default, made on first use: it needs the running loop)."""
        if self._dns is None:
            self._dns = DefaultResolver()
        return self._dns

    def check_address(self, address: str) -> None:
        """BlockedAddress unless the address is global or in an allowed network."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id says nothing about the address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(ip in net for net in self.allow):
            return
        if not ip.is_global or ip.is_multicast:  # Python counts some multicast as global
            raise BlockedAddress(f"{ip} is a {_kind(ip)} address; webhooks go to public addresses only")

    def check_literal(self, url: str) -> None:
        """Check a URL whose host is an IP address (names are checked when they resolve)."""
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return
        self.check_address(host)

    async def check_url(self, url: str) -> None:
        """At subscription: the URL's host and every address its name resolves to now (BlockedAddress if not)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host:
            raise BlockedAddress("a webhook URL needs http or https and a host")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            pass
        else:
            self.check_address(host)
            return
        try:
            results = await self.dns.resolve(host, parts.port or 0, socket.AF_UNSPEC)
        except OSError as exc:
            raise BlockedAddress(f"cannot resolve {host}: {exc}") from exc
        for result in results:
            self.check_address(result["host"])

    def resolver(self) -> GuardedResolver:
        """An aiohttp resolver that refuses blocked answers, so a name cannot change to one between check and send."""
        return GuardedResolver(self, self.dns)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name that resolves to any blocked address (DNS rebinding)."""

    def __init__(self, guard: UrlGuard, inner: AbstractResolver) -> None:
        self.guard = guard
        self.inner = inner

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        """The addresses aiohttp will connect to, all checked."""
        results = await self.inner.resolve(host, port, family)
        for result in results:
            try:
                self.guard.check_address(result["host"])
            except BlockedAddress as exc:
                raise BlockedAddress(f"{host} resolves to {exc}") from None
        return results

    async def close(self) -> None:
        """Nothing: the wrapped resolver is the guard's, which outlives any one HTTP session."""
