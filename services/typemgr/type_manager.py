"""The type manager: picks the driver of each network type, validates specs, computes MTUs and
reserves segments with the driver's allocation strategy.

Tenant networks walk the ordered tenant network types: the first type with a free id wins; when
every type is exhausted the error names them all (Neutron's ``_allocate_project_net_segment``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from ml2_contract import vocabulary
from ml2_contract.values import Segment, SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument
from sqlalchemy.orm import Session

from services.typemgr import errors, metrics, segments
from services.typemgr.config import RANGE_SETTINGS, Settings
from services.typemgr.db import allocation
from services.typemgr.drivers import base, flat, geneve, gre, local, vlan, vxlan
from services.typemgr.ranges import DefaultRange
from services.typemgr.segments import IdRange

logger = logging.getLogger(__name__)

_FACTORIES: Mapping[str, Callable[[Settings, base.MtuSettings], base.TypeDriver]] = {
    vocabulary.TYPE_LOCAL: lambda s, m: local.LocalTypeDriver(m),
    vocabulary.TYPE_FLAT: lambda s, m: flat.FlatTypeDriver(m, s.flat_networks),
    vocabulary.TYPE_VLAN: lambda s, m: vlan.VlanTypeDriver(
        m, s.vlan_physical_networks, s.vlan_ranges
    ),
    vocabulary.TYPE_GRE: lambda s, m: gre.GreTypeDriver(m, s.gre_ranges),
    vocabulary.TYPE_VXLAN: lambda s, m: vxlan.VxlanTypeDriver(m, s.vxlan_ranges),
    vocabulary.TYPE_GENEVE: lambda s, m: geneve.GeneveTypeDriver(
        m, s.geneve_ranges, s.geneve_max_header_size
    ),
}
"""How each enabled type's driver is built from the settings."""


@dataclass(frozen=True)
class Claim:
    """Who a reservation is for: the segment that will hold the id, the project whose reserved
    ranges come first (empty: shared ranges only), and the request field named in errors."""

    segment_id: str
    project_id: str = ""
    field: str = "segment"


def build_drivers(settings: Settings) -> list[base.TypeDriver]:
    """Returns the drivers of the enabled types, in configured order."""
    mtu_settings = base.MtuSettings(
        global_physnet_mtu=settings.global_physnet_mtu,
        path_mtu=settings.path_mtu,
        physical_network_mtus=dict(settings.physical_network_mtus),
        overlay_ip_version=settings.overlay_ip_version,
    )
    return [_FACTORIES[name](settings, mtu_settings) for name in settings.type_drivers]


class TypeManager:
    """Dispatches to the type drivers."""

    def __init__(
        self,
        drivers: Sequence[base.TypeDriver],
        tenant_network_types: Sequence[str],
        global_physnet_mtu: int = 1500,
    ) -> None:
        self.drivers = {d.network_type: d for d in drivers}
        self.tenant_network_types = tuple(tenant_network_types)
        self.global_physnet_mtu = global_physnet_mtu
        missing = [t for t in self.tenant_network_types if t not in self.drivers]
        if missing:
            raise ValueError(f"tenant network types without a driver: {', '.join(missing)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> TypeManager:
        """Returns the type manager the settings describe."""
        return cls(
            build_drivers(settings), settings.tenant_network_types, settings.global_physnet_mtu
        )

    def driver(self, network_type: str, field: str) -> base.TypeDriver:
        """Returns the driver of ``network_type``; raises InvalidArgument on ``field`` if the
        type is empty, unknown or not enabled."""
        if not network_type:
            raise InvalidArgument(field, "is required")
        found = self.drivers.get(network_type)
        if found is not None:
            return found
        enabled = ", ".join(self.drivers)
        network_type = network_type[:64]
        if network_type in vocabulary.NETWORK_TYPES:
            rule = f"network type {network_type!r} is not enabled (TYPEMGR_TYPE_DRIVERS: {enabled})"
        else:
            rule = f"unknown network type {network_type!r}; enabled: {enabled}"
        raise InvalidArgument(field, rule, reason="UNSUPPORTED_NETWORK_TYPE")

    def validate(self, spec: SegmentSpec, field: str) -> base.TypeDriver:
        """Checks ``spec`` with its driver's rules; returns the driver. Raises InvalidArgument
        naming ``field.<attribute>``."""
        driver = self.driver(spec.network_type, f"{field}.network_type")
        driver.validate(spec, field)
        return driver

    def validate_all(self, specs: Sequence[SegmentSpec], field: str) -> None:
        """Validates each spec as ``field[i]`` and rejects a fully specified segment given twice
        (Neutron's multi-provider rule)."""
        seen: dict[SegmentSpec, int] = {}
        for index, spec in enumerate(specs):
            driver = self.validate(spec, f"{field}[{index}]")
            if driver.is_partial(spec):
                continue
            if spec in seen:
                raise InvalidArgument(
                    f"{field}[{index}]",
                    f"duplicates {field}[{seen[spec]}] ({spec.describe()})",
                    reason="DUPLICATE_SEGMENT",
                )
            seen[spec] = index

    def mtu(self, spec: SegmentSpec) -> int:
        """Returns the MTU of a segment like ``spec`` (0 if unknown)."""
        return self.drivers[spec.network_type].mtu(spec.physical_network)

    def network_mtu(self, network_segments: Sequence[Segment]) -> int:
        """Returns a network's MTU: the smallest of its static segments' MTUs, or the global
        physical network MTU if none is known; 0 for a network without segments."""
        if not network_segments:
            return 0
        return segments.network_mtu(tuple(network_segments), self.global_physnet_mtu)

    def configured_ranges(self) -> list[tuple[str, IdRange]]:
        """Returns every tenant range of every enabled type as (network_type, range)."""
        return [(d.network_type, r) for d in self.drivers.values() for r in d.ranges()]

    def default_ranges(self) -> list[DefaultRange]:
        """Returns the ranges the configuration seeds, named after their setting."""
        return [
            DefaultRange(t, r.physical_network, r.minimum, r.maximum, RANGE_SETTINGS[t])
            for t, r in self.configured_ranges()
        ]

    def reserve(self, session: Session, spec: SegmentSpec, claim: Claim) -> SegmentSpec:
        """Reserves a validated ``spec`` for ``claim`` and returns it fully specified.

        Raises FlatNetworkInUse or SegmentationIdInUse (ALREADY_EXISTS) when the asked-for
        resource is taken, NoSegmentAvailable when the pools are exhausted, InvalidArgument on
        ``claim.field.segmentation_id`` when no pool of a partial spec has any range, and
        AllocationContention when concurrent callers won every try.
        """
        driver = self.drivers[spec.network_type]
        with _Measure(spec.network_type) as measure:
            if driver.allocation is base.Allocation.NONE:
                return replace(spec, physical_network="", segmentation_id=0)
            if driver.allocation is base.Allocation.PHYSNET:
                self._reserve_specific(session, spec, 0, claim.segment_id, measure)
                return replace(spec, segmentation_id=0)
            if spec.segmentation_id is not None:
                self._reserve_specific(
                    session, spec, spec.segmentation_id, claim.segment_id, measure
                )
                return spec
            try:
                reserved = self._reserve_from_pools(session, driver, spec, claim)
            except allocation.NoRanges:
                measure.result = "no_range"
                raise _no_range(spec, driver, claim.field) from None
            if reserved is None:
                measure.result = "exhausted"
                where = spec.physical_network or ", ".join(p for p in driver.pools_for(spec) if p)
                raise errors.NoSegmentAvailable(spec.network_type, where)
            return reserved
        raise AssertionError("not reached")  # pragma: no cover

    def allocate_tenant(self, session: Session, claim: Claim) -> SegmentSpec:
        """Reserves a tenant segment of the first tenant network type with a free id.

        Raises NoTenantNetworkTypes if none is configured, NoTenantNetworkAvailable if every
        type's pools are exhausted."""
        if not self.tenant_network_types:
            raise errors.NoTenantNetworkTypes()
        without_ranges: dict[str, str] = {}
        for network_type in self.tenant_network_types:
            driver = self.drivers[network_type]
            if driver.allocation is base.Allocation.NONE:
                return SegmentSpec(network_type, "", 0)
            with _Measure(network_type) as measure:
                try:
                    reserved = self._reserve_from_pools(
                        session, driver, SegmentSpec(network_type), claim
                    )
                except allocation.NoRanges:
                    measure.result = "no_range"
                    without_ranges[network_type] = range_hint(network_type)
                    logger.info(
                        "tenant network type %s has no range, trying the next", network_type
                    )
                    continue
                if reserved is not None:
                    return reserved
                measure.result = "exhausted"
            logger.info("tenant network type %s is exhausted, trying the next", network_type)
        raise errors.NoTenantNetworkAvailable(self.tenant_network_types, without_ranges)

    def _reserve_specific(
        self,
        session: Session,
        spec: SegmentSpec,
        segmentation_id: int,
        segment_id: str,
        measure: _Measure,
    ) -> None:
        pool = allocation.Pool(spec.network_type, spec.physical_network)
        try:
            allocation.allocate_specific(session, pool, segmentation_id, segment_id)
        except allocation.IdTaken:
            measure.result = "in_use"
            if self.drivers[spec.network_type].allocation is base.Allocation.PHYSNET:
                raise errors.FlatNetworkInUse(spec.physical_network) from None
            raise errors.SegmentationIdInUse(
                spec.network_type, spec.physical_network, segmentation_id
            ) from None

    def _reserve_from_pools(
        self, session: Session, driver: base.TypeDriver, spec: SegmentSpec, claim: Claim
    ) -> SegmentSpec | None:
        """Returns the reserved spec, or None if every pool is exhausted: the ranges reserved
        for the claim's project on every physical network first, then the shared ones (never
        another project's). Raises NoRanges if no pool has any range."""
        no_ranges = True
        for owner in ((claim.project_id,) if claim.project_id else ()) + ("",):
            for physnet in driver.pools_for(spec):
                try:
                    found = self._reserve_in(session, driver, physnet, owner, claim.segment_id)
                except allocation.NoRanges:
                    continue
                no_ranges = False
                if found is not None:
                    return SegmentSpec(driver.network_type, physnet, found)
        if no_ranges:
            raise allocation.NoRanges()
        return None

    def _reserve_in(
        self, session: Session, driver: base.TypeDriver, physnet: str, owner: str, segment_id: str
    ) -> int | None:
        pool = allocation.Pool(driver.network_type, physnet)
        conflicts = metrics.CONFLICT_RETRIES.labels(driver.network_type)
        attempts = [1]

        def on_conflict() -> None:
            conflicts.inc()
            attempts[0] += 1

        try:
            found = allocation.allocate_from_pool(
                session, pool, segment_id, owner=owner, on_conflict=on_conflict
            )
            metrics.ALLOCATION_ATTEMPTS.labels(driver.network_type).observe(attempts[0])
            return found
        except allocation.Contention:
            metrics.ALLOCATIONS.labels(driver.network_type, "contention").inc()
            raise errors.AllocationContention(
                driver.network_type, physnet, allocation.MAX_POOL_ATTEMPTS
            ) from None


def _no_range(spec: SegmentSpec, driver: base.TypeDriver, field: str) -> InvalidArgument:
    pools = driver.pools_for(spec)
    if spec.physical_network:
        where = f"physical network {spec.physical_network!r}"
    elif pools and pools != ("",):
        where = f"physical networks {', '.join(pools)}"
    else:
        where = f"{spec.network_type}"
    return InvalidArgument(
        f"{field}.segmentation_id",
        f"is required on {where}: it has no range to allocate from; "
        f"{range_hint(spec.network_type, spec.physical_network)}",
        reason="NO_SEGMENT_RANGE",
    )


def range_hint(network_type: str, physical_network: str = "") -> str:
    """What an operator does when a type (or a VLAN physical network) has no range: the
    ``ml2 range create`` command, or the setting that seeds a default range."""
    setting = RANGE_SETTINGS[network_type]
    if network_type == vocabulary.TYPE_VLAN:
        physnet = physical_network or "PHYSNET"
        return (
            f"create one with `ml2 range create --network-type vlan --physical-network {physnet} "
            f"--minimum MIN --maximum MAX --shared`, or add {physnet}:MIN:MAX to {setting}"
        )
    return (
        f"create one with `ml2 range create --network-type {network_type} "
        f"--minimum MIN --maximum MAX --shared`, or set {setting}=MIN:MAX"
    )


class _Measure:
    """Times one reservation and counts its result (``allocated`` unless set otherwise; an
    exception without a result set is counted as ``error``)."""

    def __init__(self, network_type: str) -> None:
        self.network_type = network_type
        self.result = ""

    def __enter__(self) -> _Measure:
        self.start = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        metrics.ALLOCATION_SECONDS.labels(self.network_type).observe(
            time.perf_counter() - self.start
        )
        if isinstance(exc, errors.AllocationContention):
            return  # counted where it was raised
        result = self.result or ("error" if exc_type is not None else "allocated")
        metrics.ALLOCATIONS.labels(self.network_type, result).inc()
