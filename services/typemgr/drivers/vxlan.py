"""VXLAN networks: tunnelled over UDP with a 24-bit network identifier."""

from __future__ import annotations

from ml2_contract import vocabulary

from services.typemgr import segments
from services.typemgr.drivers import base


class VxlanTypeDriver(base.TunnelTypeDriver):
    """VXLAN segments: no physical network, VNI 1-16777215, 30 bytes of overhead."""

    network_type = vocabulary.TYPE_VXLAN
    max_id = segments.MAX_VXLAN_VNI
    overhead = segments.VXLAN_ENCAP_OVERHEAD
    id_name = "VXLAN id"
