"""The compute node's generic VIF driver: binds a port to this host, plugs it as the binding
says, and waits until the host's L2 agent has wired it (ACTIVE).

- ``config``: the compute configuration file and how the host id, portapi address and default
  VIF are chosen (flag > environment > file > built-in default).
- ``vif``: which VIF to plug (the binding's, or the configured default and why) and the names
  of the port's devices.
- ``links``, ``ovsdb``: the host's links (pyroute2) and Open vSwitch database (ovsdbapp).
- ``plugs``: one small backend per vif type behind one interface.
- ``waiting``: waiting for ACTIVE through portapi's WatchPorts.
- ``driver``: plug and unplug, step by step, with the time each step took.

It keeps no state: everything it needs comes from the port's binding, its configuration, and
what it finds on the host.
"""
