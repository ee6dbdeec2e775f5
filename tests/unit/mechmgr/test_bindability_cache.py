"""The cache of bindability checks: what its key covers, how long an answer is kept, which
answers are never kept, and that a bind never reads it. Time is an injected clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import grpc
import pytest
from ml2.v1 import binding_pb2
from ml2.v1 import mechanism_manager_service_pb2 as pb
from ml2_contract import values, vocabulary

from services.mechmgr import agents, bindability_cache, breaker, driver_client, manager, servicer
from services.mechmgr import resolver as res
from tests.unit.mechmgr import fakes

VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101, network_id="net-1")
VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=7, network_id="net-1")
HEARTBEAT = "2026-03-01 12:00:00.000000"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------- the cache


def test_an_answer_is_given_again_until_its_ttl_from_when_the_drivers_were_asked():
    clock = Clock()
    cache = bindability_cache.BindabilityCache(5, clock=clock)
    asked_at = cache.now()
    clock.now += 1  # the drivers took a second
    cache.store("scope", [("h1", b"one")], asked_at)

    clock.now = asked_at + 4.999
    assert cache.lookup("scope", ["h1", "h2"]) == [b"one", None]
    clock.now = asked_at + 5
    assert cache.lookup("scope", ["h1"]) == [None]


def test_another_scope_or_key_is_a_miss():
    cache = bindability_cache.BindabilityCache(5, clock=Clock())
    cache.store(("net-1", "normal"), [(("h1", ("agent-a",)), b"one")], cache.now())

    assert cache.lookup(("net-1", "normal"), [("h1", ("agent-a",))]) == [b"one"]
    assert cache.lookup(("net-1", "direct"), [("h1", ("agent-a",))]) == [None]
    assert cache.lookup(("net-1", "normal"), [("h1", ("agent-b",))]) == [None]


def test_a_ttl_of_zero_keeps_nothing():
    cache = bindability_cache.BindabilityCache(0, clock=Clock())
    cache.store("scope", [("h1", b"one")], cache.now())

    assert not cache.enabled
    assert len(cache) == 0
    assert cache.lookup("scope", ["h1"]) == [None]


def test_past_the_limit_expired_answers_then_the_oldest_scopes_go_first():
    clock = Clock()
    cache = bindability_cache.BindabilityCache(5, limit=4, clock=clock)
    cache.store("old", [("h1", b"1"), ("h2", b"2")], clock.now - 10)  # expired already
    cache.store("older", [("h1", b"1"), ("h2", b"2")], clock.now)
    cache.store("newer", [("h1", b"1"), ("h2", b"2")], clock.now)
    assert len(cache) == 4
    assert cache.lookup("older", ["h1"]) == [b"1"]

    cache.store("newest", [("h1", b"1")], clock.now)

    assert len(cache) == 3
    assert cache.lookup("older", ["h1"]) == [None]
    assert cache.lookup("newer", ["h1"]) == [b"1"]
    assert cache.lookup("newest", ["h1"]) == [b"1"]


def test_a_ttl_must_not_be_negative():
    with pytest.raises(ValueError):
        bindability_cache.BindabilityCache(-1)


@pytest.mark.parametrize(
    ("code", "kept"),
    [
        (vocabulary.DRIVER_UNAVAILABLE, False),
        (vocabulary.DRIVER_ERROR, False),
        ("AGENT_DEAD", True),
        ("PHYSNET_NOT_MAPPED", True),
    ],
)
def test_an_answer_with_a_driver_that_did_not_answer_is_not_kept(code, kept):
    verdicts = (
        values.Verdict(0, "a", vocabulary.DECLINE, reasons=(values.DeclineReason("NO_AGENT", ""),)),
        values.Verdict(0, "b", vocabulary.DECLINE, reasons=(values.DeclineReason(code, "x"),)),
    )
    result = values.BindingResult(
        vocabulary.FAILED, vocabulary.VIF_TYPE_BINDING_FAILED, trace=verdicts
    )

    assert bindability_cache.cacheable(result) is kept


# ---------------------------------------------------------------------- the driver's state


def client(clock: Clock | None = None) -> driver_client.DriverClient:
    channel = grpc.insecure_channel("127.0.0.1:1")
    settings = driver_client.BreakerSettings(failures=1, cooldown=10)
    clock = clock or Clock()
    return driver_client.DriverClient(
        "ovs", "127.0.0.1:1", channel, 1.0, settings, clock=clock, wall=clock
    )


def test_every_breaker_transition_moves_the_drivers_state():
    clock = Clock()
    driver = client(clock)
    closed = driver.cache_state()

    driver.breaker.failed()
    opened = driver.cache_state()
    clock.now += 11
    assert driver.breaker.allow()
    half_open = driver.cache_state()
    driver.breaker.succeeded()
    closed_again = driver.cache_state()

    assert opened[3] == breaker.State.OPEN.value
    assert len({closed, opened, half_open, closed_again}) == 4


def test_a_changed_description_moves_the_drivers_state_and_the_same_one_does_not():
    driver = client()
    description = values.DriverDescription("ovs", vif_types=("ovs",))
    driver.described(description)
    first = driver.cache_state()

    driver.described(values.DriverDescription("ovs", vif_types=("ovs",)))
    assert driver.cache_state() == first
    driver.described(values.DriverDescription("ovs", vif_types=("vhostuser",)))
    assert driver.cache_state() != first


# ------------------------------------------------------------ the manager's checks and binds


def raw(
    host: str,
    *,
    caps: str = '{"bridge_mappings": {"physnet1": "br-eth1"}}',
    admin_state_up: bool = True,
    alive: bool = True,
    heartbeat: str = HEARTBEAT,
) -> agents.RawAgent:
    return (
        f"agent-{host}",
        "openvswitch",
        host,
        "ml2-agent",
        caps,
        admin_state_up,
        heartbeat,
        HEARTBEAT,
        alive,
        1,
    )


class Registry:
    """The agent rows of each host, as a check reads them, settable by the test."""

    down_time = 75.0

    def __init__(self, *hosts: str) -> None:
        self.rows: dict[str, tuple[agents.RawAgent, ...]] = {h: (raw(h),) for h in hosts}

    def raw_agents_by_host(self, hosts: Sequence[str]) -> dict[str, tuple[agents.RawAgent, ...]]:
        return {h: self.rows.get(h, ()) for h in hosts}

    def host_agents(self, host: str) -> tuple[values.Agent, ...]:
        return tuple(agents.agent_from_raw(r) for r in self.rows.get(host, ()))


class Driver:
    """A driver client as the manager uses it: a name, an address, a state, and answers from
    a function of the context, counting the hosts it was asked about."""

    def __init__(self, name: str, answer: fakes.Answer) -> None:
        self.name = name
        self.address = f"{name}:1"
        self.answer = answer
        self.generation = 0
        self.state = "closed"
        self.connectivity: str | None = None
        self.asked: list[str] = []

    def cache_state(self) -> tuple[str, str, int, str]:
        return (self.name, self.address, self.generation, self.state)

    def propose_many(self, contexts, *, deadline=None, agents=None) -> list[values.Proposal]:
        self.asked.extend(c.host for c in contexts)
        return [self.propose(c) for c in contexts]

    def propose(self, ctx, *, deadline=None, agents=None) -> values.Proposal:
        return self.answer(ctx) if callable(self.answer) else self.answer


def ovs_answer(vif_type: str = "ovs"):
    """Completes on a host whose alive, enabled agent maps physnet1; declines otherwise."""

    def answer(ctx: values.BindingContext) -> values.Proposal:
        for agent in ctx.host_agents:
            if not agent.alive:
                return fakes.decline("AGENT_DEAD", "dead")
            if not agent.admin_state_up:
                return fakes.decline("AGENT_DISABLED", "disabled")
            if "physnet1" in agent.capabilities.bridge_mappings:
                return values.Complete(ctx.segments_to_bind[0].id, vif_type)
        return fakes.decline("PHYSNET_NOT_MAPPED", "not mapped")

    return answer


class Setup:
    def __init__(self, *hosts: str, ttl: float = 5) -> None:
        self.clock = Clock()
        self.registry = Registry(*hosts)
        self.driver = Driver("openvswitch", ovs_answer())
        self.cache = bindability_cache.BindabilityCache(ttl, clock=self.clock)
        self.manager = manager.MechanismManager(
            [self.driver],  # type: ignore[list-item]
            self.registry,  # type: ignore[arg-type]
            segments=None,  # type: ignore[arg-type]
            cache=self.cache,
        )

    def check(
        self,
        *hosts: str,
        segment: values.Segment = VLAN,
        vnic: str = "normal",
        profile: dict | None = None,
    ) -> list[tuple[str, bool, str, str]]:
        requests = [
            res.BindingRequest(
                port_id="",
                network_id="net-1",
                host=h,
                segments=(segment,),
                vnic_type=vnic,
                profile=profile or {},
            )
            for h in hosts
        ]
        data = b"".join(self.manager.check(requests, servicer.encode_answers))
        reply = pb.ResolveBindabilityResponse.FromString(data)
        return [(h.host_id, h.bindable, h.vif_type, first_code(h)) for h in reply.hosts]

    def asked(self) -> list[str]:
        asked, self.driver.asked = self.driver.asked, []
        return asked


def first_code(answer: binding_pb2.HostBindability) -> str:
    reasons = [r.code for v in answer.trace for r in v.reasons]
    return reasons[0] if reasons else ""


def test_a_host_whose_inputs_are_unchanged_is_answered_without_asking_the_driver():
    s = Setup("h1", "h2")

    first = s.check("h1", "h2")
    assert s.asked() == ["h1", "h2"]
    again = s.check("h2", "h1", "h3")

    assert again == [first[1], first[0], ("h3", False, "", "PHYSNET_NOT_MAPPED")]
    assert s.asked() == ["h3"]
    assert first == [("h1", True, "ovs", ""), ("h2", True, "ovs", "")]


@pytest.mark.parametrize(
    "change",
    [
        {"alive": False},
        {"admin_state_up": False},
        {"caps": '{"bridge_mappings": {"physnet2": "br-eth2"}}'},
        {"heartbeat": "2026-03-01 12:00:30.000000"},
    ],
    ids=["dies", "disabled", "mappings", "heartbeat"],
)
def test_a_changed_agent_row_is_asked_about_again_at_once(change):
    s = Setup("h1", "h2")
    s.check("h1", "h2")
    s.asked()

    s.registry.rows["h1"] = (raw("h1", **change),)
    answers = s.check("h1", "h2")

    assert s.asked() == ["h1"]
    assert answers[1] == ("h2", True, "ovs", "")
    if "heartbeat" not in change:
        assert answers[0][1] is False


def test_an_agent_that_registers_on_a_host_is_asked_about_at_once():
    s = Setup("h1")
    assert s.check("h2") == [("h2", False, "", "PHYSNET_NOT_MAPPED")]
    s.asked()

    s.registry.rows["h2"] = (raw("h2"),)

    assert s.check("h2") == [("h2", True, "ovs", "")]
    assert s.asked() == ["h2"]


@pytest.mark.parametrize(
    "inputs",
    [{"segment": VXLAN}, {"vnic": "direct"}, {"profile": {"capabilities": ["switchdev"]}}],
    ids=["segments", "vnic", "profile"],
)
def test_other_segments_vnic_type_or_profile_ask_again(inputs):
    s = Setup("h1")
    s.check("h1")
    s.asked()

    s.check("h1", **inputs)
    assert s.asked() == ["h1"]
    s.check("h1", **inputs)
    assert s.asked() == []


def test_a_driver_whose_state_moved_is_asked_again():
    s = Setup("h1")
    s.check("h1")
    s.asked()

    s.driver.generation += 1  # a breaker transition or a new description
    s.check("h1")
    assert s.asked() == ["h1"]
    s.driver.state = "open"
    s.check("h1")
    assert s.asked() == ["h1"]


def test_the_ttl_bounds_how_long_a_drivers_changed_answer_goes_unseen():
    s = Setup("h1", ttl=5)
    s.check("h1")
    s.asked()
    s.driver.answer = ovs_answer("vhostuser")  # restarted with another configuration

    s.clock.now += 4.9
    assert s.check("h1") == [("h1", True, "ovs", "")]
    assert s.asked() == []
    s.clock.now += 0.1
    assert s.check("h1") == [("h1", True, "vhostuser", "")]
    assert s.asked() == ["h1"]


@pytest.mark.parametrize("code", [vocabulary.DRIVER_UNAVAILABLE, vocabulary.DRIVER_ERROR])
def test_an_answer_where_a_driver_did_not_answer_is_asked_again_next_time(code):
    s = Setup("h1")
    s.driver.answer = fakes.decline(code, "mechanism driver openvswitch is down")

    assert s.check("h1")[0][3] == code
    s.asked()
    s.driver.answer = ovs_answer()
    assert s.check("h1") == [("h1", True, "ovs", "")]
    assert s.asked() == ["h1"]


def test_with_a_ttl_of_zero_every_check_asks_the_driver():
    s = Setup("h1", ttl=0)
    s.check("h1")
    s.check("h1")

    assert s.asked() == ["h1", "h1"]


def test_a_bind_asks_the_driver_even_right_after_a_check():
    s = Setup("h1")
    s.check("h1")
    s.driver.answer = ovs_answer("vhostuser")
    request = res.BindingRequest(port_id="p1", network_id="net-1", host="h1", segments=(VLAN,))

    result = s.manager.resolve(request)

    assert result.vif_type == "vhostuser"
    assert s.check("h1") == [("h1", True, "ovs", "")]  # the check still has its kept answer


def test_the_encoded_answers_are_a_resolve_bindability_response():
    answers = res.resolve_bindabilities(
        [res.BindingRequest(port_id="", network_id="net-1", host="h1", segments=(VLAN,))],
        [fakes.FakeBatchDriver("ovs", fakes.complete_first())],
    )
    checked = manager.CheckResult(answers, {})

    data = b"".join(servicer.encode_answers(checked))

    expected = pb.ResolveBindabilityResponse(
        hosts=[servicer.bindability_to_proto(a) for a in answers]
    )
    assert pb.ResolveBindabilityResponse.FromString(data) == expected


def test_raw_rows_convert_with_their_liveness():
    agent = agents.agent_from_raw(raw("h1", alive=False, admin_state_up=False))

    assert (agent.id, agent.host, agent.alive, agent.admin_state_up) == (
        "agent-h1",
        "h1",
        False,
        False,
    )
    assert agent.capabilities.bridge_mappings == {"physnet1": "br-eth1"}
    assert agent.heartbeat_at == dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
