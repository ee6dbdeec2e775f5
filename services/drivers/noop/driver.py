"""The reference mechanism driver: no agent, no dataplane, configured by environment.

It shows a driver author the whole contract in a few lines, and lets tests build any driver
arrangement from one program:

- ``bind`` mode completes on the first offered segment of a type it binds, with a fixed vif_type;
- ``fabric`` mode plays a top-of-rack fabric driver in hierarchical binding: it binds the first
  offered tunnel segment and continues with a dynamic VLAN segment on a physical network, which
  the manager allocates from typemgr and offers to the next level (e.g. to openvswitch).

Environment (``MECHDRIVER_NOOP_*``):

- ``NAME``: the driver name it describes itself with (default ``noop``).
- ``MODE``: ``bind`` (default) or ``fabric``.
- ``VIF_TYPE``: the vif_type of ``bind`` mode (default ``other``: nothing for the compute node to
  plug).
- ``NETWORK_TYPES``: the network types it binds (default every type in ``bind`` mode, the tunnel
  types in ``fabric`` mode).
- ``VNIC_TYPES``: the vnic types it binds (default ``normal``).
- ``HOSTS``: bind only on these hosts (default: every host).
- ``USE_DEFAULT_HOSTS``: on these hosts complete with vif_type ``use_default`` and no plugging
  details, telling the compute node to plug as it is configured locally (its default VIF). They
  are served even when ``HOSTS`` does not list them; with only ``USE_DEFAULT_HOSTS`` set, the
  driver binds on those hosts alone.
- ``FABRIC_PHYSNET``: the physical network of the dynamic VLAN in ``fabric`` mode (physnet1).
- ``CONNECTIVITY``: the connectivity it describes itself with: ``l2`` (default), ``l3`` or
  ``legacy``. Every port is without IP addresses, so the manager asks it only when ``l2``.
- ``DELAY_SECONDS``: wait this long before answering, to play a slow driver (default 0); it logs
  when it starts waiting, so that a test knows a call is in flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ml2_contract import values, vocabulary
from ml2_driver_sdk import base, discovery
from ml2_driver_sdk.runtime import config

logger = logging.getLogger(__name__)

MODES = ("bind", "fabric")
_PREFIX = "MECHDRIVER_NOOP_"
_CONNECTIVITIES = (
    vocabulary.CONNECTIVITY_L2,
    vocabulary.CONNECTIVITY_L3,
    vocabulary.CONNECTIVITY_LEGACY,
)


@dataclass(frozen=True)
class NoopSettings:
    """How the reference driver behaves."""

    name: str = "noop"
    mode: str = "bind"
    vif_type: str = vocabulary.VIF_TYPE_OTHER
    network_types: tuple[str, ...] = tuple(
        sorted(vocabulary.NON_TUNNEL_TYPES | vocabulary.TUNNEL_TYPES)
    )
    vnic_types: tuple[str, ...] = (vocabulary.VNIC_NORMAL,)
    hosts: tuple[str, ...] = ()
    use_default_hosts: tuple[str, ...] = ()
    fabric_physnet: str = "physnet1"
    connectivity: str = vocabulary.CONNECTIVITY_L2
    delay_seconds: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NoopSettings:
        """Reads ``MECHDRIVER_NOOP_*``. Raises ConfigError naming the variable and the rule."""
        mode = config.get_str(environ, _PREFIX + "MODE", "bind")
        if mode not in MODES:
            raise config.ConfigError(f"{_PREFIX}MODE={mode!r}: must be one of {', '.join(MODES)}")
        default_types = sorted(vocabulary.TUNNEL_TYPES) if mode == "fabric" else cls.network_types
        vnics = tuple(config.get_list(environ, _PREFIX + "VNIC_TYPES", vocabulary.VNIC_NORMAL))
        for vnic in vnics:
            if vnic not in vocabulary.VNIC_TYPES:
                raise config.ConfigError(f"{_PREFIX}VNIC_TYPES: unknown vnic type {vnic!r}")
        connectivity = config.get_str(environ, _PREFIX + "CONNECTIVITY", vocabulary.CONNECTIVITY_L2)
        if connectivity not in _CONNECTIVITIES:
            raise config.ConfigError(
                f"{_PREFIX}CONNECTIVITY={connectivity!r}: must be one of "
                f"{', '.join(_CONNECTIVITIES)}"
            )
        settings = cls(
            name=config.get_str(environ, _PREFIX + "NAME", "noop"),
            mode=mode,
            vif_type=config.get_str(environ, _PREFIX + "VIF_TYPE", vocabulary.VIF_TYPE_OTHER),
            network_types=tuple(
                config.get_list(environ, _PREFIX + "NETWORK_TYPES", ",".join(default_types))
            ),
            vnic_types=vnics,
            hosts=tuple(config.get_list(environ, _PREFIX + "HOSTS")),
            use_default_hosts=tuple(config.get_list(environ, _PREFIX + "USE_DEFAULT_HOSTS")),
            fabric_physnet=config.get_str(environ, _PREFIX + "FABRIC_PHYSNET", "physnet1"),
            connectivity=connectivity,
            delay_seconds=config.get_float(environ, _PREFIX + "DELAY_SECONDS", 0.0),
        )
        if not settings.name or not settings.vif_type or not settings.fabric_physnet:
            raise config.ConfigError(
                f"{_PREFIX}NAME, VIF_TYPE and FABRIC_PHYSNET must not be empty"
            )
        if settings.vif_type in vocabulary.RESERVED_VIF_TYPES:
            raise config.ConfigError(f"{_PREFIX}VIF_TYPE={settings.vif_type!r}: reserved")
        if settings.use_default_hosts and mode != "bind":
            raise config.ConfigError(f"{_PREFIX}USE_DEFAULT_HOSTS: applies to MODE=bind only")
        return settings

    @property
    def served_hosts(self) -> tuple[str, ...]:
        """The hosts the driver binds on; empty means every host."""
        if not self.hosts and not self.use_default_hosts:
            return ()
        return (*self.hosts, *(h for h in self.use_default_hosts if h not in self.hosts))


class NoopDriver(base.MechanismDriver):
    """Binds (or, as a fabric, continues) on any offered segment of its network types."""

    def __init__(self, settings: NoopSettings | None = None) -> None:
        self.settings = settings or NoopSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NoopDriver:
        """Returns the driver configured by ``MECHDRIVER_NOOP_*``."""
        return cls(NoopSettings.from_env(environ))

    def describe(self) -> values.DriverDescription:
        """Returns the configured name, vnic types, network types, connectivity and vif type."""
        s = self.settings
        return values.DriverDescription(
            name=s.name,
            supported_vnic_types=s.vnic_types,
            supported_network_types=s.network_types,
            connectivity=s.connectivity,
            vif_types=self._vif_types(),
        )

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        """Binds or continues on the first offered segment of a configured type."""
        s = self.settings
        if s.delay_seconds:
            logger.info(
                "waiting %.3gs before answering for port %s",
                s.delay_seconds,
                ctx.port_id,
                extra={"port_id": ctx.port_id},
            )
            time.sleep(s.delay_seconds)
        refusal = self._refusal(ctx)
        if refusal is not None:
            return values.Decline((refusal,))
        segment = next(x for x in ctx.segments_to_bind if x.network_type in s.network_types)
        if s.mode == "fabric":
            spec = values.SegmentSpec(vocabulary.TYPE_VLAN, s.fabric_physnet)
            return values.Continue(segment.id, dynamic_segments=(spec,))
        if ctx.host in s.use_default_hosts:
            # The host plugs by its own configuration: no details it could mistake for its own.
            return values.Complete(segment.id, vocabulary.VIF_TYPE_USE_DEFAULT, {})
        details = {vocabulary.VIF_DETAILS_CONNECTIVITY: s.connectivity}
        return values.Complete(segment.id, s.vif_type, details)

    def _vif_types(self) -> tuple[str, ...]:
        s = self.settings
        if s.mode != "bind":
            return ()
        if s.use_default_hosts and s.vif_type != vocabulary.VIF_TYPE_USE_DEFAULT:
            return (s.vif_type, vocabulary.VIF_TYPE_USE_DEFAULT)
        return (s.vif_type,)

    def _refusal(self, ctx: values.BindingContext) -> values.DeclineReason | None:
        s = self.settings
        if ctx.vnic_type not in s.vnic_types:
            return values.DeclineReason(
                vocabulary.VNIC_TYPE_UNSUPPORTED,
                f"{s.name} does not bind vnic_type {ctx.vnic_type}",
                details={"vnic_type": ctx.vnic_type, "supported": ",".join(s.vnic_types)},
            )
        served = s.served_hosts
        if served and ctx.host not in served:
            return values.DeclineReason(
                vocabulary.HOST_NOT_SERVED,
                f"{s.name} does not bind on host {ctx.host}",
                details={"host": ctx.host, "hosts": ",".join(served)},
            )
        if not any(x.network_type in s.network_types for x in ctx.segments_to_bind):
            offered = ", ".join(x.describe() for x in ctx.segments_to_bind)
            return values.DeclineReason(
                vocabulary.NETWORK_TYPE_UNSUPPORTED,
                f"{s.name} binds {', '.join(s.network_types)}; offered {offered}",
                details={"network_types": ",".join(s.network_types)},
            )
        return None


SPEC = discovery.DriverSpec(
    factory=NoopDriver.from_env,
    default_port=50069,
    default_metrics_port=9119,
    summary="the reference driver: binds or declines as MECHDRIVER_NOOP_* say (tests, demos)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``noop``."""
