"""A lab of hosts on one machine, for tests, ``ml2 demo --dataplane`` and benchmarks.

Hosts are network namespaces; a Linux bridge in a namespace of its own stands for each physical
network (the underlay that tunnels cross, or a provider network); each Open vSwitch host runs
its own ovsdb-server and ovs-vswitchd (userspace datapath) with every file in a temporary
directory; instances are namespaces linked by veth to a ``tap`` device in their host, ready for
a VIF driver to plug. One ``Lab`` owns it all and removes it all when it closes, even after a
failure::

    with Lab() as lab:
        underlay = lab.underlay()
        a = lab.host("a", underlay=underlay)           # a.ip, a.ovs.db_endpoint, a.ovs.mgmt(...)
        vm1 = lab.vm(a, "vm1", "192.168.10.1/24")
        a.ovs.add_bridge("br-int")
        a.ovs.plug("br-int", vm1.tap, iface_id=port_id, mac=vm1.mac)
        vm1.wait_ping("192.168.10.2")

``services.lab.netns`` has the namespace and link primitives (pyroute2), ``services.lab.ovs``
the ``OvsInstance``, ``services.lab.topology`` the ``Lab``; ``services.lab.seed`` builds the
seed's scenario on a lab (``ml2 demo --dataplane`` and its end-to-end test). Everything needs
root.
"""

from services.lab.netns import LabError, Namespace, veth
from services.lab.ovs import OvsInstance
from services.lab.topology import UNDERLAY_BRIDGE, Host, Lab, Switch, Vm, random_mac

__all__ = [
    "UNDERLAY_BRIDGE",
    "Host",
    "Lab",
    "LabError",
    "Namespace",
    "OvsInstance",
    "Switch",
    "Vm",
    "random_mac",
    "veth",
]
