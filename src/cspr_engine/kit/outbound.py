"""Where the service may send things it is told to send somewhere (webhook deliveries): only
to public addresses, over https, unless a destination is allowed by name or network.

A subscription's URL is checked when it is made and again before every delivery, because a
name can be made to resolve elsewhere later (DNS rebinding): every address the name resolves
to must be public. Loopback, private, link-local (169.254.0.0/16, where cloud metadata
services answer), shared, reserved and multicast addresses are refused, so a partnership
administrator cannot point deliveries at the service's own database or its host's internal
network. Redirects are never followed by the sender, so a public receiver cannot bounce a
delivery inward either.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
HTTPS_ONLY = "Webhooks are delivered over https only: the URL must be https://."


class DestinationRefused(Exception):
    """Why a URL may not be sent to; `rule` names the rule, for the problem document."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class Destinations:
    """What is allowed besides public https: names and networks (a partnership's on-premises
    receiver, a test's receiver on 127.0.0.1), and whether plain http is (development)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    allow_http: bool = False

    @classmethod
    def parse(cls, listed: str, *, allow_http: bool = False) -> Destinations:
        """`listed`: comma-separated host names and networks (CIDR or single addresses)."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for e in listed.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), allow_http)

    def allows(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _kind(address: Address) -> str | None:
    """Why an address is not public, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _kind(address.ipv4_mapped)
    if address.is_unspecified:
        return "a reserved address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if address.is_private:
        return "a private address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def check(
    url: str,
    allowed: Destinations,
    resolver: Resolver = resolve,
    *,
    unresolvable_ok: bool = False,
) -> list[str]:
    """Refuse (DestinationRefused) a URL the service may not send to; else the addresses its
    host resolves to now. `unresolvable_ok`: a name that resolves to nothing yet is let
    through (a subscription made before its receiver's name is published); every delivery
    checks again, with no such leave."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError as exc:  # e.g. an unclosed [ of an IPv6 address
        raise DestinationRefused("bad-url", "The URL is not a web address.") from exc
    if not host:
        raise DestinationRefused("no-host", "The URL names no host.")
    if parts.username or parts.password:
        raise DestinationRefused(
            "credentials-in-url", "The URL may not carry a user name or password."
        )
    named = host in allowed.hosts
    if parts.scheme not in ("https", "http"):
        raise DestinationRefused("https-required", HTTPS_ONLY)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise DestinationRefused("bad-port", "The URL's port is not a port number.") from exc
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError, ValueError):  # no such name, or no name at all
            addresses = []
        if not addresses:
            if parts.scheme != "https" and not (allowed.allow_http or named):
                raise DestinationRefused("https-required", HTTPS_ONLY)
            if unresolvable_ok:
                return []
            raise DestinationRefused(
                "unresolvable", f"The host {host} cannot be resolved to an address."
            )
    if named:
        return addresses
    listed = all(allowed.allows(ipaddress.ip_address(a.split("%", 1)[0])) for a in addresses)
    if parts.scheme != "https" and not (allowed.allow_http or listed):
        raise DestinationRefused("https-required", HTTPS_ONLY)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        kind = _kind(address)
        if kind is not None and not allowed.allows(address):
            shown = "it is" if literal is not None else f"{host} resolves to {address},"
            raise DestinationRefused(
                "private-address",
                f"Webhooks are delivered to public addresses only: {shown} {kind}.",
            )
    return addresses
