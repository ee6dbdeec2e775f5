"""gRPC process plumbing shared by driver processes and modular-l2's services: server bootstrap
with health, reflection and metrics, errors, request decoding, logging, configuration and
keepalive. Nothing here knows about networks, segments or ports."""
