"""Mechanism drivers: the contract (``base``), its values (``context``), the process wrapper
(``serve``) and the shipped drivers, each its own process (``python -m
services.mechmgr.drivers.<name>``).

Driver packages import only this package's contract modules, ``services.rpc`` and ``ml2.v1``,
never the manager's modules, so that a driver can live in its own repository.
"""
