"""The stored form of a binding's trace keeps every fact the trace carries."""

from __future__ import annotations

import datetime as dt
import json

from ml2_contract import values, vocabulary

from services.portapi.db import codec

SEGMENT = values.Segment("seg-1", "vlan", "physnet2", 101, network_id="net-1", mtu=1500)
AGENT = values.Agent(
    id="a1",
    agent_type="openvswitch",
    host="compute-1",
    binary="ml2-agent",
    capabilities=values.HostCapabilities(
        bridge_mappings={"physnet1": "br-eth1"}, tunnel_types=("vxlan",), local_ip="10.0.0.1"
    ),
    alive=False,
    heartbeat_at=dt.datetime(2026, 12, 1, 16, 0, 5, 250000, tzinfo=dt.UTC),
    created_at=dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC),
)


def test_a_verdict_keeps_its_offered_segments_and_each_reasons_agent_and_segment():
    reason = values.DeclineReason(
        vocabulary.PHYSNET_NOT_MAPPED,
        "not mapped",
        "seg-1",
        {"agent_id": "a1", "physical_network": "physnet2"},
        agent=AGENT,
        segment=SEGMENT,
    )
    plain = values.DeclineReason(vocabulary.NO_AGENT, "no agent", details={"host": "compute-1"})
    verdict = values.Verdict(
        0,
        "openvswitch",
        vocabulary.DECLINE,
        reasons=(reason, plain),
        duration=0.002,
        offered_segments=(SEGMENT,),
    )

    stored = codec.dumps([codec.verdict_dict(verdict)])
    (loaded,) = (codec.verdict(item) for item in json.loads(stored))

    assert loaded.offered_segments == (SEGMENT,)
    assert loaded.reasons[0].agent is not None
    assert loaded.reasons[0].agent.heartbeat_at == AGENT.heartbeat_at
    assert dict(loaded.reasons[0].agent.capabilities.bridge_mappings) == {"physnet1": "br-eth1"}
    assert loaded.reasons[0].agent.capabilities.tunnel_types == ("vxlan",)
    assert (loaded.reasons[0].agent.alive, loaded.reasons[0].segment) == (False, SEGMENT)
    assert (loaded.reasons[1].agent, loaded.reasons[1].segment) == (None, None)
    assert loaded.reasons[1].details == {"host": "compute-1"}


def test_a_verdict_stored_before_the_facts_reads_with_none():
    old = {
        "level": 0,
        "driver": "linuxbridge",
        "outcome": "DECLINE",
        "segment_id": "",
        "duration": 0.001,
        "reasons": [{"code": "NO_AGENT", "message": "m", "segment_id": "", "details": {}}],
    }

    loaded = codec.verdict(old)

    assert loaded.offered_segments == ()
    assert (loaded.reasons[0].agent, loaded.reasons[0].segment) == (None, None)
