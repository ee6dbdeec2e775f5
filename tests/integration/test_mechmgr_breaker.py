"""A mechanism driver process that dies, as real processes: killed with SIGKILL between binds
and in the middle of a ProposeBinding call, then started again on the same address.

A dead driver costs one DRIVER_UNAVAILABLE decline per bind and the next driver binds; after
MECHMGR_DRIVER_BREAKER_FAILURES of them its breaker opens and binds stop calling it; after the
cooldown one bind tries it again and, the driver back, closes the breaker.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc, binding_pb2, segment_pb2
from ml2.v1 import mechanism_manager_service_pb2 as mm
from ml2.v1 import mechanism_manager_service_pb2_grpc as mm_grpc

from services import launcher
from services.rpc import channels

T = TypeVar("T")
VLAN = segment_pb2.Segment(
    id="seg-vlan",
    network_id="net-1",
    network_type="vlan",
    physical_network="physnet1",
    segmentation_id=101,
)
BOUND = binding_pb2.BINDING_STATE_BOUND
DRIVER_ENV = {"MECHDRIVER_METRICS_PORT": "0"}


@dataclass
class Lab:
    """Driver processes and one mechmgr in front of them."""

    log_dir: Path
    database_url: str
    drivers: dict[str, launcher.ServiceProcess] = field(default_factory=dict)
    mechmgr: launcher.ServiceProcess | None = None
    channel: grpc.Channel | None = None

    def start_driver(self, name: str, module: str, env: dict[str, str], port: int = 0) -> str:
        """Starts a driver process (on ``port``, or a free one) and returns its address."""
        env = {**DRIVER_ENV, **env, "MECHDRIVER_LISTEN": f"127.0.0.1:{port}"}
        self.drivers[name] = launcher.start(name, module, env, log_dir=self.log_dir)
        return self.drivers[name].address

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to close its connections."""
        process = self.drivers[name].process
        process.kill()
        process.wait()

    def restart(self, name: str) -> None:
        """Starts a killed driver again, with its environment, on the same address."""
        old = self.drivers[name]
        self.start_driver(name, old.module, dict(old.env), port=old.grpc_port)

    def start_mechmgr(self, drivers: str, **env: str) -> mm_grpc.MechanismManagerServiceStub:
        full = {
            "MECHMGR_LISTEN": "127.0.0.1:0",
            "MECHMGR_METRICS_PORT": "0",
            "MECHMGR_DATABASE_URL": self.database_url,
            "MECHMGR_TYPEMGR_ADDRESS": "",
            "MECHMGR_MECHANISM_DRIVERS": drivers,
            **env,
        }
        self.mechmgr = launcher.start("mechmgr", "services.mechmgr", full, log_dir=self.log_dir)
        self.channel = channels.make_channel(self.mechmgr.address)
        agents = agent_service_pb2_grpc.AgentServiceStub(self.channel)
        agent = agent_pb2.Agent(
            agent_type="openvswitch",
            host="compute-1",
            binary="ml2-agent",
            capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
        )
        agents.RegisterAgent(agent_service_pb2.RegisterAgentRequest(agent=agent), timeout=10)
        return mm_grpc.MechanismManagerServiceStub(self.channel)

    def metrics(self) -> str:
        assert self.mechmgr is not None
        url = f"http://127.0.0.1:{self.mechmgr.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())

    def sample(self, name: str, **labels: str) -> float | None:
        """One sample of mechmgr's metrics, or None if it is not exported."""
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in self.metrics().splitlines():
            metric, _, value = line.rpartition(" ")
            if metric == f"{name}{{{wanted}}}":
                return float(value)
        return None


@pytest.fixture
def lab(sqlite_url: str, log_dir: Path) -> Iterator[Lab]:
    lab = Lab(log_dir, sqlite_url)
    yield lab
    if lab.channel is not None:
        lab.channel.close()
    if lab.mechmgr is not None:
        assert lab.mechmgr.stop() == 0, lab.mechmgr.log_tail()
    for process in lab.drivers.values():
        process.stop()


def resolve(
    manager: mm_grpc.MechanismManagerServiceStub, port_id: str
) -> mm.ResolveBindingResponse:
    request = mm.ResolveBindingRequest(
        port_id=port_id, network_id="net-1", host="compute-1", segments=[VLAN]
    )
    return manager.ResolveBinding(request, timeout=20)


def driver_info(manager: mm_grpc.MechanismManagerServiceStub, name: str) -> mm.MechanismDriverInfo:
    reply = manager.ListMechanismDrivers(mm.ListMechanismDriversRequest(), timeout=10)
    return next(d for d in reply.drivers if d.name == name)


def codes(verdict: binding_pb2.DriverVerdict) -> list[str]:
    return [r.code for r in verdict.reasons]


def wait_until(condition: Callable[[], T | None], seconds: float = 20.0) -> T:
    """Polls ``condition`` until it returns something other than None, and returns that."""
    deadline = time.monotonic() + seconds
    while (value := condition()) is None:
        assert time.monotonic() < deadline, f"not within {seconds}s"
        time.sleep(0.05)
    return value


def test_a_killed_driver_declines_then_its_breaker_opens_and_closes_once_it_is_back(lab):
    flaky = lab.start_driver("flaky", "services.drivers.noop", {"MECHDRIVER_NOOP_NAME": "flaky"})
    ovs = lab.start_driver("openvswitch", "services.drivers.openvswitch", {})
    manager = lab.start_mechmgr(
        f"flaky={flaky},openvswitch={ovs}",
        MECHMGR_DRIVER_BREAKER_FAILURES="3",
        MECHMGR_DRIVER_BREAKER_COOLDOWN_SECONDS="1.5",
        MECHMGR_DRIVER_TIMEOUT_SECONDS="5",
    )
    calls = "ml2_mechmgr_driver_call_seconds_count"
    assert resolve(manager, "port-0").levels[0].driver == "flaky"
    assert driver_info(manager, "flaky").breaker_state == mm.BREAKER_STATE_CLOSED
    assert lab.sample("ml2_mechmgr_driver_breaker_state", driver="flaky", state="closed") == 1

    lab.kill("flaky")

    # Each bind costs one quick decline of the dead driver; openvswitch binds the port.
    for i in range(3):
        started = time.monotonic()
        reply = resolve(manager, f"port-{i + 1}")
        assert time.monotonic() - started < 3
        assert (reply.state, reply.vif_type, reply.levels[0].driver) == (
            BOUND,
            "ovs",
            "openvswitch",
        )
        assert [v.driver for v in reply.trace] == ["flaky", "openvswitch"]
        assert codes(reply.trace[0]) == ["DRIVER_UNAVAILABLE"]
        assert "circuit breaker" not in reply.trace[0].reasons[0].message
    assert lab.sample(calls, driver="flaky") == 4

    # Three failures in a row: the breaker is open, listed and exported.
    info = driver_info(manager, "flaky")
    assert info.breaker_state == mm.BREAKER_STATE_OPEN
    opened, retry = info.breaker_open_time.ToDatetime(), info.breaker_retry_time.ToDatetime()
    assert (retry - opened).total_seconds() == pytest.approx(1.5, abs=0.01)
    assert lab.sample("ml2_mechmgr_driver_breaker_state", driver="flaky", state="open") == 1
    assert lab.sample("ml2_mechmgr_driver_breaker_state", driver="flaky", state="closed") == 0
    assert (
        lab.sample("ml2_mechmgr_driver_breaker_transitions_total", driver="flaky", state="open")
        == 1
    )

    # While open, binds decline the driver without calling it.
    reply = resolve(manager, "port-4")
    assert (reply.state, reply.levels[0].driver) == (BOUND, "openvswitch")
    (reason,) = reply.trace[0].reasons
    assert reason.code == "DRIVER_UNAVAILABLE"
    assert re.search(
        r"circuit breaker is open since \S+Z after 3 failed calls; it retries at \S+Z",
        reason.message,
    ), reason.message
    assert reason.details["breaker_state"] == "open"
    assert reply.trace[0].duration.ToTimedelta().total_seconds() < 0.1
    assert lab.sample(calls, driver="flaky") == 4

    # Back on the same address: after the cooldown, one bind tries it and closes the breaker.
    lab.restart("flaky")

    def bound_by_flaky() -> mm.ResolveBindingResponse | None:
        reply = resolve(manager, "port-5")
        return reply if reply.levels[0].driver == "flaky" else None

    reply = wait_until(bound_by_flaky)
    assert reply.vif_type == "other"
    assert driver_info(manager, "flaky").breaker_state == mm.BREAKER_STATE_CLOSED
    assert not driver_info(manager, "flaky").HasField("breaker_retry_time")
    transitions = "ml2_mechmgr_driver_breaker_transitions_total"
    # A trial that reached the driver before mechmgr's channel reconnected (its reconnect
    # back-off) fails and reopens the breaker for another cooldown: every half-open is a trial,
    # every trial but the last reopened it, and the last one closed it.
    trials = lab.sample(transitions, driver="flaky", state="half_open")
    assert trials >= 1
    assert lab.sample(transitions, driver="flaky", state="open") == trials
    assert lab.sample(transitions, driver="flaky", state="closed") == 1
    assert lab.sample("ml2_mechmgr_driver_breaker_state", driver="flaky", state="closed") == 1


def test_a_driver_killed_during_a_call_costs_exactly_one_decline(lab):
    stall = lab.start_driver(
        "stall",
        "services.drivers.noop",
        {"MECHDRIVER_NOOP_NAME": "stall", "MECHDRIVER_NOOP_DELAY_SECONDS": "60"},
    )
    ovs = lab.start_driver("openvswitch", "services.drivers.openvswitch", {})
    manager = lab.start_mechmgr(
        f"stall={stall},openvswitch={ovs}", MECHMGR_DRIVER_TIMEOUT_SECONDS="30"
    )
    log = lab.drivers["stall"].log_path

    with futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(resolve, manager, "port-1")
        # The call is in flight once the driver says it is waiting.
        wait_until(lambda: "waiting 60s" in log.read_text(encoding="utf-8") or None)
        lab.kill("stall")
        killed = time.monotonic()
        reply = pending.result(timeout=20)

    assert time.monotonic() - killed < 5  # not the 30 s driver timeout
    assert (reply.state, reply.vif_type, reply.levels[0].driver) == (BOUND, "ovs", "openvswitch")
    assert [v.driver for v in reply.trace] == ["stall", "openvswitch"]
    (reason,) = reply.trace[0].reasons
    assert reason.code == "DRIVER_UNAVAILABLE", reason.message
    assert reason.details["address"] == stall
    assert lab.sample("ml2_mechmgr_driver_call_seconds_count", driver="stall") == 1
    info = driver_info(manager, "stall")
    assert (info.reachable, info.breaker_state) == (False, mm.BREAKER_STATE_CLOSED)
