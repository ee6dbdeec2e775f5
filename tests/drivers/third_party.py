"""A third-party driver distribution, made on disk for the tests that discover drivers by
entry point: a package with a driver and its ``DriverSpec``, and the ``.dist-info`` that
declares it under ``ml2.mechanism_drivers``, in a directory to put on ``sys.path`` or
``PYTHONPATH`` (as an installed distribution is)."""

from __future__ import annotations

from pathlib import Path

NAME = "acme-fabric"
"""The driver's entry-point name."""
DISTRIBUTION = "acme-ml2-fabric"
VERSION = "1.2.3"
VIF_TYPE = "acme_fabric"

_MODULE = '''
from ml2_contract import values
from ml2_driver_sdk import base, discovery


class FabricDriver(base.MechanismDriver):
    """Binds the first offered VLAN segment of any host, with no agent."""

    def describe(self):
        return values.DriverDescription(name="acme-fabric", supported_network_types=("vlan",))

    def propose_binding(self, ctx):
        for segment in ctx.segments_to_bind:
            if segment.network_type == "vlan":
                return values.Complete(segment.id, "acme_fabric", {"fabric": "acme"})
        return values.Decline(
            (values.DeclineReason("NETWORK_TYPE_NOT_SUPPORTED", "acme binds vlan only"),)
        )


SPEC = discovery.DriverSpec(
    factory=lambda _env: FabricDriver(),
    default_port=50199,
    default_metrics_port=9199,
    summary="ACME fabric switches",
)
NOT_A_SPEC = "a string"
'''


def make(root: Path, *, extra_entry_points: str = "") -> Path:
    """Writes the distribution under ``root``; returns the directory to put on the path."""
    site = root / "site"
    package = site / "acme_ml2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_MODULE)
    info = site / f"{DISTRIBUTION.replace('-', '_')}-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {VERSION}\n"
    )
    (info / "entry_points.txt").write_text(
        f"[ml2.mechanism_drivers]\n{NAME} = acme_ml2:SPEC\n{extra_entry_points}"
    )
    return site
