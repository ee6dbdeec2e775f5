"""The linuxbridge mechanism driver process: `python -m services.drivers.linuxbridge`."""
