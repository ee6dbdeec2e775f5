"""The reference driver's connectivity setting."""

from __future__ import annotations

import pytest
from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import config

from services.drivers.noop.driver import NoopDriver

SEGMENT = values.Segment("seg-1", "vlan", "physnet1", 101, network_id="net-1")


def context() -> values.BindingContext:
    return values.BindingContext(
        port_id="port-1", network_id="net-1", host="compute-1", level=0, segments_to_bind=(SEGMENT,)
    )


def test_the_driver_has_l2_connectivity_by_default() -> None:
    driver = NoopDriver.from_env({})

    assert driver.describe().connectivity == vocabulary.CONNECTIVITY_L2


@pytest.mark.parametrize("connectivity", ["l3", "legacy"])
def test_the_configured_connectivity_is_described_and_in_the_vif_details(connectivity) -> None:
    driver = NoopDriver.from_env({"MECHDRIVER_NOOP_CONNECTIVITY": connectivity})

    assert driver.describe().connectivity == connectivity
    proposal = driver.propose_binding(context())
    assert isinstance(proposal, values.Complete)
    assert proposal.vif_details["connectivity"] == connectivity


def test_an_unknown_connectivity_is_refused_naming_the_variable() -> None:
    with pytest.raises(config.ConfigError, match="MECHDRIVER_NOOP_CONNECTIVITY='l4'"):
        NoopDriver.from_env({"MECHDRIVER_NOOP_CONNECTIVITY": "l4"})
