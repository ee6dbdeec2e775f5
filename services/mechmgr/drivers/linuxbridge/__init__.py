"""The linuxbridge mechanism driver process: `python -m services.mechmgr.drivers.linuxbridge`."""
