"""Geneve networks: tunnelled over UDP with a 24-bit network identifier and variable options."""

from __future__ import annotations

from ml2_contract import vocabulary

from services.typemgr import segments
from services.typemgr.drivers import base
from services.typemgr.segments import IdRange


class GeneveTypeDriver(base.TunnelTypeDriver):
    """Geneve segments: no physical network, VNI 1-16777215, and an overhead that depends on the
    options the dataplane adds (``TYPEMGR_GENEVE_MAX_HEADER_SIZE``, 30 by default; OVN needs at
    least 38)."""

    network_type = vocabulary.TYPE_GENEVE
    max_id = segments.MAX_GENEVE_VNI
    id_name = "Geneve VNI"

    def __init__(
        self,
        mtu_settings: base.MtuSettings,
        tenant_ranges: tuple[IdRange, ...] = (),
        max_header_size: int = segments.GENEVE_MIN_OVERHEAD,
    ) -> None:
        super().__init__(mtu_settings, tenant_ranges)
        self.overhead = max_header_size
