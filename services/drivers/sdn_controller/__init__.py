"""The sdn-controller mechanism driver process: `python -m services.drivers.sdn_controller`."""
