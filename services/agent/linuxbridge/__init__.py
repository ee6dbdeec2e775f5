"""The Linux bridge agent's dataplane: a kernel bridge per network, through pyroute2 netlink.

``dataplane.LinuxBridgeDataplane`` implements ``services.agent.dataplane.Dataplane``;
``probe.vlan_devices_supported`` tells whether the kernel can create VLAN devices at all.
"""
