"""The ACME switch driver: a host wired to an ACME switch port gets a vhost-user port on a flat
or VLAN segment of the switches' physical network. It needs no L2 agent: the switch does the
wiring, so the driver is an ``AgentlessDriver`` with one method.

Environment, read when the process starts (a bad value stops it with a one-line reason):

- ``ACME_SWITCH_TOPOLOGY``: ``host=switch/port`` entries, comma separated
  (``compute-1=tor1/Eth1/1,compute-2=tor1/Eth1/2``): which switch port each host is wired to.
- ``ACME_SWITCH_PHYSNET``: the physical network the switches carry (default ``physnet1``).
- ``ACME_SWITCH_SOCKET_DIR``: where the vhost-user sockets are (default ``/var/run/acme``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ml2_contract import values, vocabulary
from ml2_driver_sdk import base, discovery
from ml2_driver_sdk.runtime import config


@dataclass(frozen=True)
class SwitchPort:
    """Where a host is wired: an ACME switch and one of its ports."""

    switch: str
    port: str


def parse_topology(text: str) -> dict[str, SwitchPort]:
    """Reads ``host=switch/port,...``. Raises ConfigError naming the bad entry."""
    topology: dict[str, SwitchPort] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        host, _, where = entry.partition("=")
        switch, _, port = where.partition("/")
        if not host or not switch or not port:
            raise config.ConfigError(f"ACME_SWITCH_TOPOLOGY: {entry!r} must be host=switch/port")
        if host in topology:
            raise config.ConfigError(f"ACME_SWITCH_TOPOLOGY: host {host!r} is listed twice")
        topology[host] = SwitchPort(switch, port)
    return topology


class AcmeSwitchDriver(base.AgentlessDriver):
    """Binds hosts of the topology on the switches' physical network, as vhost-user ports."""

    name = "acme-switch"
    vif_types = (vocabulary.VIF_TYPE_VHOST_USER,)
    supported_network_types = (vocabulary.TYPE_FLAT, vocabulary.TYPE_VLAN)

    def __init__(
        self, topology: Mapping[str, SwitchPort], physnet: str = "physnet1", socket_dir: str = ""
    ) -> None:
        self.topology = dict(topology)
        self.physnet = physnet
        self.socket_dir = socket_dir or "/var/run/acme"

    def bind(
        self, ctx: values.BindingContext, segments: Sequence[values.Segment]
    ) -> values.Proposal:
        """Completes on the first segment of the switches' physical network."""
        wired = self.topology.get(ctx.host)
        if wired is None:
            return values.Decline(
                (
                    values.DeclineReason(
                        vocabulary.HOST_NOT_SERVED,
                        f"host {ctx.host} is not wired to an ACME switch (ACME_SWITCH_TOPOLOGY)",
                        details={"host": ctx.host},
                    ),
                )
            )
        for segment in segments:
            if segment.physical_network == self.physnet:
                return values.Complete(
                    segment.id,
                    vocabulary.VIF_TYPE_VHOST_USER,
                    {
                        "vhostuser_socket": f"{self.socket_dir}/vhu{ctx.port_id[:11]}",
                        "vhostuser_mode": "server",
                        "acme_switch": wired.switch,
                        "acme_switch_port": wired.port,
                    },
                )
        return values.Decline(
            tuple(
                values.DeclineReason(
                    vocabulary.PHYSNET_NOT_MAPPED,
                    f"ACME switches carry physical network {self.physnet}, not "
                    f"{s.physical_network} of segment {s.id}",
                    segment_id=s.id,
                    details={
                        "host": ctx.host,
                        "physical_network": s.physical_network,
                        "mappings": self.physnet,
                        "mapping_option": "ACME_SWITCH_PHYSNET",
                    },
                )
                for s in segments
            )
        )


def from_env(environ: Mapping[str, str]) -> AcmeSwitchDriver:
    """The driver as the environment configures it."""
    return AcmeSwitchDriver(
        parse_topology(config.get_str(environ, "ACME_SWITCH_TOPOLOGY", "")),
        physnet=config.get_str(environ, "ACME_SWITCH_PHYSNET", "physnet1"),
        socket_dir=config.get_str(environ, "ACME_SWITCH_SOCKET_DIR", "/var/run/acme"),
    )


SPEC = discovery.DriverSpec(
    factory=from_env,
    default_port=50071,
    default_metrics_port=9121,
    summary="ACME top-of-rack switches (example out-of-tree driver)",
)
"""Declared in pyproject.toml under the ``ml2.mechanism_drivers`` entry point ``acme-switch``."""
