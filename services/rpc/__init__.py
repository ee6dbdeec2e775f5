"""gRPC plumbing shared by every process: server bootstrap, errors, metrics, logging, config.

Nothing here knows about networks, segments or ports.
"""
