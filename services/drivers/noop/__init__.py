"""The noop mechanism driver process: `python -m services.drivers.noop`."""
