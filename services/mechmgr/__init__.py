"""mechmgr: chooses mechanism drivers for a port, level by level, and keeps the L2 agent registry.

Serves ``ml2.v1.MechanismManagerService`` (ResolveBinding) and ``ml2.v1.AgentService``. Each
mechanism driver is its own process (``drivers/``), reached over gRPC with a deadline.
"""
