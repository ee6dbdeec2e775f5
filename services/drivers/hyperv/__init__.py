"""The hyperv mechanism driver process: `python -m services.drivers.hyperv`."""
