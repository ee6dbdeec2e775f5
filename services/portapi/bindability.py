"""CheckBindable: whether a port of a network could bind on each of many hosts, now.

portapi reads the network's static segments and asks mechmgr (``ResolveBindability``), which
runs the binding loop for every host at once, asking each driver about all undecided hosts of
a level in one call. Nothing is written: no port, no binding, no event, and no dynamic segment
is allocated (a host where binding would need one is bindable, with the segment noted). The
answer is a moment's view: an agent may die or a pool run dry before a port is bound.

The answer is passed on without being decoded: ``ResolveBindabilityResponse`` and
``CheckBindableResponse`` both carry their ``HostBindability`` answers as field 1 and nothing
else, so mechmgr's serialized response is portapi's (decoding and encoding a thousand answers
would cost more than the check itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi.clients import BindabilityResolver
from services.portapi.db import repository as repo

MAX_HOSTS = 5000
"""The most hosts one CheckBindable may name."""


@dataclass(frozen=True)
class Check:
    """A validated CheckBindable request."""

    network_id: str
    host_ids: tuple[str, ...]
    vnic_type: str
    profile: Mapping[str, Any]


class BindabilityChecker:
    """Answers CheckBindable over the network table and mechmgr; safe to share between
    threads."""

    def __init__(self, factory: sessionmaker[Session], resolver: BindabilityResolver) -> None:
        self._factory = factory
        self._resolver = resolver

    def check(self, check: Check) -> bytes:
        """Returns the serialized CheckBindableResponse: mechmgr's answer for each host, in
        request order. Raises NetworkNotFound,
        NetworkNotActive, or the ServiceError of a failed call to mechmgr."""
        with sql.read_session(self._factory) as session:
            network = repo.get_network(session, check.network_id)
        if network is None:
            raise portapi_errors.NetworkNotFound(check.network_id)
        if network.status != r.NETWORK_ACTIVE:
            raise portapi_errors.NetworkNotActive(network.id, network.status)
        return self._resolver.check_bindable(
            network.id, check.host_ids, check.vnic_type, check.profile, network.segments
        )
