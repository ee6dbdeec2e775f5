"""The openvswitch mechanism driver process: `python -m services.drivers.openvswitch`."""
