"""What is wrong with one answer of a driver, in the words of a failure: the rules the checks
apply to a description, a proposal, a decline and a refusal."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ml2.v1 import binding_pb2
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2_contract import vocabulary
from ml2_driver_sdk.conformance import probe

NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
CONNECTIVITIES = (
    vocabulary.CONNECTIVITY_L2,
    vocabulary.CONNECTIVITY_L3,
    vocabulary.CONNECTIVITY_LEGACY,
)
REFUSALS = ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "OUT_OF_RANGE")
"""The status codes a driver may refuse a request it cannot take with."""


def description_faults(d: pb.DescribeDriverResponse) -> Iterable[str]:
    """Yields what is wrong with a description: a name, vnic types, network types, a
    connectivity it must have; vif types it may not have."""
    if not NAME.match(d.name):
        yield f"name {d.name!r} is not lower case letters, digits, - and _"
    if not d.supported_vnic_types:
        yield "supported_vnic_types is empty"
    for v in d.supported_vnic_types:
        if v == binding_pb2.VNIC_TYPE_UNSPECIFIED or v not in binding_pb2.VnicType.values():
            yield f"supported_vnic_types holds {v}, not a vnic type"
    types = list(d.supported_network_types)
    if not types or any(not t for t in types) or len(set(types)) != len(types):
        yield f"supported_network_types {types} must be distinct, non-empty names, at least one"
    if d.connectivity not in CONNECTIVITIES:
        yield f"connectivity {d.connectivity!r} is not one of {', '.join(CONNECTIVITIES)}"
    bad = [t for t in d.vif_types if not t or t in vocabulary.RESERVED_VIF_TYPES]
    if bad:
        yield f"vif_types holds {bad}: empty or reserved for the manager"
    if d.agent_type and not NAME.match(d.agent_type):
        yield f"agent_type {d.agent_type!r} is not lower case letters, digits, - and _"


def proposal_fault(reply: pb.ProposeBindingResponse, offered: frozenset[str]) -> str:
    """Returns what is wrong with a complete or continue (a segment not offered, a reserved
    vif_type, nothing for the next level), or "" if nothing is."""
    outcome = reply.WhichOneof("outcome")
    if outcome is None:
        return "answered without an outcome"
    if outcome == "declined":
        return ""
    chosen = reply.complete.segment_id if outcome == "complete" else reply.continued.segment_id
    if chosen not in offered:
        verb = "completed" if outcome == "complete" else "continued"
        return (
            f"{verb} on segment {chosen or '(none)'!r}, which was not offered "
            f"(offered: {listed(offered)})"
        )
    if outcome == "complete":
        vif = reply.complete.vif_type
        if not vif or vif in vocabulary.RESERVED_VIF_TYPES:
            return f"completed with vif_type {vif!r}, which a driver may not choose"
        return ""
    nxt = reply.continued
    if not nxt.next_segments and not nxt.dynamic_segments:
        return "continued without a segment for the next level"
    if any(not x.id or not x.network_type for x in nxt.next_segments) or any(
        not x.network_type for x in nxt.dynamic_segments
    ):
        return "continued with a next segment without an id or network_type"
    return ""


def listed(ids: frozenset[str], most: int = 4) -> str:
    """Returns the first ``most`` ids, sorted, and how many there are in all if more."""
    shown = sorted(ids)
    text = ", ".join(shown[:most]) or "none"
    return text if len(shown) <= most else f"{text}, ... ({len(shown)} in all)"


def decline_faults(
    declined: pb.DeclineBinding, offered: frozenset[str], codes: frozenset[str]
) -> Iterable[str]:
    """Yields what is wrong with a decline: no reason, a code outside ``codes``, no message, a
    reason about a segment not offered."""
    if not declined.reasons:
        yield "declined without a reason"
    for reason in declined.reasons:
        if reason.code not in codes:
            yield f"declined with code {reason.code!r}, which is not in the vocabulary"
        if not reason.message.strip():
            yield f"declined with {reason.code or 'a reason'} without a message"
        if reason.segment_id and reason.segment_id not in offered:
            yield f"declined about segment {reason.segment_id!r}, which was not offered"


def tolerance_fault(reply: pb.ProposeBindingResponse | None, exchange: probe.Exchange) -> str:
    """Returns what is wrong with the answer to a request a driver may refuse: it must be a
    refusal with a message or a proposal (which the other checks judge)."""
    if reply is None:
        if exchange.code in REFUSALS and exchange.details:
            return ""
        return f"answered {exchange.answer()}, not a refusal ({', '.join(REFUSALS)}) with a message"
    if reply.WhichOneof("outcome") is None:
        return "answered without an outcome"
    return ""
