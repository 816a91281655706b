"""Which source addresses are never counted (``ignoreIps``): CIDR blocks, IPv4 and IPv6, parsed once. Pure.

Only the address API Gateway reports (``requestContext.identity.sourceIp``) is matched, never a header
the client sets. ``ipaddress`` is imported only when the setting holds something: no other cold start
pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from ..rules.routes import split_list

if TYPE_CHECKING:
    from ipaddress import IPv4Network, IPv6Network

    Network = Union[IPv4Network, IPv6Network]


def parse_networks(spec: str | None) -> tuple[Network, ...]:
    """``203.0.113.7, 2001:db8::/32`` as networks (a bare address is a /32 or /128; host bits are dropped:
    ``10.0.0.1/8`` is 10.0.0.0/8); ValueError names a bad one. An IPv4-mapped IPv6 block
    (``::ffff:10.0.0.0/104``) is the IPv4 block it maps, as source addresses are matched; a zone id
    (``fe80::1%eth0``) is refused, as API Gateway never reports one, so the entry could never match."""
    items = split_list(spec)
    if not items:
        return ()
    import ipaddress

    networks = []
    for item in items:
        if "%" in item:
            raise ValueError(f"{item!r} has a zone id (%...): source addresses never carry one, so it could never match")
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IPv4 or IPv6 address or CIDR block") from None
        mapped = network.network_address.ipv4_mapped if isinstance(network, ipaddress.IPv6Network) else None
        if mapped is not None and network.prefixlen >= 96:
            network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
        networks.append(network)
    return tuple(networks)


def ignored(source_ip: str, networks: tuple[Network, ...]) -> bool:
    """Whether a hit from this address is answered but not counted. An IPv4-mapped IPv6 address
    (``::ffff:203.0.113.7``) is matched as the IPv4 address it is."""
    if not networks or not source_ip:
        return False
    import ipaddress

    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks if network.version == address.version)
