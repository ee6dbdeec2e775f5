"""The Open vSwitch L2 agent's dataplane (``OvsDataplane``), Neutron's Open vSwitch agent model.

- **Integration bridge** (``br-int``): the compute node's VIF driver plugs each port's device
  there with ``external_ids:iface-id`` set to the port id (as os-vif does); the agent finds it by
  that id. Each network carried on the host gets a *local* VLAN tag (1-4094), and its ports
  become access ports of that tag; a port not (or no longer) wired here, or administratively
  down, gets the dead VLAN 4095 and its input is dropped.
- **Flat and VLAN networks** leave through the physical bridge that ``bridge_mappings``
  (``physnet1:br-eth1``) names for their physical network, which the operator creates with its
  uplink; the agent joins it to br-int with a patch port pair (``int-br-eth1``/``phy-br-eth1``)
  and translates the local tag to the provider VLAN id (or strips it, for flat) and back.
- **Tunnelled networks** (VXLAN, GRE and Geneve: the userspace datapath offers all three) leave
  through the tunnel bridge ``br-tun`` (patch ports ``patch-tun``/``patch-int``), with one
  tunnel port per peer host and type, to the peer's ``local_ip``, created and removed as
  ``set_tunnel_peers`` (l2-population) asks; the segment id is the tunnel key.

How the agent talks to Open vSwitch, and why:

- **OVSDB through ovsdbapp** on a unix socket path (``--ovsdb``): the agent need not run in the
  host's network namespace, it needs only the socket. ovsdbapp's IDL is an in-memory replica
  kept current by the server's updates, so reads cost no round trip, writes are transactions, and
  its row events tell the agent within milliseconds that a device was plugged
  (``wait_for_change``).
- **Flows through ``ovs-ofctl``** on each bridge's management socket, ``unix:RUNDIR/BR.mgmt``
  (``RUNDIR`` defaults to the OVSDB socket's directory, where Open vSwitch puts both; plain
  ``ovs-ofctl br-int`` would look only in the compiled-in run directory). The agent computes each
  bridge's whole table (``flows``) and applies it with ``replace-flows --bundle``, which changes
  atomically only the flows that differ. No Python OpenFlow library is as well kept as
  Open vSwitch's own tool, and a table rebuilt from state cannot drift: stale flows of a
  previous run disappear at the first change.
- **Netlink (pyroute2)** only to check that ``local_ip`` is an address of the host, in the
  host's namespace (``--netns``) when the agent runs outside it.
"""

from __future__ import annotations

import argparse

from pyroute2 import netns as _netns

from services.agent import simulated
from services.agent.ovs.dataplane import OvsConfig, OvsDataplane

__all__ = ["OvsConfig", "OvsDataplane", "dataplane_from_args"]


def dataplane_from_args(args: argparse.Namespace) -> OvsDataplane:
    """The dataplane ``ml2 agent run --type openvswitch`` options describe (the runner has
    validated the options common to every agent). Raises AgentConfigError."""
    if args.ovs_hybrid_plug:
        raise simulated.AgentConfigError(
            "--ovs-hybrid-plug: this agent filters no traffic (no iptables firewall), so "
            "ports need no hybrid plug; leave it out"
        )
    if not args.ovsdb.strip():
        raise simulated.AgentConfigError("--ovsdb: must name the OVSDB socket")
    namespace = args.netns.strip()
    if namespace and namespace not in _netns.listnetns():
        raise simulated.AgentConfigError(f"--netns: no network namespace {namespace!r}")
    return OvsDataplane(
        OvsConfig(
            ovsdb=args.ovsdb.strip(),
            rundir=args.ovs_rundir.strip(),
            integration_bridge=args.integration_bridge or "br-int",
            bridge_mappings=simulated.parse_mappings("--bridge-mappings", args.bridge_mappings),
            tunnel_types=simulated.parse_tunnel_types(args.tunnel_types),
            local_ip=args.local_ip.strip(),
            datapath_type=args.datapath_type or "system",
            netns=namespace,
            iface_types=tuple(t.strip() for t in args.iface_types.split(",") if t.strip()),
            network_types=simulated.parse_network_types(args.network_types),
            vhostuser_socket_dir=args.vhostuser_socket_dir.strip(),
        )
    )
