"""Mechanism drivers: the contract a driver implements (``base``), the process wrapper
(``serve``) and the shipped drivers, each its own process (``python -m
services.mechmgr.drivers.<name>``).

The values a driver is given and answers with, their vocabulary and their wire form are
``ml2_contract``'s. Driver packages import only ``ml2_contract``, this package's ``base``,
``agent_based`` and ``serve``, ``services.rpc`` and ``ml2.v1``, never the manager's modules, so
that a driver can live in its own repository.
"""
