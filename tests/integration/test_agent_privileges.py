"""The privileges the agents' DaemonSets grant (deploy/k8s/base/agent-*.yaml) are enough.

Each test runs one host's dataplane in a child process confined as its DaemonSet confines the
agent: root, in the host's network namespace (hostNetwork), with only the capabilities the
manifest adds (``setpriv`` empties the bounding set but for them, and sets no_new_privs as
``allowPrivilegeEscalation: false`` does), and for Open vSwitch with its run directory mounted
read-only as the hostPath is. The child sets the host up and wires an instance into a VXLAN
network towards a second host wired without confinement; the instances then ping each other, so
the confined wiring is real. The child also reports its effective capabilities, to show it ran
with no more than the manifest grants.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml
from ml2_contract import values

from services import launcher
from services.agent.dataplane import Attachment, TunnelPeer
from services.agent.linuxbridge.dataplane import LinuxBridgeConfig, LinuxBridgeDataplane, tap_name
from services.agent.ovs import OvsConfig, OvsDataplane
from services.lab import Host, Lab

ROOT = Path(__file__).resolve().parents[2]
CAPABILITY_BITS = {"NET_ADMIN": 12, "SYS_ADMIN": 21, "DAC_OVERRIDE": 1}
NETWORK = "5e0c3a1b-7d2e-4f6a-9b8c-0123456789ab"

CHILD = r"""
import json, re, sys, time
from ml2_contract import values
from services.agent.dataplane import Attachment, TunnelPeer

a = json.loads(sys.argv[1])
status = open("/proc/self/status").read()
cap_eff = int(re.search(r"CapEff:\s*([0-9a-f]+)", status).group(1), 16)
no_new_privs = re.search(r"NoNewPrivs:\s*(\d)", status).group(1) == "1"
if a["type"] == "openvswitch":
    from services.agent.ovs import OvsConfig, OvsDataplane
    dp = OvsDataplane(OvsConfig(ovsdb=a["ovsdb"], datapath_type="netdev",
                                local_ip=a["local_ip"], tunnel_types=("vxlan",)))
    vif_type = "ovs"
else:
    from services.agent.linuxbridge.dataplane import LinuxBridgeConfig, LinuxBridgeDataplane
    dp = LinuxBridgeDataplane(LinuxBridgeConfig(local_ip=a["local_ip"]))
    vif_type = "bridge"
dp.setup()
dp.expect([a["port_id"]]) if hasattr(dp, "expect") else None
deadline = time.monotonic() + 20
while a["port_id"] not in dp.devices():
    assert time.monotonic() < deadline, "the instance's device never appeared"
    dp.wait_for_change(0.1)
segment = values.Segment(a["segment_id"], "vxlan", segmentation_id=a["vni"],
                         network_id=a["network_id"], mtu=1400)
dp.wire(Attachment(port_id=a["port_id"], network_id=a["network_id"], mac_address=a["mac"],
                   segment=segment, vif_type=vif_type))
dp.set_tunnel_peers(segment, frozenset({TunnelPeer(a["peer_host"], a["peer_ip"])}))
network_types = list(dp.capabilities().network_types)
dp.close()
print(json.dumps({"cap_eff": cap_eff, "no_new_privs": no_new_privs,
                  "network_types": network_types}))
"""


def granted(agent_type: str) -> list[str]:
    """The capabilities the agent's DaemonSet adds, as the manifest says."""
    text = (ROOT / "deploy" / "k8s" / "base" / f"agent-{agent_type}.yaml").read_text()
    (ds,) = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "DaemonSet"]
    (container,) = ds["spec"]["template"]["spec"]["containers"]
    ctx = container["securityContext"]
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert ds["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 0
    return list(ctx["capabilities"].get("add", []))


def run_confined(
    agent_type: str, host: Host, args: dict[str, Any], read_only: Path | None = None
) -> dict[str, Any]:
    """Runs CHILD in ``host``'s namespace with only the DaemonSet's capabilities."""
    caps = granted(agent_type)
    bounding = ",".join(["-all", *(f"+{c.lower()}" for c in caps)])
    confine = [
        *("setpriv", f"--bounding-set={bounding}", "--inh-caps=-all", "--no-new-privs", "--"),
        *(sys.executable, "-c", CHILD, json.dumps({"type": agent_type, **args})),
    ]
    if read_only is not None:
        # ip netns exec gives the child a mount namespace of its own: the read-only bind mount
        # is the child's alone, as the pod's hostPath mount is the pod's.
        script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
        confine = ["sh", "-c", script, str(read_only), *confine]
    result = subprocess.run(
        ["ip", "netns", "exec", host.namespace.name, *confine],
        capture_output=True,
        text=True,
        timeout=60,
        env=launcher.python_path_env(dict(os.environ)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    allowed = sum(1 << CAPABILITY_BITS[c] for c in caps)
    assert answer["cap_eff"] & ~allowed == 0, f"{answer['cap_eff']:#x} is more than {caps}"
    assert answer["no_new_privs"] is True
    return answer


def test_the_openvswitch_agent_wires_with_no_capability_and_a_read_only_run_dir() -> None:
    assert granted("openvswitch") == []
    segment = values.Segment("seg-priv", "vxlan", segmentation_id=1301, network_id=NETWORK)
    with Lab() as lab:
        underlay = lab.underlay()
        a = lab.host("a", underlay=underlay)
        b = lab.host("b", underlay=underlay)
        assert a.ovs is not None and b.ovs is not None
        vm1 = lab.vm(a, "vm1", "192.168.81.1/24")
        vm2 = lab.vm(b, "vm2", "192.168.81.2/24")
        p1, p2 = f"p1-{uuid.uuid4().hex[:8]}", f"p2-{uuid.uuid4().hex[:8]}"
        # The compute node's VIF driver creates br-int when it plugs first, as os-vif does.
        a.ovs.add_bridge("br-int")
        a.ovs.plug("br-int", vm1.tap, iface_id=p1, mac=vm1.mac)

        free = OvsDataplane(
            OvsConfig(
                ovsdb=str(b.ovs.db_socket),
                datapath_type="netdev",
                netns=b.namespace.name,
                local_ip=b.ip,
                tunnel_types=("vxlan",),
            )
        )
        lab.defer(free.close)
        free.setup()
        b.ovs.plug("br-int", vm2.tap, iface_id=p2, mac=vm2.mac)
        for _ in range(200):
            if p2 in free.devices():
                break
            free.wait_for_change(0.05)
        free.wire(Attachment(p2, NETWORK, vm2.mac, segment, "ovs"))
        free.set_tunnel_peers(segment, frozenset({TunnelPeer("a", a.ip)}))

        run_confined(
            "openvswitch",
            a,
            {
                "ovsdb": str(a.ovs.db_socket),
                "local_ip": a.ip,
                "port_id": p1,
                "mac": vm1.mac,
                "segment_id": segment.id,
                "network_id": NETWORK,
                "vni": 1301,
                "peer_host": "b",
                "peer_ip": b.ip,
            },
            read_only=a.ovs.rundir,
        )
        vm1.wait_ping(vm2)


def test_the_linuxbridge_agent_wires_with_net_admin_alone_and_offers_no_vlan() -> None:
    assert granted("linuxbridge") == ["NET_ADMIN"]
    segment = values.Segment(
        "seg-priv", "vxlan", segmentation_id=1302, network_id=NETWORK, mtu=1400
    )
    with Lab() as lab:
        underlay = lab.underlay()
        a = lab.host("a", underlay=underlay, ovs=False)
        b = lab.host("b", underlay=underlay, ovs=False)
        p1 = f"{uuid.uuid4().hex[:8]}-aaaa-4bbb-8ccc-{uuid.uuid4().hex[:12]}"
        p2 = f"{uuid.uuid4().hex[:8]}-aaaa-4bbb-8ccc-{uuid.uuid4().hex[:12]}"
        vm1 = lab.vm(a, "vm1", "192.168.82.1/24", tap=tap_name(p1))
        vm2 = lab.vm(b, "vm2", "192.168.82.2/24", tap=tap_name(p2))

        free = LinuxBridgeDataplane(
            LinuxBridgeConfig(netns=b.namespace.name, local_ip=b.ip), vlan_supported=False
        )
        lab.defer(free.close)
        free.setup()
        free.wire(Attachment(p2, NETWORK, vm2.mac, segment, "bridge"))
        free.set_tunnel_peers(segment, frozenset({TunnelPeer("a", a.ip)}))

        answer = run_confined(
            "linuxbridge",
            a,
            {
                "local_ip": a.ip,
                "port_id": p1,
                "mac": vm1.mac,
                "segment_id": segment.id,
                "network_id": NETWORK,
                "vni": 1302,
                "peer_host": "b",
                "peer_ip": b.ip,
            },
        )
        # The VLAN probe's scratch namespace needs CAP_SYS_ADMIN: without it, no vlan.
        assert answer["network_types"] == ["local", "flat", "vxlan"]
        vm1.wait_ping(vm2)
