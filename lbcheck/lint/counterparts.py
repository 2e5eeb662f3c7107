"""Which of the peer's instances VRRP pairs with one of ours, and what the two compare.

Why not by name: an instance's name never leaves the node. keepalived 2.2.7 opens one socket
per interface and address family (vrrp_scheduler.c `already_exist_sock`, `alloc_sock`) and
hands each received advert to the instance of that socket whose VRID the advert carries
(`vrrp_dispatcher_read`: `rb_find(&hd->vrid, &sock->rb_vrid, …)`). So two nodes' instances
are one virtual router when they share the VRID, the address family and the segment — an
IPv4 and an IPv6 instance may share a VRID — whatever they are called. The segment is known
only by each node's name for its interface: the same name first; else, when each node has
exactly one instance of that VRID and family, those two (nodes may name their NICs
differently, ens192 here and ens160 there).
"""

from __future__ import annotations

from lbcheck.keepalived_conf import Instance, KeepalivedConfig

AUTH_PASS_BYTES = 8  # keepalived's vrrp_t.auth_data: vrrp_auth_pass_handler keeps this many


def family(instance: Instance) -> int:
    """4 unless keepalived reads the instance as IPv6 (no valid address at all: IPv4)."""
    return instance.family or 4


def _router(instance: Instance) -> tuple[int | None, int]:
    return instance.virtual_router_id, family(instance)


def counterpart(instance: Instance, mine: KeepalivedConfig,
                peer: KeepalivedConfig) -> Instance | None:
    """The peer's instance VRRP pairs with ``instance`` (one of ``mine``'s), if any."""
    if instance.virtual_router_id is None:
        return None
    same = [i for i in peer.instances if _router(i) == _router(instance)]
    exact = [i for i in same if i.interface == instance.interface]
    if exact:
        return exact[0]
    ours = [i for i in mine.instances if _router(i) == _router(instance)]
    return same[0] if len(same) == 1 and len(ours) == 1 else None


def wire_auth(instance: Instance) -> tuple[str, str]:
    """(auth_type, auth_pass) as keepalived keeps them: each handler reads the first word,
    and auth_pass only its first 8 characters (vrrp_auth_pass_handler), which is all that
    vrrp_check_packet compares (`memcmp(pw, vrrp->auth_data, sizeof(vrrp->auth_data))`)."""
    given = dict(instance.authentication)
    kind = (given.get("auth_type") or "").split()
    password = (given.get("auth_pass") or "").split()
    return (kind[0] if kind else "",
            password[0][:AUTH_PASS_BYTES] if password else "")
