"""The noop mechanism driver process: `python -m services.mechmgr.drivers.noop`."""
