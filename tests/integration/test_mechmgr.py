"""mechmgr as a real process with real driver processes, on a SQLite file and on PostgreSQL.

Driver processes hold no state, so one set serves the whole module. One mechmgr per backend
(``shared``) serves the tests that need no settings of their own: each of them registers agents
on hosts of its own and reads the counters as the change it made. A test with settings of its
own, or that counts on an empty database, starts its own mechmgr on a fresh database.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc, binding_pb2, segment_pb2
from ml2.v1 import mechanism_manager_service_pb2 as mm
from ml2.v1 import mechanism_manager_service_pb2_grpc as mm_grpc

from services import launcher
from services.rpc import channels
from tests.integration import shared_b

AS = agent_service_pb2
VLAN = segment_pb2.Segment(
    id="seg-vlan",
    network_id="net-1",
    network_type="vlan",
    physical_network="physnet1",
    segmentation_id=101,
)
BOUND, FAILED = binding_pb2.BINDING_STATE_BOUND, binding_pb2.BINDING_STATE_FAILED


@pytest.fixture(scope="module")
def drivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The driver processes: name -> address."""
    log_dir = tmp_path_factory.mktemp("driver-logs")
    base = {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"}
    specs = {
        "openvswitch": ("services.drivers.openvswitch", {}),
        "linuxbridge": ("services.drivers.linuxbridge", {}),
        "single-call": ("tests.integration.single_call_driver", {}),
        "slow": (
            "services.drivers.noop",
            {"MECHDRIVER_NOOP_NAME": "slow", "MECHDRIVER_NOOP_DELAY_SECONDS": "5"},
        ),
        "routed": (
            "services.drivers.noop",
            {"MECHDRIVER_NOOP_NAME": "routed", "MECHDRIVER_NOOP_CONNECTIVITY": "l3"},
        ),
        "legacy": (
            "services.drivers.noop",
            {"MECHDRIVER_NOOP_NAME": "legacy", "MECHDRIVER_NOOP_CONNECTIVITY": "legacy"},
        ),
    }
    started = {
        name: launcher.start(name, module, {**base, **env}, log_dir=log_dir)
        for name, (module, env) in specs.items()
    }
    yield {name: p.address for name, p in started.items()}
    for process in started.values():
        assert process.stop() == 0, process.log_tail()


@dataclass
class Mechmgr:
    process: launcher.ServiceProcess
    agents: agent_service_pb2_grpc.AgentServiceStub
    manager: mm_grpc.MechanismManagerServiceStub

    def register(self, agent_type: str, host: str, **caps: object) -> agent_pb2.Agent:
        agent = agent_pb2.Agent(
            agent_type=agent_type,
            host=host,
            binary="ml2-agent",
            capabilities=agent_pb2.HostCapabilities(**caps),
        )
        reply = self.agents.RegisterAgent(AS.RegisterAgentRequest(agent=agent), timeout=10)
        return reply.agent

    def resolve(
        self, host: str, *segments: segment_pb2.Segment, timeout: float = 10
    ) -> mm.ResolveBindingResponse:
        request = mm.ResolveBindingRequest(
            port_id="port-1", network_id="net-1", host=host, segments=list(segments) or [VLAN]
        )
        return self.manager.ResolveBinding(request, timeout=timeout)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.process.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())

    def samples(self) -> dict[str, float]:
        """The samples of the metrics page, by ``name{labels}``."""
        return shared_b.scrape(self.process.metrics_port)


def launch(
    name: str,
    database_url: str,
    log_dir: Path,
    drivers: dict[str, str],
    driver_list: str = "openvswitch,linuxbridge",
    **overrides: str,
) -> tuple[Mechmgr, grpc.Channel]:
    entries = [f"{n}={drivers.get(n, n)}" if "=" not in n else n for n in driver_list.split(",")]
    env = {
        "MECHMGR_LISTEN": "127.0.0.1:0",
        "MECHMGR_METRICS_PORT": "0",
        "MECHMGR_DATABASE_URL": database_url,
        "MECHMGR_TYPEMGR_ADDRESS": "",
        "MECHMGR_MECHANISM_DRIVERS": ",".join(entries),
        **overrides,
    }
    process = launcher.start(name, "services.mechmgr", env, log_dir=log_dir)
    channel = channels.make_channel(process.address)
    mgr = Mechmgr(
        process,
        agent_service_pb2_grpc.AgentServiceStub(channel),
        mm_grpc.MechanismManagerServiceStub(channel),
    )
    return mgr, channel


@pytest.fixture
def start_mechmgr(
    database_url: str, log_dir: Path, drivers: dict[str, str]
) -> Iterator[Callable[..., Mechmgr]]:
    started: list[tuple[Mechmgr, grpc.Channel]] = []

    def start(driver_list: str = "openvswitch,linuxbridge", **overrides: str) -> Mechmgr:
        started.append(
            launch(
                f"mechmgr{len(started)}", database_url, log_dir, drivers, driver_list, **overrides
            )
        )
        return started[-1][0]

    yield start
    for mgr, channel in started:
        channel.close()
        assert mgr.process.stop() == 0, mgr.process.log_tail()


@pytest.fixture(scope="module", params=shared_b.BACKENDS)
def shared_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from shared_b.module_database(request, tmp_path_factory)


SHARED_SETTINGS = {
    # No agent of a test dies while the module's later tests run.
    "MECHMGR_AGENT_DOWN_TIME_SECONDS": "3600",
    # The cache keeps an answer for the whole module; every test checks hosts of its own.
    "MECHMGR_BINDABILITY_CACHE_SECONDS": "60",
}


@pytest.fixture(scope="module")
def shared(
    shared_database_url: str, drivers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mechmgr]:
    """The module's mechmgr (openvswitch, linuxbridge) for one backend."""
    log_dir = tmp_path_factory.mktemp("shared-logs")
    mgr, channel = launch(
        "mechmgr-shared", shared_database_url, log_dir, drivers, **SHARED_SETTINGS
    )
    yield mgr
    channel.close()
    assert mgr.process.stop() == 0, mgr.process.log_tail()


def failure(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def codes(verdict: binding_pb2.DriverVerdict) -> list[str]:
    return [r.code for r in verdict.reasons]


def test_ports_bind_through_the_agent_of_their_host(shared):
    mgr = shared
    before = mgr.samples()
    mgr.register(
        "openvswitch",
        "bind-ovs",
        bridge_mappings={"physnet1": "br-eth1"},
        integration_bridge="br-int",
    )
    mgr.register("linuxbridge", "bind-lb", interface_mappings={"physnet1": "eth1"})

    ovs = mgr.resolve("bind-ovs")
    bridge = mgr.resolve("bind-lb")
    bare = mgr.resolve("bind-bare")

    assert (ovs.state, ovs.vif_type) == (BOUND, "ovs")
    assert dict(ovs.vif_details) == {
        "port_filter": False,
        "ovs_hybrid_plug": False,
        "datapath_type": "system",
        "bridge_name": "br-int",
        "connectivity": "l2",
        "bound_drivers": {"0": "openvswitch"},
    }
    assert [(lvl.level, lvl.driver, lvl.segment.id) for lvl in ovs.levels] == [
        (0, "openvswitch", "seg-vlan")
    ]
    assert (bridge.state, bridge.vif_type, dict(bridge.vif_details)) == (
        BOUND,
        "bridge",
        {"port_filter": False, "connectivity": "l2", "bound_drivers": {"0": "linuxbridge"}},
    )
    assert [(v.driver, v.outcome) for v in bridge.trace] == [
        ("openvswitch", binding_pb2.OUTCOME_DECLINE),
        ("linuxbridge", binding_pb2.OUTCOME_COMPLETE),
    ]
    assert all(v.duration.ToNanoseconds() > 0 for v in bridge.trace)
    assert (bare.state, bare.vif_type, list(bare.levels)) == (FAILED, "binding_failed", [])
    assert [codes(v) for v in bare.trace] == [["NO_AGENT"], ["NO_AGENT"]]
    assert bare.failure_message == (
        "no mechanism driver could bind port port-1 on host bind-bare: "
        "openvswitch: NO_AGENT (no openvswitch agent on host bind-bare); "
        "linuxbridge: NO_AGENT (no linuxbridge agent on host bind-bare)"
    )

    made = shared_b.changes(before, mgr.samples())
    assert made['ml2_mechmgr_resolutions_total{state="bound",vif_type="ovs"}'] == 1.0
    assert made['ml2_mechmgr_resolutions_total{state="failed",vif_type="binding_failed"}'] == 1.0
    assert (
        made[
            'ml2_mechmgr_driver_verdicts_total{driver="openvswitch",outcome="DECLINE",'
            'reason="NO_AGENT"}'
        ]
        == 2.0
    )
    assert made['ml2_mechmgr_driver_call_seconds_count{driver="linuxbridge"}'] == 2.0
    assert made['ml2_mechmgr_binding_failures_total{reason="NO_AGENT"}'] == 1.0
    assert made['ml2_mechmgr_agents{agent_type="openvswitch",alive="true"}'] == 1.0


def test_declines_name_the_unmapped_physical_network_and_the_disabled_agent(shared):
    mgr = shared
    agent = mgr.register("openvswitch", "declines-1", bridge_mappings={"physnet2": "br-eth2"})

    unmapped = mgr.resolve("declines-1")
    (reason,) = unmapped.trace[0].reasons
    assert (unmapped.state, reason.code) == (FAILED, "PHYSNET_NOT_MAPPED")
    assert reason.details["physical_network"] == "physnet1"
    assert reason.details["mappings"] == "physnet2:br-eth2"
    assert reason.details["mapping_option"] == "bridge_mappings"
    # The trace carries the facts in full: the agent as mechmgr saw it, the wanted segment and
    # the segments the driver was offered.
    assert (reason.agent.id, reason.agent.host, reason.agent.alive) == (
        agent.id,
        "declines-1",
        True,
    )
    assert dict(reason.agent.capabilities.bridge_mappings) == {"physnet2": "br-eth2"}
    assert reason.agent.heartbeat_time == agent.heartbeat_time
    assert (reason.segment.id, reason.segment.physical_network) == ("seg-vlan", "physnet1")
    assert [s.id for s in unmapped.trace[0].offered_segments] == ["seg-vlan"]

    mgr.register("openvswitch", "declines-2", bridge_mappings={"physnet1": "br-eth1"})
    update = AS.UpdateAgentRequest(
        agent=agent_pb2.Agent(id=agent.id, admin_state_up=False),
        update_mask=field_mask_pb2.FieldMask(paths=["admin_state_up"]),
    )
    assert mgr.agents.UpdateAgent(update, timeout=10).agent.admin_state_up is False
    down = mgr.resolve("declines-1")
    assert codes(down.trace[0]) == ["AGENT_ADMIN_DOWN"]
    assert mgr.resolve("declines-2").state == BOUND


def test_agents_register_keep_alive_and_are_listed_fetched_and_deleted(shared):
    mgr = shared
    first = mgr.register("openvswitch", "listed-1", bridge_mappings={"physnet1": "br-eth1"})
    again = mgr.register("openvswitch", "listed-1", bridge_mappings={"physnet1": "br-ex"})
    other = mgr.register("linuxbridge", "listed-0", interface_mappings={"physnet1": "eth1"})

    assert again.id == first.id
    assert again.capabilities.bridge_mappings == {"physnet1": "br-ex"}
    assert first.alive and first.admin_state_up

    beat = mgr.agents.HeartbeatAgent(AS.HeartbeatAgentRequest(agent_id=first.id), timeout=10).agent
    assert beat.heartbeat_time.ToNanoseconds() > first.heartbeat_time.ToNanoseconds()
    assert beat.create_time == first.create_time

    # Pages of one agent walk every agent once, in host order, up to a last page without a
    # token (the module's other tests registered agents too).
    everyone = mgr.agents.ListAgents(AS.ListAgentsRequest(), timeout=10).agents
    paged, token = [], None
    while token != "":
        page = mgr.agents.ListAgents(
            AS.ListAgentsRequest(page_size=1, page_token=token or ""), timeout=10
        )
        assert len(page.agents) == 1
        paged += list(page.agents)
        token = page.next_page_token
    assert [a.id for a in paged] == [a.id for a in everyone]
    order = [(a.host, a.agent_type) for a in paged]
    assert order == sorted(order)
    assert [a.id for a in paged if a.host.startswith("listed-")] == [other.id, first.id]
    only_ovs = mgr.agents.ListAgents(AS.ListAgentsRequest(agent_type="openvswitch"), timeout=10)
    assert {a.agent_type for a in only_ovs.agents} == {"openvswitch"}
    assert first.id in [a.id for a in only_ovs.agents]
    assert other.id not in [a.id for a in only_ovs.agents]

    assert (
        mgr.agents.GetAgent(AS.GetAgentRequest(agent_id=other.id), timeout=10).agent.host
        == "listed-0"
    )
    mgr.agents.DeleteAgent(AS.DeleteAgentRequest(agent_id=other.id), timeout=10)
    gone = failure(lambda: mgr.agents.GetAgent(AS.GetAgentRequest(agent_id=other.id), timeout=10))
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    assert other.id in gone.details()

    unknown = failure(
        lambda: mgr.agents.HeartbeatAgent(AS.HeartbeatAgentRequest(agent_id="nope"), timeout=10)
    )
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(unknown).reason == "AGENT_NOT_FOUND"


T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], seconds: float = 30.0) -> T:
    """Polls ``condition`` until it returns something other than None, and returns that."""
    deadline = time.monotonic() + seconds
    while (value := condition()) is None:
        assert time.monotonic() < deadline, f"not within {seconds}s"
        time.sleep(0.05)
    return value


def test_a_list_token_continues_only_the_listing_it_came_from(shared):
    """A ListAgents token is bound to its filters: with another filter it is refused rather
    than silently continuing another listing; pages of a type's listing walk it in host order."""
    mgr = shared
    mine = ("token-1", "token-2", "token-3")
    for host in mine:
        mgr.register("openvswitch", host, bridge_mappings={"physnet1": "br-eth1"})
        mgr.register("linuxbridge", host, interface_mappings={"physnet1": "eth1"})
    first = mgr.agents.ListAgents(
        AS.ListAgentsRequest(agent_type="openvswitch", page_size=1), timeout=10
    )
    assert len(first.agents) == 1 and first.next_page_token
    for other in (
        AS.ListAgentsRequest(agent_type="linuxbridge", page_token=first.next_page_token),
        AS.ListAgentsRequest(page_token=first.next_page_token),
        AS.ListAgentsRequest(
            agent_type="openvswitch", host="token-2", page_token=first.next_page_token
        ),
    ):
        err = failure(lambda o=other: mgr.agents.ListAgents(o, timeout=10))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == (
            "page_token: was issued for a request with other filters; keep the filters fixed"
        )
    hosts, token = [a.host for a in first.agents], first.next_page_token
    while token:
        page = mgr.agents.ListAgents(
            AS.ListAgentsRequest(agent_type="openvswitch", page_size=1, page_token=token),
            timeout=10,
        )
        hosts += [a.host for a in page.agents]
        token = page.next_page_token
    # Every openvswitch agent once, in host order: the module's other tests registered some.
    everyone = mgr.agents.ListAgents(AS.ListAgentsRequest(agent_type="openvswitch"), timeout=10)
    assert hosts == sorted(a.host for a in everyone.agents)
    assert [h for h in hosts if h in mine] == list(mine)


def test_an_agent_without_heartbeats_dies_after_the_down_time_and_revives_with_one(start_mechmgr):
    mgr = start_mechmgr(MECHMGR_AGENT_DOWN_TIME_SECONDS="2", MECHMGR_HEARTBEAT_INTERVAL_SECONDS="1")
    registered = time.monotonic()
    reply = mgr.agents.RegisterAgent(
        AS.RegisterAgentRequest(
            agent=agent_pb2.Agent(
                agent_type="linuxbridge",
                host="compute-lb",
                capabilities=agent_pb2.HostCapabilities(interface_mappings={"physnet1": "eth1"}),
            )
        ),
        timeout=10,
    )
    assert (reply.heartbeat_interval_seconds, reply.agent_down_time_seconds) == (1, 2)
    agent_id = reply.agent.id
    assert mgr.resolve("compute-lb").vif_type == "bridge"

    dead = wait_until(
        lambda: found if (found := mgr.resolve("compute-lb")).state == FAILED else None
    )
    # Not before its down time (mechmgr stored the registration after `registered`).
    assert time.monotonic() - registered >= 2.0
    assert dead.state == FAILED
    (reason,) = dead.trace[1].reasons
    assert reason.code == "AGENT_DEAD"
    assert agent_id in reason.message
    assert reason.details["agent_id"] == agent_id
    assert reason.details["agent_down_time_seconds"] == "2"
    assert reason.details["last_heartbeat"].endswith("Z")
    assert (
        f"AGENT_DEAD (linuxbridge agent {agent_id} on host compute-lb is dead"
        in dead.failure_message
    )
    listed = mgr.agents.ListAgents(AS.ListAgentsRequest(host="compute-lb"), timeout=10).agents
    assert [a.alive for a in listed] == [False]
    assert 'ml2_mechmgr_agents{agent_type="linuxbridge",alive="false"} 1.0' in mgr.metrics()

    mgr.agents.HeartbeatAgent(AS.HeartbeatAgentRequest(agent_id=agent_id), timeout=10)
    assert mgr.resolve("compute-lb").vif_type == "bridge"


def test_an_unreachable_driver_is_a_decline_and_the_next_driver_binds(start_mechmgr):
    ghost = f"127.0.0.1:{closed_port()}"
    mgr = start_mechmgr(driver_list=f"ghost={ghost},openvswitch")
    mgr.register("openvswitch", "compute-1", bridge_mappings={"physnet1": "br-eth1"})

    started = time.monotonic()
    reply = mgr.resolve("compute-1")

    assert time.monotonic() - started < 5
    assert (reply.state, reply.vif_type) == (BOUND, "ovs")
    assert codes(reply.trace[0]) == ["DRIVER_UNAVAILABLE"]
    assert ghost in reply.trace[0].reasons[0].message

    drivers = mgr.manager.ListMechanismDrivers(mm.ListMechanismDriversRequest(), timeout=10).drivers
    assert [(d.name, d.reachable) for d in drivers] == [("ghost", False), ("openvswitch", True)]
    assert drivers[0].error
    assert list(drivers[1].vif_types) == ["ovs", "vhostuser"]


def test_a_slow_driver_is_a_decline_within_the_deadline(start_mechmgr):
    mgr = start_mechmgr(driver_list="slow,openvswitch", MECHMGR_DRIVER_TIMEOUT_SECONDS="0.3")
    mgr.register("openvswitch", "compute-1", bridge_mappings={"physnet1": "br-eth1"})

    started = time.monotonic()
    reply = mgr.resolve("compute-1")

    assert time.monotonic() - started < 4  # the slow driver takes 5 s
    assert (reply.state, reply.vif_type) == (BOUND, "ovs")
    (reason,) = reply.trace[0].reasons
    assert (reply.trace[0].driver, reason.code) == ("slow", "DRIVER_UNAVAILABLE")
    assert "no answer within 0.3s" in reason.message


def test_the_callers_deadline_bounds_the_calls_to_drivers(start_mechmgr):
    mgr = start_mechmgr(driver_list="slow,openvswitch", MECHMGR_DRIVER_TIMEOUT_SECONDS="3")

    try:
        reply = mgr.resolve("compute-1", timeout=0.5)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    else:
        # mechmgr's answer overtook the deadline by a hair (a loaded machine): it gave the slow
        # driver only what was left of the caller's 0.5 s, and asked nobody after it.
        (reason,) = reply.trace[0].reasons
        assert (reply.trace[0].driver, reason.code) == ("slow", "DRIVER_UNAVAILABLE")
        assert "openvswitch: DRIVER_UNAVAILABLE" in reply.failure_message
        assert "the caller's deadline has passed" in reply.failure_message
    # The call to the slow driver was cut at the caller's 0.5 s, not at the driver timeout (3 s).
    count = 'ml2_mechmgr_driver_call_seconds_count{driver="slow"} 1.0'
    text = wait_until(lambda: found if count in (found := mgr.metrics()) else None)
    assert 'ml2_mechmgr_driver_call_seconds_bucket{driver="slow",le="1.0"} 1.0' in text


BAD_INPUT: list[tuple[str, Callable[[Mechmgr], object]]] = [
    (
        "host",
        lambda m: m.manager.ResolveBinding(
            mm.ResolveBindingRequest(port_id="p", network_id="n"), timeout=10
        ),
    ),
    (
        "segments[0].segmentation_id",
        lambda m: m.resolve(
            "compute-1",
            segment_pb2.Segment(
                id="s", network_type="vlan", physical_network="physnet1", segmentation_id=4095
            ),
        ),
    ),
    (
        "agent.capabilities.local_ip",
        lambda m: m.register(
            "openvswitch", "compute-1", tunnel_types=["vxlan"], local_ip="10.0.0.300"
        ),
    ),
    ("agent.agent_type", lambda m: m.register("Open vSwitch agent", "compute-1")),
    ("agent.host", lambda m: m.register("openvswitch", "compute 1")),
    ("agent_id", lambda m: m.agents.HeartbeatAgent(AS.HeartbeatAgentRequest(), timeout=10)),
    (
        "page_token",
        lambda m: m.agents.ListAgents(AS.ListAgentsRequest(page_token="junk"), timeout=10),
    ),
    (
        "update_mask",
        lambda m: m.agents.UpdateAgent(
            AS.UpdateAgentRequest(
                agent=agent_pb2.Agent(id="x"), update_mask=field_mask_pb2.FieldMask(paths=["host"])
            ),
            timeout=10,
        ),
    ),
]


def test_bad_input_is_invalid_argument_naming_the_field_and_changes_nothing(shared):
    mgr = shared
    agents_before = mgr.agents.ListAgents(AS.ListAgentsRequest(), timeout=10)

    for field, call in BAD_INPUT:
        err = failure(lambda call=call: call(mgr))

        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert err.details().startswith(f"{field}: "), err.details()
        assert error_info(err).metadata["field"] == field
    assert mgr.agents.ListAgents(AS.ListAgentsRequest(), timeout=10) == agents_before


def check(mgr: Mechmgr, *hosts: str, timeout: float = 10) -> mm.ResolveBindabilityResponse:
    request = mm.ResolveBindabilityRequest(network_id="net-1", hosts=hosts, segments=[VLAN])
    return mgr.manager.ResolveBindability(request, timeout=timeout)


def verdicts(trace) -> list[tuple[int, str, int, list[str]]]:
    return [(v.level, v.driver, v.outcome, codes(v)) for v in trace]


def register_mix(mgr: Mechmgr, prefix: str = "compute") -> tuple[str, ...]:
    """Registers the agents of the mixed hosts named ``prefix``-...; returns the hosts."""
    mgr.register("openvswitch", f"{prefix}-ovs", bridge_mappings={"physnet1": "br-eth1"})
    mgr.register("linuxbridge", f"{prefix}-lb", interface_mappings={"physnet1": "eth1"})
    mgr.register("openvswitch", f"{prefix}-unmapped", bridge_mappings={"physnet2": "br-eth2"})
    return mixed_hosts(prefix)


def mixed_hosts(prefix: str = "compute") -> tuple[str, ...]:
    return tuple(f"{prefix}-{h}" for h in ("unmapped", "ovs", "bare", "lb"))


MIXED_HOSTS = mixed_hosts()


def test_resolve_bindability_answers_each_host_as_resolving_a_port_there_does(shared):
    mgr = shared
    before = mgr.samples()
    hosts = register_mix(mgr, "answers")
    agents_before = mgr.agents.ListAgents(AS.ListAgentsRequest(), timeout=10)

    reply = check(mgr, *hosts)

    assert [h.host_id for h in reply.hosts] == list(hosts)
    assert [(h.bindable, h.vif_type) for h in reply.hosts] == [
        (False, ""),
        (True, "ovs"),
        (False, ""),
        (True, "bridge"),
    ]
    for answer in reply.hosts:
        port = mgr.resolve(answer.host_id)
        assert answer.bindable == (port.state == BOUND)
        assert verdicts(answer.trace) == verdicts(port.trace)
        assert [(lvl.driver, lvl.segment.id) for lvl in answer.levels] == [
            (lvl.driver, lvl.segment.id) for lvl in port.levels
        ]
        if answer.bindable:
            assert (answer.vif_type, answer.reason) == (port.vif_type, "")
        else:
            assert answer.reason == port.failure_message.replace("port port-1 ", "")
    assert codes(reply.hosts[0].trace[0]) == ["PHYSNET_NOT_MAPPED"]
    assert reply.hosts[0].trace[0].reasons[0].agent.host == "answers-unmapped"
    assert mgr.agents.ListAgents(AS.ListAgentsRequest(), timeout=10) == agents_before
    made = shared_b.changes(before, mgr.samples())
    # One batch per driver and level: openvswitch for the four hosts, linuxbridge for the three
    # it declined; then one call per driver for each of the four ports resolved.
    assert made['ml2_mechmgr_driver_call_seconds_count{driver="openvswitch"}'] == 5.0
    assert made['ml2_mechmgr_driver_call_seconds_count{driver="linuxbridge"}'] == 4.0


def test_a_driver_without_propose_bindings_is_asked_one_host_at_a_time(start_mechmgr, drivers):
    # The cache off: the second check asks the drivers again.
    mgr = start_mechmgr(
        driver_list=f"openvswitch={drivers['single-call']},linuxbridge",
        MECHMGR_BINDABILITY_CACHE_SECONDS="0",
    )
    register_mix(mgr)

    first = check(mgr, *MIXED_HOSTS)
    second = check(mgr, *MIXED_HOSTS)

    for reply in (first, second):
        assert [(h.host_id, h.bindable, h.vif_type) for h in reply.hosts] == [
            ("compute-unmapped", False, ""),
            ("compute-ovs", True, "ovs"),
            ("compute-bare", False, ""),
            ("compute-lb", True, "bridge"),
        ]
        assert codes(reply.hosts[0].trace[0]) == ["PHYSNET_NOT_MAPPED"]
    text = mgr.metrics()
    # The first check: one refused batch and four single calls; the second: four single calls.
    assert 'ml2_mechmgr_driver_call_seconds_count{driver="openvswitch"} 9.0' in text
    log = mgr.process.log_path.read_text()
    assert log.count("does not serve ProposeBindings") == 1


def test_an_unreachable_driver_declines_every_host_and_the_next_driver_is_asked(start_mechmgr):
    ghost = f"127.0.0.1:{closed_port()}"
    mgr = start_mechmgr(driver_list=f"openvswitch={ghost},linuxbridge")
    register_mix(mgr)

    reply = check(mgr, *MIXED_HOSTS)

    assert [h.bindable for h in reply.hosts] == [False, False, False, True]
    for answer in reply.hosts:
        assert codes(answer.trace[0]) == ["DRIVER_UNAVAILABLE"]
        assert ghost in answer.trace[0].reasons[0].message


BAD_CHECKS: list[tuple[str, dict[str, object]]] = [
    ("network_id", {"network_id": ""}),
    ("hosts", {"hosts": []}),
    ("hosts", {"hosts": [f"h{i}" for i in range(5001)]}),
    ("hosts[1]", {"hosts": ["compute-1", "bad host"]}),
    ("hosts[2]", {"hosts": ["a", "b", "a"]}),
    ("vnic_type", {"vnic_type": 99}),
    ("segments", {"segments": []}),
    (
        "segments[0].physical_network",
        {"segments": [segment_pb2.Segment(id="s", network_type="vlan", segmentation_id=5)]},
    ),
]


def test_bad_bindability_checks_are_invalid_argument_naming_the_field(shared):
    mgr = shared

    for field, overrides in BAD_CHECKS:
        fields: dict[str, object] = {
            "network_id": "net-1",
            "hosts": ["compute-1"],
            "segments": [VLAN],
            **overrides,
        }
        request = mm.ResolveBindabilityRequest(**fields)  # type: ignore[arg-type]
        err = failure(lambda request=request: mgr.manager.ResolveBindability(request, timeout=10))

        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert err.details().startswith(f"{field}: "), err.details()
        assert error_info(err).metadata["field"] == field


# ------------------------------------------------------------- the cache of bindability checks


def answers(reply: mm.ResolveBindabilityResponse) -> list[tuple[str, bool, str, str]]:
    """(host, bindable, vif_type, first decline code) of each answer."""
    return [
        (h.host_id, h.bindable, h.vif_type, next((c for v in h.trace for c in codes(v)), ""))
        for h in reply.hosts
    ]


@pytest.fixture
def start_noop(log_dir: Path) -> Iterator[Callable[[str], launcher.ServiceProcess]]:
    """Starts the noop driver on one fixed port, binding with the vif type given: stopping one
    and starting another plays a driver restarted with another configuration."""
    port = closed_port()
    running: list[launcher.ServiceProcess] = []

    def start(vif_type: str) -> launcher.ServiceProcess:
        while running:
            assert running.pop().stop() == 0
        env = {
            "MECHDRIVER_LISTEN": f"127.0.0.1:{port}",
            "MECHDRIVER_METRICS_PORT": "0",
            "MECHDRIVER_NOOP_VIF_TYPE": vif_type,
        }
        running.append(
            launcher.start(f"noop-{vif_type}", "services.drivers.noop", env, log_dir=log_dir)
        )
        return running[-1]

    yield start
    for process in running:
        assert process.stop() == 0, process.log_tail()


def test_a_check_answers_again_without_asking_the_drivers_and_counts_hits(shared):
    # The shared mechmgr keeps answers for 60 s (SHARED_SETTINGS).
    mgr = shared
    hosts = register_mix(mgr, "kept")
    before = mgr.samples()

    first = check(mgr, *hosts)
    second = check(mgr, *hosts)

    assert second == first
    made = shared_b.changes(before, mgr.samples())
    # The first check asked openvswitch about the four hosts and linuxbridge about three; the
    # second asked nobody.
    assert made['ml2_mechmgr_driver_call_seconds_count{driver="openvswitch"}'] == 1.0
    assert made['ml2_mechmgr_driver_call_seconds_count{driver="linuxbridge"}'] == 1.0
    assert made['ml2_mechmgr_bindability_cache_total{result="miss"}'] == 4.0
    assert made['ml2_mechmgr_bindability_cache_total{result="hit"}'] == 4.0


def test_a_changed_agent_changes_the_next_check_at_once(start_mechmgr):
    """Re-registered with other mappings, disabled, deleted or dead: the next check says so,
    however long answers are kept."""
    mgr = start_mechmgr(
        MECHMGR_BINDABILITY_CACHE_SECONDS="600",
        MECHMGR_AGENT_DOWN_TIME_SECONDS="6",
        MECHMGR_HEARTBEAT_INTERVAL_SECONDS="3",
    )
    hosts = ("c-remapped", "c-disabled", "c-deleted", "c-dies", "c-same")
    ids = {
        h: mgr.register("openvswitch", h, bridge_mappings={"physnet1": "br-eth1"}).id for h in hosts
    }
    assert [a[1] for a in answers(check(mgr, *hosts))] == [True] * 5
    # Every agent but the one that dies keeps heartbeating from here on.
    beating = [h for h in hosts if h != "c-dies"]

    def beat() -> None:
        for h in beating:
            mgr.agents.HeartbeatAgent(AS.HeartbeatAgentRequest(agent_id=ids[h]), timeout=10)

    mgr.register("openvswitch", "c-remapped", bridge_mappings={"physnet2": "br-eth2"})
    mgr.agents.UpdateAgent(
        AS.UpdateAgentRequest(agent=agent_pb2.Agent(id=ids["c-disabled"], admin_state_up=False)),
        timeout=10,
    )
    mgr.agents.DeleteAgent(AS.DeleteAgentRequest(agent_id=ids["c-deleted"]), timeout=10)
    beating.remove("c-deleted")
    beat()

    changed = answers(check(mgr, *hosts))
    assert [(h, ok, code) for h, ok, _, code in changed[:3]] == [
        ("c-remapped", False, "PHYSNET_NOT_MAPPED"),
        ("c-disabled", False, "AGENT_ADMIN_DOWN"),
        ("c-deleted", False, "NO_AGENT"),
    ]
    assert changed[4][1]

    def died() -> bool | None:
        beat()
        listed = mgr.agents.ListAgents(AS.ListAgentsRequest(host="c-dies"), timeout=10).agents
        return True if not listed[0].alive else None

    wait_until(died)
    beat()
    assert answers(check(mgr, "c-dies", "c-same")) == [
        ("c-dies", False, "", "AGENT_DEAD"),
        ("c-same", True, "ovs", ""),
    ]


def noop_check(mgr: Mechmgr) -> str:
    """The vif type a check gives on host c-1 (empty when not bindable)."""
    (answer,) = check(mgr, "c-1").hosts
    return answer.vif_type


def test_a_bind_always_asks_the_driver_while_a_check_gives_its_kept_answer(
    start_mechmgr, start_noop
):
    driver = start_noop("first")
    mgr = start_mechmgr(
        driver_list=f"noop={driver.address}",
        MECHMGR_BINDABILITY_CACHE_SECONDS="600",
        MECHMGR_DRIVER_BREAKER_FAILURES="1000",
    )
    assert noop_check(mgr) == "first"
    assert mgr.resolve("c-1").vif_type == "first"

    start_noop("second")  # restarted with another configuration, on the same address

    bound = wait_until(lambda: found if (found := mgr.resolve("c-1")).state == BOUND else None)
    assert bound.vif_type == "second"
    assert noop_check(mgr) == "first"  # kept: nothing mechmgr sees has changed
    assert mgr.resolve("c-1").vif_type == "second"


def test_the_ttl_bounds_how_long_a_check_misses_a_drivers_new_configuration(
    start_mechmgr, start_noop
):
    ttl = 10.0
    driver = start_noop("first")
    mgr = start_mechmgr(
        driver_list=f"noop={driver.address}",
        MECHMGR_BINDABILITY_CACHE_SECONDS=f"{ttl:g}",
        MECHMGR_DRIVER_BREAKER_FAILURES="1000",
    )
    asked = time.monotonic()
    assert noop_check(mgr) == "first"

    start_noop("second")
    seen: list[tuple[float, str]] = []

    def changed() -> float | None:
        vif_type = noop_check(mgr)
        seen.append((time.monotonic(), vif_type))
        return seen[-1][0] if vif_type == "second" else None

    at = wait_until(changed, seconds=ttl + 30)
    # Until the TTL from when mechmgr asked the driver (after ``asked``), the kept answer; the
    # new one only after it.
    within = [v for t, v in seen if t < asked + ttl]
    assert within and set(within) == {"first"}, seen
    assert at >= asked + ttl


def test_a_changed_driver_description_drops_the_kept_answers(start_mechmgr, start_noop):
    driver = start_noop("first")
    mgr = start_mechmgr(
        driver_list=f"noop={driver.address}",
        MECHMGR_BINDABILITY_CACHE_SECONDS="600",
        MECHMGR_DRIVER_BREAKER_FAILURES="1000",
    )
    assert noop_check(mgr) == "first"
    start_noop("second")

    def described() -> bool | None:
        (info,) = mgr.manager.ListMechanismDrivers(
            mm.ListMechanismDriversRequest(), timeout=10
        ).drivers
        return True if list(info.vif_types) == ["second"] else None

    wait_until(described)
    assert noop_check(mgr) == "second"


def test_a_check_while_a_driver_is_down_is_not_kept(start_mechmgr, start_noop):
    driver = start_noop("first")
    mgr = start_mechmgr(
        driver_list=f"noop={driver.address}",
        MECHMGR_BINDABILITY_CACHE_SECONDS="600",
        MECHMGR_DRIVER_BREAKER_FAILURES="1000",
    )
    driver.stop()

    (down,) = check(mgr, "c-1").hosts
    assert codes(down.trace[0]) == ["DRIVER_UNAVAILABLE"]
    start_noop("first")

    assert wait_until(lambda: vif if (vif := noop_check(mgr)) else None) == "first"


def test_a_driver_without_l2_connectivity_is_not_asked_and_the_next_driver_binds(start_mechmgr):
    mgr = start_mechmgr(driver_list="routed,openvswitch")
    mgr.register("openvswitch", "compute-ovs", bridge_mappings={"physnet1": "br-eth1"})

    reply = mgr.resolve("compute-ovs")

    assert (reply.state, reply.vif_type) == (BOUND, "ovs")
    assert verdicts(reply.trace) == [
        (0, "routed", binding_pb2.OUTCOME_DECLINE, ["L2_CONNECTIVITY_REQUIRED"]),
        (0, "openvswitch", binding_pb2.OUTCOME_COMPLETE, []),
    ]
    [reason] = reply.trace[0].reasons
    assert dict(reason.details) == {"connectivity": "l3"}
    assert reply.trace[0].duration.ToNanoseconds() == 0  # never called
    assert dict(reply.vif_details)["bound_drivers"] == {"0": "openvswitch"}


def test_with_no_l2_driver_the_binding_fails_with_the_connectivity_reason(start_mechmgr):
    mgr = start_mechmgr(driver_list="routed,legacy")

    reply = mgr.resolve("compute-any")
    bindability = check(mgr, "compute-any")

    assert (reply.state, reply.vif_type) == (FAILED, "binding_failed")
    assert [codes(v) for v in reply.trace] == [
        ["L2_CONNECTIVITY_REQUIRED"],
        ["L2_CONNECTIVITY_REQUIRED"],
    ]
    assert "routed: L2_CONNECTIVITY_REQUIRED (routed provides l3 connectivity" in (
        reply.failure_message
    )
    assert "legacy: L2_CONNECTIVITY_REQUIRED (legacy provides legacy connectivity" in (
        reply.failure_message
    )
    [answer] = bindability.hosts
    assert not answer.bindable
    assert "L2_CONNECTIVITY_REQUIRED" in answer.reason
    text = mgr.metrics()
    assert 'ml2_mechmgr_binding_failures_total{reason="L2_CONNECTIVITY_REQUIRED"} 1.0' in text
