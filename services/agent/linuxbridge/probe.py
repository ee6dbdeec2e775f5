"""What the host's kernel can build, found by trying it where nothing else can see.

A kernel without ``CONFIG_VLAN_8021Q`` answers every ``type vlan`` link with "Operation not
supported"; an agent on such a host must not offer VLAN segments (mechmgr would bind them, and
wiring would fail later). The probe creates a VLAN device on a veth in a scratch network
namespace of its own and removes the namespace again, so the managed namespace never sees it.
"""

from __future__ import annotations

import errno
import logging
import os
import uuid

from pyroute2 import NetlinkError, NetNS, netns

logger = logging.getLogger(__name__)

_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP}


def vlan_devices_supported() -> bool:
    """Returns whether the kernel creates VLAN devices (``ip link add ... type vlan``).

    Raises OSError (or NetlinkError) when the probe itself cannot run, e.g. without the
    privilege to create network namespaces: the answer would then be a guess.
    """
    scratch = f"ml2-vlanprobe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    netns.create(scratch)
    try:
        ns = NetNS(scratch, flags=0)
        try:
            ns.link("add", ifname="probe0", kind="veth", peer="probe1")
            (parent,) = ns.link_lookup(ifname="probe0")
            try:
                ns.link("add", ifname="probe0.1", kind="vlan", link=parent, vlan_id=1)
            except NetlinkError as err:
                if err.code in _UNSUPPORTED:
                    logger.info("this kernel has no VLAN devices (%s)", err)
                    return False
                raise
            return True
        finally:
            ns.close()
    finally:
        netns.remove(scratch)
