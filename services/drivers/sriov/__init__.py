"""The SR-IOV mechanism driver process: `python -m services.drivers.sriov`."""
