"""GRE networks: tunnelled with a 32-bit key."""

from __future__ import annotations

from ml2_contract import vocabulary

from services.typemgr import segments
from services.typemgr.drivers import base


class GreTypeDriver(base.TunnelTypeDriver):
    """GRE segments: no physical network, key 1-4294967295 (unsigned, stored as such), 22 bytes
    of overhead."""

    network_type = vocabulary.TYPE_GRE
    max_id = segments.MAX_GRE_ID
    overhead = segments.GRE_ENCAP_OVERHEAD
    id_name = "GRE key"
