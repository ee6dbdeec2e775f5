"""The macvtap mechanism driver process: `python -m services.drivers.macvtap`."""
