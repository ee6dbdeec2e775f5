"""``ml2 port explain``: a port's binding decision as a tree, and what would make it bind.

The tree is built from the binding's trace alone: each verdict carries its level and the
segments it was offered, each decline reason its code, its details and (from mechmgr) the agent
and segment it is about. Verdicts are grouped by level and offered segments; the levels below a
driver that continued hang under that driver, so backtracking reads as siblings::

    port P on host H (vnic normal): binding_failed
    └─ level 0, segment vlan/physnet2/101
       ├─ openvswitch: declined PHYSNET_NOT_MAPPED — openvswitch agent a1 on H has ...
       └─ linuxbridge: declined NO_AGENT — no linuxbridge agent on H
    To bind: map physnet2 on H's openvswitch agent (bridge_mappings), or start a linuxbridge
    agent on H.

What each reason says and what an operator does about it come from one table, ``REMEDIES``
(reason code → a fact template and a fix template, filled from the reason's facts). A code the
table does not know, or a template whose facts a reason lacks, still prints: its message, and
the ``GENERIC`` fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ml2.v1 import binding_pb2, port_pb2, segment_pb2
from ml2_contract import vocabulary

from services.cli import render

# --------------------------------------------------------------------------- the remedy table


@dataclass(frozen=True)
class Remedy:
    """What a reason code says and what fixes it, as ``str.format`` templates over the reason's
    facts (see ``reason_facts``). An empty ``fix`` means there is nothing to do about it (the
    reason is a consequence of others)."""

    facts: str
    fix: str


REMEDIES: Mapping[str, Remedy] = {
    vocabulary.NO_AGENT: Remedy(
        "no {agent_type} agent on {host}",
        "start a {agent_type} agent on {host}",
    ),
    vocabulary.AGENT_DEAD: Remedy(
        "{agent_type} agent {agent_id} on {host} is dead: last heartbeat {last_heartbeat}, "
        "agent down time {agent_down_time_seconds}s",
        "restart the {agent_type} agent {agent_id} on {host}",
    ),
    vocabulary.AGENT_ADMIN_DOWN: Remedy(
        "{agent_type} agent {agent_id} on {host} is administratively down",
        "enable the {agent_type} agent on {host} (ml2 agent set {agent_id} --enable)",
    ),
    vocabulary.PHYSNET_NOT_MAPPED: Remedy(
        "{agent_type} agent {agent_id} on {host} has {mapping_option} {mappings}, "
        "not {physical_network}",
        "map {physical_network} on {host}'s {agent_type} agent ({mapping_option})",
    ),
    vocabulary.NETWORK_TYPE_UNSUPPORTED: Remedy(
        "{agent_type} agent {agent_id} on {host} carries {allowed_network_types}, "
        "not {network_type}",
        "add {network_type} to the tunnel_types of {host}'s {agent_type} agent, or run an "
        "agent that carries {network_type} there",
    ),
    vocabulary.NETWORK_TYPE_UNSUPPORTED_BY_AGENT: Remedy(
        "{agent_type} agent {agent_id} on {host} realises only {agent_network_types}, "
        "not {network_type}",
        "make {network_type} realisable on {host} (its {agent_type} agent reports it cannot)",
    ),
    vocabulary.VNIC_TYPE_UNSUPPORTED: Remedy(
        "{driver} binds vnic types {supported}, not {vnic_type}",
        "ask for a vnic type {driver} binds ({supported}), or add a driver that binds {vnic_type}",
    ),
    vocabulary.HOST_NOT_SERVED: Remedy("{message}", "configure {driver} to serve {host}"),
    vocabulary.MIGRATION_SOURCE_MISMATCH: Remedy(
        "the port is migrating to {migrating_to}: it would use {target_device} on {host} "
        "for {physical_network}, not {source_device} as on its source host",
        "map {physical_network} to the same interface on both hosts "
        "({agent_type} agent interface_mappings), or migrate to a host mapped like the source",
    ),
    vocabulary.DEVICE_MAC_ADDRESS_IN_USE: Remedy(
        "{message}",
        "unbind or delete port {port_id}, which has {mac_address}, if it no longer uses the "
        "device; then bind this port again",
    ),
    vocabulary.HOST_NOT_LINKED: Remedy(
        "the topology has no switch port link for {host}",
        "record the switch port {host} is wired to (ml2 topology set {host} --switch-id SWITCH "
        "--port-id PORT --physical-network PHYSNET)",
    ),
    vocabulary.LINK_INFORMATION_INVALID: Remedy(
        "{message}",
        "correct the port's local_link_information: each link names a switch_id (or "
        "switch_info) and a port_id",
    ),
    vocabulary.PHYSNET_NOT_LINKED: Remedy(
        "{message}",
        "bind {host} on a network of the physical network its switch port carries, or correct "
        "its link (ml2 topology set {host} ... --physical-network PHYSNET)",
    ),
    vocabulary.DRIVER_UNAVAILABLE: Remedy(
        "{message}",
        "start the {driver} driver process at {address}, or give it a longer deadline "
        "(MECHMGR_DRIVER_TIMEOUT_SECONDS)",
    ),
    vocabulary.DRIVER_ERROR: Remedy("{message}", "fix the {driver} driver (see its log)"),
    vocabulary.LOOP_PREVENTED: Remedy("{message}", ""),
    vocabulary.DYNAMIC_SEGMENT_UNAVAILABLE: Remedy(
        "{message}",
        "give typemgr free {network_type} ids for dynamic segments (ml2 range create)",
    ),
    vocabulary.MAX_LEVELS_REACHED: Remedy(
        "{message}", "stop {driver} from continuing at every level (a driver loop)"
    ),
    vocabulary.L2_CONNECTIVITY_REQUIRED: Remedy(
        "{message}",
        "configure a mechanism driver with l2 connectivity that binds the port "
        "({driver} has {connectivity} connectivity)",
    ),
    vocabulary.MECHANISM_MANAGER_UNAVAILABLE: Remedy(
        "{message}", "make mechmgr reachable from portapi, then bind the port again"
    ),
    vocabulary.MECHANISM_MANAGER_ERROR: Remedy(
        "{message}", "see mechmgr's log for the error, then bind the port again"
    ),
}
"""Reason code → what it says and what an operator does about it."""

GENERIC = Remedy("{message}", "deal with {driver}'s {code}")
"""The remedy of a code ``REMEDIES`` does not know (a driver's own)."""

VARIANTS: Mapping[tuple[str, str], Remedy] = {
    (vocabulary.VNIC_TYPE_UNSUPPORTED, "required_capability"): Remedy(
        "{driver} binds vnic_type {vnic_type} only for ports whose binding profile "
        "capabilities include {required_capability}",
        "add {required_capability} to the port's binding profile capabilities if its "
        "device has it, or ask for another vnic type",
    ),
    (vocabulary.VNIC_TYPE_UNSUPPORTED, "baremetal_smartnic"): Remedy(
        "{agent_type} agent {agent_id} on {host} does not run on a bare-metal SmartNIC "
        "(baremetal_smartnic), which {vnic_type} ports need",
        "bind the port on a host whose {agent_type} agent runs on a bare-metal SmartNIC "
        "(baremetal_smartnic)",
    ),
    (vocabulary.VNIC_TYPE_UNSUPPORTED, "capabilities"): Remedy(
        "{driver} does not bind vnic type {vnic_type} with profile capabilities {capabilities}",
        "bind it through a driver that takes {vnic_type} ports with {capabilities} "
        "(openvswitch, for switchdev), or bind it without them",
    ),
}
"""(code, fact) → the remedy of a reason of that code that carries that fact: a decline for the
port's profile, or for what the host's agent lacks, rather than for its vnic type alone. The
first that applies wins (a reason naming the capability it needs also shows the port's)."""


def reason_facts(
    reason: binding_pb2.DeclineReason,
    verdict: binding_pb2.DriverVerdict,
    binding: binding_pb2.PortBinding,
) -> dict[str, str]:
    """Returns the facts of one reason, the names the templates use: its details, then the
    segment it wanted and the agent it is about as mechmgr saw them, then the port's host and
    vnic type and the driver where nothing else said."""
    facts = {
        "host": binding.host_id,
        "vnic_type": render.vnic_type(binding),
        "driver": verdict.driver,
        "level": str(verdict.level),
    }
    facts.update(reason.details)
    segment = reason.segment if reason.HasField("segment") else _offered(verdict, reason)
    if segment is not None:
        facts["segment"] = segment_path(segment)
        facts["network_type"] = segment.network_type
        if segment.physical_network:
            facts["physical_network"] = segment.physical_network
    if reason.HasField("agent"):
        agent = reason.agent
        facts.update(
            agent_id=agent.id,
            agent_type=agent.agent_type,
            host=agent.host,
            alive="alive" if agent.alive else "dead",
            admin_state="up" if agent.admin_state_up else "down",
            last_heartbeat=render.time_text(agent.heartbeat_time),
        )
        option = facts.get("mapping_option", "bridge_mappings")
        facts["mapping_option"] = option
        if "mappings" not in reason.details:
            facts["mappings"] = render.mapping_text(getattr(agent.capabilities, option, {}))
    if "mappings" in facts:
        facts["mappings"] = facts["mappings"].replace(",", ", ") or "none"
    facts.update(code=reason.code, message=reason.message)
    return facts


def _offered(
    verdict: binding_pb2.DriverVerdict, reason: binding_pb2.DeclineReason
) -> segment_pb2.Segment | None:
    return next((s for s in verdict.offered_segments if s.id == reason.segment_id), None)


def remedy(code: str, facts: Mapping[str, str] | None = None) -> Remedy:
    """Returns the remedy of ``code``: a variant for a fact among ``facts``, else the table's,
    else ``GENERIC``."""
    for (variant_code, fact), variant in VARIANTS.items():
        if variant_code == code and facts and fact in facts:
            return variant
    return REMEDIES.get(code, GENERIC)


def fact_text(code: str, facts: Mapping[str, str]) -> str:
    """The reason in operator words; its message when the template wants a fact it lacks."""
    try:
        return remedy(code, facts).facts.format_map(facts)
    except (KeyError, ValueError, IndexError):
        return facts.get("message", "")


def fix_text(code: str, facts: Mapping[str, str]) -> str:
    """What would remove the reason; ``GENERIC``'s fix when the template wants a fact it lacks,
    empty when there is nothing to do about it."""
    try:
        return remedy(code, facts).fix.format_map(facts)
    except (KeyError, ValueError, IndexError):
        return GENERIC.fix.format_map(facts)


# ------------------------------------------------------------------------------- the tree


@dataclass
class Explained:
    """One decline reason with its facts and fix."""

    code: str
    message: str
    facts: dict[str, str]
    text: str
    fix: str


@dataclass
class Node:
    """One verdict and, for a driver that continued, the levels tried below it."""

    verdict: binding_pb2.DriverVerdict
    reasons: list[Explained]
    vif_type: str = ""
    below: list[Group] = field(default_factory=list)


@dataclass
class Group:
    """The verdicts given at one level on the same offered segments, in the order given."""

    level: int
    segments: list[segment_pb2.Segment]
    nodes: list[Node] = field(default_factory=list)


def build_tree(binding: binding_pb2.PortBinding) -> list[Group]:
    """Returns the trace as a tree: level 0 groups at the top, deeper ones under the verdict
    that continued to them."""
    top: list[Group] = []
    open_groups: list[Group] = []
    for verdict in binding.trace:
        while open_groups and open_groups[-1].level > verdict.level:
            open_groups.pop()
        current = open_groups[-1] if open_groups else None
        if current is not None and current.level == verdict.level:
            if [s.id for s in current.segments] != [s.id for s in verdict.offered_segments]:
                open_groups.pop()
                current = None
        else:
            current = None
        if current is None:
            current = Group(verdict.level, list(verdict.offered_segments))
            (open_groups[-1].nodes[-1].below if open_groups else top).append(current)
            open_groups.append(current)
        current.nodes.append(_node(verdict, binding))
    return top


def _node(verdict: binding_pb2.DriverVerdict, binding: binding_pb2.PortBinding) -> Node:
    reasons = []
    for reason in verdict.reasons:
        facts = reason_facts(reason, verdict, binding)
        reasons.append(
            Explained(
                reason.code,
                reason.message,
                facts,
                fact_text(reason.code, facts),
                fix_text(reason.code, facts),
            )
        )
    complete = verdict.outcome == binding_pb2.OUTCOME_COMPLETE
    bound = binding.state == binding_pb2.BINDING_STATE_BOUND
    return Node(verdict, reasons, binding.vif_type if complete and bound else "")


def to_bind(binding: binding_pb2.PortBinding, tree: Sequence[Group], port_ref: str) -> str:
    """The sentence saying what would make the port bind; empty when it is bound."""
    state = binding.state
    if state == binding_pb2.BINDING_STATE_BOUND:
        return ""
    if not binding.host_id:
        return f"To bind: give it a host (ml2 port bind {port_ref} --host HOST)."
    if state != binding_pb2.BINDING_STATE_FAILED:
        return f"To bind: wait; its binding on {binding.host_id} is not resolved yet."
    fixes = list(dict.fromkeys(r.fix for r in _all_reasons(tree) if r.fix))
    if not fixes:
        return "To bind: no driver said what it lacks; check the drivers (ml2 driver list)."
    return "To bind: " + ", or ".join(fixes) + "."


def _all_reasons(groups: Sequence[Group]) -> list[Explained]:
    found: list[Explained] = []
    for group in groups:
        for node in group.nodes:
            found.extend(node.reasons)
            found.extend(_all_reasons(node.below))
    return found


# ----------------------------------------------------------------------------- rendering


def segment_path(seg: segment_pb2.Segment) -> str:
    """``vlan/physnet2/101``, ``vxlan/1001``, ``flat/physnet1``; dynamic ones say so."""
    parts = [seg.network_type, seg.physical_network]
    if seg.network_type not in (vocabulary.TYPE_FLAT, vocabulary.TYPE_LOCAL):
        parts.append(str(seg.segmentation_id))
    text = "/".join(p for p in parts if p) or seg.id
    return f"{text} (dynamic)" if seg.is_dynamic else text


def _segment_of(verdict: binding_pb2.DriverVerdict) -> str:
    seg = next((s for s in verdict.offered_segments if s.id == verdict.segment_id), None)
    return segment_path(seg) if seg is not None else f"segment {verdict.segment_id}"


def port_label(port: port_pb2.Port) -> str:
    """``web-1 [ID]`` for a named port, else its id."""
    return f"{port.name} [{port.id}]" if port.name else port.id


def headline(port: port_pb2.Port) -> str:
    """``port P on host H (vnic normal): binding_failed``."""
    b = port.binding
    where = f" on host {b.host_id}" if b.host_id else ", no host"
    if b.state == binding_pb2.BINDING_STATE_BOUND:
        state = f"bound, vif {b.vif_type}"
    else:
        state = b.vif_type or vocabulary.VIF_TYPE_UNBOUND
    return f"port {port_label(port)}{where} (vnic {render.vnic_type(b)}): {state}"


def _group_head(group: Group) -> str:
    if not group.segments:
        return f"level {group.level} (segments not recorded)"
    noun = "segment" if len(group.segments) == 1 else "segments"
    return f"level {group.level}, {noun} " + ", ".join(segment_path(s) for s in group.segments)


def _node_head(node: Node) -> str:
    v = node.verdict
    if v.outcome == binding_pb2.OUTCOME_COMPLETE:
        text = f"{v.driver}: bound {_segment_of(v)}"
        return f"{text}, vif {node.vif_type}" if node.vif_type else text
    if v.outcome == binding_pb2.OUTCOME_CONTINUE:
        return f"{v.driver}: continued on {_segment_of(v)}"
    if len(node.reasons) == 1:
        (reason,) = node.reasons
        return f"{v.driver}: declined {reason.code} — {reason.text}"
    return f"{v.driver}: declined"


def tree_lines(groups: Sequence[Group], prefix: str = "") -> list[str]:
    """The tree drawn with box characters, one line per group, verdict and extra reason."""
    lines: list[str] = []
    for gi, group in enumerate(groups):
        last_group = gi == len(groups) - 1
        lines.append(f"{prefix}{'└─' if last_group else '├─'} {_group_head(group)}")
        inner = prefix + ("   " if last_group else "│  ")
        for ni, node in enumerate(group.nodes):
            last_node = ni == len(group.nodes) - 1
            lines.append(f"{inner}{'└─' if last_node else '├─'} {_node_head(node)}")
            deeper = inner + ("   " if last_node else "│  ")
            extra = node.reasons if len(node.reasons) > 1 else []
            for ri, reason in enumerate(extra):
                mark = "└─" if ri == len(extra) - 1 and not node.below else "├─"
                lines.append(f"{deeper}{mark} {reason.code} — {reason.text}")
            lines.extend(tree_lines(node.below, deeper))
    return lines


def bound_text(binding: binding_pb2.PortBinding) -> str:
    """``Bound: level 0 openvswitch on vlan/physnet1/101; vif ovs.``"""
    levels = "; ".join(
        f"level {lv.level} {lv.driver} on {segment_path(lv.segment)}" for lv in binding.levels
    )
    return f"Bound: {levels}; vif {binding.vif_type}."


def explain_text(port: port_pb2.Port) -> str:
    """The text of ``ml2 port explain``: the headline, the tree and the closing sentence."""
    tree = build_tree(port.binding)
    lines = [headline(port), *tree_lines(tree)]
    if port.binding.state == binding_pb2.BINDING_STATE_BOUND:
        lines.append(bound_text(port.binding))
    else:
        lines.append(to_bind(port.binding, tree, port.name or port.id))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- JSON


def explain_dict(port: port_pb2.Port) -> dict[str, Any]:
    """The explanation as JSON-ready data: the same tree, with each reason's facts and fix."""
    b = port.binding
    tree = build_tree(b)
    return {
        "port_id": port.id,
        "name": port.name,
        "host_id": b.host_id,
        "vnic_type": render.vnic_type(b),
        "state": render.enum_name(b, "state", "BINDING_STATE_"),
        "vif_type": b.vif_type,
        "levels": [render.to_dict(lv) for lv in b.levels],
        "tree": [_group_dict(g) for g in tree],
        "to_bind": to_bind(b, tree, port.name or port.id),
    }


def _group_dict(group: Group) -> dict[str, Any]:
    return {
        "level": group.level,
        "segments": [render.to_dict(s) for s in group.segments],
        "verdicts": [_node_dict(n) for n in group.nodes],
    }


def _node_dict(node: Node) -> dict[str, Any]:
    v = node.verdict
    return {
        "driver": v.driver,
        "outcome": render.enum_name(v, "outcome", "OUTCOME_"),
        "segment_id": v.segment_id,
        "vif_type": node.vif_type,
        "reasons": [
            {"code": r.code, "message": r.message, "facts": r.facts, "text": r.text, "fix": r.fix}
            for r in node.reasons
        ],
        "below": [_group_dict(g) for g in node.below],
    }


def explain_json(port: port_pb2.Port) -> str:
    """``explain_dict`` as indented JSON text."""
    return json.dumps(explain_dict(port), indent=2, ensure_ascii=False)
