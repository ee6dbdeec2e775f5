"""Type drivers: one module per network type, each a small class behind ``base.TypeDriver``."""
