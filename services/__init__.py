"""modular-l2: the port binding control plane as gRPC services."""
