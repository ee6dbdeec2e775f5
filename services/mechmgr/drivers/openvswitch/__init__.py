"""The openvswitch mechanism driver process: `python -m services.mechmgr.drivers.openvswitch`."""
