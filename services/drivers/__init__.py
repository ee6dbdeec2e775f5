"""The shipped mechanism drivers, each its own process (``python -m services.drivers.<name>``,
or ``python -m ml2_driver_sdk <name>``), declared in the ``ml2.mechanism_drivers`` entry-point
group. They are written on the driver SDK (``ml2_driver_sdk``) and the contract
(``ml2_contract``) alone, as a third party's driver is: they import nothing of modular-l2's
services (``scripts/check`` enforces it), and mechmgr imports nothing of them.
"""
