"""Installed mechanism drivers, found by entry points.

A distribution declares each driver it ships under the ``ml2.mechanism_drivers`` entry-point
group, naming a ``DriverSpec``::

    [project.entry-points."ml2.mechanism_drivers"]
    openvswitch = "services.drivers.openvswitch:SPEC"

``python -m ml2_driver_sdk NAME`` (and ``ml2 driver run NAME``) serves any installed
driver as its own process; ``ml2 up --mechanism-drivers NAME,...`` starts installed drivers by
name; ``ml2 driver list`` says which distribution each comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata

from ml2_driver_sdk import base

GROUP = "ml2.mechanism_drivers"
"""The entry-point group drivers are declared in."""

DriverFactory = Callable[[Mapping[str, str]], base.MechanismDriver]


@dataclass(frozen=True)
class DriverSpec:
    """What a driver distribution declares: how to make the driver from the process's
    environment, and where its process listens unless told otherwise
    (``MECHDRIVER_LISTEN``, ``MECHDRIVER_METRICS_PORT``)."""

    factory: DriverFactory
    default_port: int
    default_metrics_port: int
    summary: str = ""
    """One line for ``ml2 driver list --installed``."""


class DiscoveryError(LookupError):
    """A driver name that no installed distribution declares, or whose entry point does not
    load as a DriverSpec; the message says which and what is installed."""


@dataclass(frozen=True)
class Installed:
    """One declared driver: its name, where it comes from, and its entry point."""

    name: str
    distribution: str
    version: str
    value: str
    """The entry point's ``module:attribute``."""
    _entry_point: metadata.EntryPoint

    @property
    def source(self) -> str:
        """Where the driver comes from, as ``ml2 driver list`` shows it."""
        return f"{self.distribution} {self.version}".strip()

    def load(self) -> DriverSpec:
        """Imports the driver's spec. Raises DiscoveryError if it is not a DriverSpec."""
        try:
            spec = self._entry_point.load()
        except Exception as exc:  # a broken third-party module: say which, do not crash
            raise DiscoveryError(
                f"driver {self.name!r} ({self.value}, from {self.source}) does not load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(spec, DriverSpec):
            raise DiscoveryError(
                f"driver {self.name!r} ({self.value}, from {self.source}) is a "
                f"{type(spec).__name__}, not a DriverSpec"
            )
        return spec


def installed() -> dict[str, Installed]:
    """The installed drivers by name. A name declared by two distributions is the first one's
    (in ``sys.path`` order, as Python itself would import it)."""
    found: dict[str, Installed] = {}
    for ep in metadata.entry_points(group=GROUP):
        if ep.name in found:
            continue
        dist = ep.dist
        found[ep.name] = Installed(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist is not None else "",
            version=dist.version if dist is not None else "",
            value=ep.value,
            _entry_point=ep,
        )
    return found


def find(name: str) -> Installed:
    """The installed driver ``name``. Raises DiscoveryError naming what is installed."""
    drivers = installed()
    if name not in drivers:
        known = ", ".join(sorted(drivers)) or "none"
        raise DiscoveryError(
            f"no installed mechanism driver is called {name!r} (installed: {known})"
        )
    return drivers[name]
