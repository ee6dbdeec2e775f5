"""The ``ml2`` command line: ``ml2 up``, ``ml2 demo``, the agent and the client commands."""
