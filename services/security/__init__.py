"""Keys, tokens and certificates for an installation that has no identity provider of its own:
``tokens`` makes signing keys and mints bearer tokens, ``pki`` a local CA and the server and
client certificates it signs. ``ml2 up`` is meant to call both when it prepares a stack."""
