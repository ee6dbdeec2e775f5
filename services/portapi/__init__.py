"""portapi: the network and port API, and the binding flow compute nodes rely on.

Owns networks, ports and their bindings; asks typemgr for segments and mechmgr for bindings.
"""
