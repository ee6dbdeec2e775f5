"""The driver's own rules, in process (the kit checks the contract against the process)."""

from __future__ import annotations

import pytest
from acme_switch import driver
from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import config


def _ctx(host: str, *segments: values.Segment, vnic: str = "normal") -> values.BindingContext:
    return values.BindingContext(
        port_id="4f1c2d3e-aaaa-bbbb-cccc-000000000001",
        network_id="net-1",
        host=host,
        level=0,
        segments_to_bind=segments,
        vnic_type=vnic,
    )


VLAN = values.Segment(id="s1", network_type="vlan", physical_network="physnet1", segmentation_id=7)
OTHER = values.Segment(id="s2", network_type="vlan", physical_network="physnet2", segmentation_id=8)
VXLAN = values.Segment(id="s3", network_type="vxlan", segmentation_id=1001)
DRIVER = driver.AcmeSwitchDriver(driver.parse_topology("compute-1=tor1/Eth1/1"))


def test_a_wired_host_gets_a_vhostuser_port_with_its_switch_port() -> None:
    bound = DRIVER.propose_binding(_ctx("compute-1", VXLAN, OTHER, VLAN))
    assert bound == values.Complete(
        "s1",
        "vhostuser",
        {
            "vhostuser_socket": "/var/run/acme/vhu4f1c2d3e-aa",
            "vhostuser_mode": "server",
            "acme_switch": "tor1",
            "acme_switch_port": "Eth1/1",
        },
    )


@pytest.mark.parametrize(
    ("host", "segments", "vnic", "code"),
    [
        ("compute-9", (VLAN,), "normal", vocabulary.HOST_NOT_SERVED),
        ("compute-1", (OTHER,), "normal", vocabulary.PHYSNET_NOT_MAPPED),
        ("compute-1", (VXLAN,), "normal", vocabulary.NETWORK_TYPE_UNSUPPORTED),
        ("compute-1", (VLAN,), "direct", vocabulary.VNIC_TYPE_UNSUPPORTED),
    ],
)
def test_what_it_cannot_bind_is_declined_with_the_vocabulary(
    host: str, segments: tuple[values.Segment, ...], vnic: str, code: str
) -> None:
    answer = DRIVER.propose_binding(_ctx(host, *segments, vnic=vnic))
    assert isinstance(answer, values.Decline)
    assert [r.code for r in answer.reasons] == [code] * len(answer.reasons)


@pytest.mark.parametrize(
    ("text", "named"),
    [("compute-1", "'compute-1'"), ("a=b/c,a=d/e", "listed twice"), ("h=sw", "'h=sw'")],
)
def test_a_bad_topology_is_refused_naming_the_entry(text: str, named: str) -> None:
    with pytest.raises(config.ConfigError, match=named):
        driver.parse_topology(text)
