"""ACME top-of-rack switches as a modular-l2 mechanism driver (an example of an out-of-tree
driver written on ``ml2_driver_sdk`` alone)."""
