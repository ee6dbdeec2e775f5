"""The one page-token implementation every list RPC uses."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.rpc import paging

PORTS = paging.Listing("ml2.v1.PortService/ListPorts", (datetime, str))
AGENTS = paging.Listing("ml2.v1.AgentService/ListAgents", (str, str))
NETWORKS = paging.Listing("ml2.v1.NetworkService/ListNetworks", (datetime, str))


def test_a_token_round_trips_its_typed_position() -> None:
    position = (datetime(2026, 1, 2, 3, 4, 5, 678901), "abc")
    token = PORTS.encode(position, {"network_id": "n1", "host_id": ""})
    assert PORTS.decode(token, {"network_id": "n1", "host_id": ""}) == position
    assert PORTS.decode("", {}) is None
    ranges = paging.Listing("ml2.v1.SegmentRangeService/ListSegmentRanges", (str, str, int))
    assert ranges.decode(ranges.encode(("vlan", "physnet1", 7), {}), {}) == ("vlan", "physnet1", 7)


def test_a_token_is_bound_to_its_filters() -> None:
    token = AGENTS.encode(("compute-1", "openvswitch"), {"host": "", "agent_type": "a"})
    with pytest.raises(InvalidArgument, match="page_token: was issued for a request with other"):
        AGENTS.decode(token, {"host": "", "agent_type": "b"})
    with pytest.raises(InvalidArgument, match="page_token: was issued for a request with other"):
        AGENTS.decode(token, {"host": "", "agent_type": ""})


def test_a_token_of_one_rpc_is_refused_by_another_with_the_same_shape_and_filters() -> None:
    token = PORTS.encode((datetime(2026, 1, 1), "x"), {"project_id": "p"})
    with pytest.raises(InvalidArgument, match="page_token: was issued by another list call"):
        NETWORKS.decode(token, {"project_id": "p"})


def _forged(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


@pytest.mark.parametrize("mutate", ["version", "position type", "position length", "time"])
def test_a_token_altered_by_hand_is_refused(mutate: str) -> None:
    token = PORTS.encode((datetime(2026, 1, 1), "x"), {})
    doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    if mutate == "version":
        doc["v"] = 2
    elif mutate == "position type":
        doc["p"][1] = 5
    elif mutate == "position length":
        doc["p"].append("y")
    else:
        doc["p"][0] = "yesterday"
    with pytest.raises(InvalidArgument, match="page_token: is not a token this service issued"):
        PORTS.decode(_forged(doc), {})


@pytest.mark.parametrize("token", ["not-a-token", "!!!", _forged([1, 2]), _forged("x"), "e30"])
def test_a_malformed_token_is_refused_naming_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token: is not a token this service issued"):
        PORTS.decode(token, {})


def test_page_size_defaults_caps_and_refuses_negatives() -> None:
    assert paging.page_size(0) == 100
    assert paging.page_size(7) == 7
    assert paging.page_size(5000) == 1000
    with pytest.raises(InvalidArgument, match="page_size: must not be negative, got -1"):
        paging.page_size(-1)


def test_a_page_carries_a_token_only_when_more_follow() -> None:
    page, token = AGENTS.page(["a", "b", "c"], 2, lambda s: (s, s), {})
    assert page == ["a", "b"] and AGENTS.decode(token, {}) == ("b", "b")
    assert AGENTS.page(["a", "b"], 2, lambda s: (s, s), {}) == (["a", "b"], "")
