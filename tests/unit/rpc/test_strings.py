"""The one rule every string of every request keeps: no NUL."""

from __future__ import annotations

import pytest
from ml2.v1 import agent_pb2, agent_service_pb2, network_service_pb2, port_service_pb2
from ml2_driver_sdk.runtime import errors, strings


def refused_field(msg) -> str:
    with pytest.raises(errors.InvalidArgument) as info:
        strings.check(msg)
    assert info.value.reason == "NUL_IN_STRING"
    assert info.value.message.endswith("must not contain NUL characters (U+0000)")
    return info.value.field


def test_every_kind_of_string_is_checked_and_named():
    create = network_service_pb2.CreateNetworkRequest()
    create.network.name = "a\x00b"
    assert refused_field(create) == "network.name"
    create = network_service_pb2.CreateNetworkRequest()
    create.segments.add(network_type="vlan")
    create.segments.add(network_type="vlan", physical_network="phys\x00net")
    assert refused_field(create) == "segments[1].physical_network"
    register = agent_service_pb2.RegisterAgentRequest(
        agent=agent_pb2.Agent(
            capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br\x00"})
        )
    )
    assert refused_field(register) == 'agent.capabilities.bridge_mappings["physnet1"]'
    port = port_service_pb2.CreatePortRequest()
    port.port.binding.profile.update({"a": [1, {"odd key": "\x00"}]})
    assert refused_field(port) == 'port.binding.profile.a[1]["odd key"]'
    port = port_service_pb2.CreatePortRequest()
    port.port.binding.profile.update({"k\x00": 1})
    assert refused_field(port) == 'port.binding.profile["k\\u0000"]'


def test_strings_without_nul_pass():
    port = port_service_pb2.CreatePortRequest()
    port.port.name = "é 日本 🙂"
    port.port.binding.profile.update({"a": ["x", {"b": None}]})
    strings.check(port)
