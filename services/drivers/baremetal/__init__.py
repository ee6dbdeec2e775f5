"""The baremetal mechanism driver process: `python -m services.drivers.baremetal`."""
