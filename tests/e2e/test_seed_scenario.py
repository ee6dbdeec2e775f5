"""The seed's scenario proven by packets, against ``ml2 up`` (SQLite, both drivers).

Two Open vSwitch hosts and one Linux bridge host (lab namespaces on one underlay and one
physical network), each with its real agent process; ports plugged by the compute node's VIF
driver into instance namespaces. ``services.lab.seed`` has the steps: VXLAN and flat networks
ping across all three hosts, two VLAN networks with one subnet are isolated, the Linux bridge
host refuses VLAN at binding, an unplugged port stops answering, and a SIGKILLed agent's ports
go DOWN after the down time and come back ACTIVE, with traffic, after a restart. Afterwards
nothing of the lab is left: no namespace of its prefix, no agent, no Open vSwitch directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import netns

from services.lab import Lab
from services.lab.seed import OVS_HOSTS, Ping, SeedScenario
from tests.e2e.conftest import UpProcess, pid_running, running_up

DOWN_TIME = 5
HEARTBEAT = 1


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    with running_up(
        tmp_path,
        *("--mechanism-drivers", "openvswitch,linuxbridge"),
        *("--agent-down-time", str(DOWN_TIME), "--heartbeat-interval", str(HEARTBEAT)),
        *("--agent-check-interval", "0.5"),
    ) as stack:
        yield stack


def test_the_seed_scenario_by_packets(up: UpProcess, tmp_path: Path) -> None:
    lines: list[str] = []
    pids: list[int] = []
    ovs_dirs: list[Path] = []
    with Lab() as lab:
        prefix = lab.prefix
        scenario = SeedScenario(
            lab,
            up.portapi,
            up.mechmgr,
            tmp_path,
            say=lines.append,
            agent_down_time=DOWN_TIME,
            heartbeat_interval=HEARTBEAT,
        )
        try:
            outcome = scenario.run()
            story = "\n".join(lines) + "\n" + outcome.summary()
            print(story)
            assert outcome.all_held, story
            statuses = {name: agent.stop() for name, agent in scenario.agents.items()}
            assert all(s == 0 for s in statuses.values()), statuses
        finally:
            pids = [a.pid for a in scenario.agents.values()]
            ovs_dirs = [h.ovs.directory for h in scenario.hosts.values() if h.ovs is not None]
            scenario.close()

    # Each network's pings: the three hosts pairwise on VXLAN and flat, within each VLAN
    # network, and none across.
    pings: dict[tuple[str, str], Ping] = {}
    for ping in outcome.pings:  # the first of each pair: later ones follow an unplug or a kill
        pings.setdefault((ping.source, ping.target), ping)
    for net in ("vx", "fl"):
        for a, b in ((OVS_HOSTS[0], OVS_HOSTS[1]), (OVS_HOSTS[0], "lb1"), (OVS_HOSTS[1], "lb1")):
            assert pings[(f"{net}-{a}", f"{net}-{b}")].loss == 0
    assert pings[("re-ovs1", "re-ovs2")].loss == pings[("bl-ovs1", "bl-ovs2")].loss == 0
    assert pings[("re-ovs1", "bl-ovs1")].received == pings[("re-ovs1", "bl-ovs2")].received == 0
    timings = {t.what: t.seconds for t in outcome.timings}
    assert timings["SIGKILL to every ovs2 port DOWN"] >= DOWN_TIME - HEARTBEAT
    assert not [n for n in netns.listnetns() if n.startswith(f"{prefix}-")]
    assert not [pid for pid in pids if pid_running(pid)]
    assert not [d for d in ovs_dirs if d.exists()]
