"""Segment ranges as values: what a range is, what creating or changing one asks for, and what
a change does to its pool.

A pool is a network type on a physical network (``""`` for the tunnel types). Its ranges never
overlap. A range is shared, or reserved for one project; a project's tenant networks take ids
from its own ranges first, then from the shared ones, never from another project's. Default
ranges come from the configuration and change only with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MAX_NAME_LENGTH = 255
MAX_PROJECT_ID_LENGTH = 255
MAX_ORPHANS_REPORTED = 1000
"""The most orphaned ids a change report lists (it always gives their number)."""


@dataclass(frozen=True)
class DefaultRange:
    """A range the configuration asks for; ``name`` is the setting it comes from."""

    network_type: str
    physical_network: str
    minimum: int
    maximum: int
    name: str = ""

    @property
    def key(self) -> tuple[str, str, int, int]:
        """What identifies a default range across restarts: its pool and bounds."""
        return (self.network_type, self.physical_network, self.minimum, self.maximum)


@dataclass(frozen=True)
class RangeSpec:
    """What CreateSegmentRange asks for."""

    network_type: str
    physical_network: str
    minimum: int
    maximum: int
    name: str = ""
    shared: bool = True
    project_id: str = ""


@dataclass(frozen=True)
class SegmentRange:
    """A stored range and, when read through the API, how many of its ids are allocated."""

    id: str
    name: str
    network_type: str
    physical_network: str
    minimum: int
    maximum: int
    shared: bool
    project_id: str
    default: bool
    used: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def size(self) -> int:
        """The number of ids in the range."""
        return self.maximum - self.minimum + 1

    @property
    def available(self) -> int:
        """The number of free ids in the range."""
        return max(self.size - self.used, 0)

    def describe(self) -> str:
        """Returns a short human form such as ``vlan physnet1 100:199 (range 6f0c..., 'blue')``."""
        where = f" {self.physical_network}" if self.physical_network else ""
        name = f", {self.name!r}" if self.name else ""
        return f"{self.network_type}{where} {self.minimum}:{self.maximum} (range {self.id}{name})"


@dataclass(frozen=True)
class RangeUpdate:
    """What UpdateSegmentRange changes; None leaves a field as it is."""

    name: str | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class RangeFilters:
    """ListSegmentRanges filters; empty strings and None match everything."""

    network_type: str = ""
    physical_network: str = ""
    project_id: str = ""
    shared: bool | None = None
    default: bool | None = None


@dataclass(frozen=True)
class RangeChange:
    """What updating or deleting a range does to its pool."""

    dry_run: bool
    pool_size_before: int
    pool_size_after: int
    orphaned_count: int = 0
    orphaned_ids: tuple[int, ...] = field(default_factory=tuple)
    adopted_count: int = 0


@dataclass(frozen=True)
class Allocation:
    """An allocated id, as ListSegmentAllocations reports it."""

    network_type: str
    physical_network: str
    segmentation_id: int
    segment_id: str
    network_id: str
    segment_range_id: str
    allocated_at: datetime | None = None
