"""The Linux bridge L2 agent's dataplane (``LinuxBridgeDataplane``), Neutron's Linux bridge
agent model: a kernel bridge ``brq<network>`` per network, the port's tap enslaved to it, and
the network's uplink (the mapped interface for flat, a VLAN device for vlan where the kernel has
them, a ``vxlan-<vni>`` device for VXLAN) enslaved beside it. See ``dataplane`` for the layout
and ``probe`` for how the host's VLAN support is found.

The agent talks to the kernel over netlink (pyroute2), in the host's network namespace
(``--netns``) when it runs outside it: one socket for changes, one subscribed to link events
that tell it within milliseconds that a tap was plugged or unplugged (``wait_for_change``).
"""

from __future__ import annotations

import argparse

from pyroute2 import netns as _netns

from services.agent import simulated
from services.agent.linuxbridge.dataplane import LinuxBridgeConfig, LinuxBridgeDataplane

__all__ = ["LinuxBridgeConfig", "LinuxBridgeDataplane", "dataplane_from_args"]


def dataplane_from_args(args: argparse.Namespace) -> LinuxBridgeDataplane:
    """The dataplane ``ml2 agent run --type linuxbridge`` options describe (the runner has
    validated the options common to every agent): ``--interface-mappings``, VXLAN with
    ``--tunnel-types vxlan --local-ip IP``, ``--netns``, ``--network-types`` to offer fewer
    types than the host realises. Raises AgentConfigError."""
    if args.bridge_mappings.strip():
        raise simulated.AgentConfigError(
            "--bridge-mappings: the Linux bridge agent reaches physical networks through "
            "interfaces; use --interface-mappings"
        )
    tunnels = simulated.parse_tunnel_types(args.tunnel_types)
    local_ip = args.local_ip.strip()
    if local_ip and "vxlan" not in tunnels:
        raise simulated.AgentConfigError(
            "--local-ip: the Linux bridge agent uses it only for VXLAN; add --tunnel-types vxlan"
        )
    namespace = args.netns.strip()
    if namespace and namespace not in _netns.listnetns():
        raise simulated.AgentConfigError(f"--netns: no network namespace {namespace!r}")
    config = LinuxBridgeConfig(
        interface_mappings=simulated.parse_mappings(
            "--interface-mappings", args.interface_mappings
        ),
        local_ip=local_ip,
        netns=namespace,
        network_types=simulated.parse_network_types(args.network_types),
    )
    try:
        return LinuxBridgeDataplane(config)
    except ValueError as err:
        setting, _, rule = str(err).partition(": ")
        option = "--" + setting.replace("_", "-")
        raise simulated.AgentConfigError(f"{option}: {rule}") from None
