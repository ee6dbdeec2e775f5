"""The agent's OVSDB connection (ovsdbapp), with a row event that wakes the agent on device
changes.

ovsdbapp keeps an in-memory replica of the Open_vSwitch database (the IDL) current from the
server's update stream in a thread of its own. The IDL here hands each row change to an
ovsdbapp ``RowEventHandler``; an ``Interface`` row created, deleted, or updated in ``ofport``
or ``external_ids`` (what a VIF driver's plug and unplug change) sets ``changed``, so the agent
sees a freshly plugged port as soon as the server has it, without polling.
"""

from __future__ import annotations

import threading
from typing import Any

from ovsdbapp.backend.ovs_idl import connection, event, idlutils
from ovsdbapp.schema.open_vswitch import impl_idl

SCHEMA = "Open_vSwitch"


class _InterfaceChanged(event.RowEvent):  # type: ignore[misc]
    """An Interface row was created, deleted, or got another ofport or external_ids."""

    def __init__(self, changed: threading.Event) -> None:
        super().__init__((self.ROW_CREATE, self.ROW_UPDATE, self.ROW_DELETE), "Interface", None)
        self.changed = changed
        self.event_name = "InterfaceChanged"

    def match_fn(self, kind: str, row: Any, old: Any) -> bool:
        if kind != self.ROW_UPDATE:
            return True
        return hasattr(old, "ofport") or hasattr(old, "external_ids")

    def run(self, kind: str, row: Any, old: Any) -> None:
        self.changed.set()


class _NotifyingIdl(connection.OvsdbIdl):  # type: ignore[misc]
    """The IDL, passing every row change to ``handler``."""

    def __init__(self, remote: str, helper: Any, handler: event.RowEventHandler) -> None:
        super().__init__(remote, helper)
        self.handler = handler

    def notify(self, kind: str, row: Any, updates: Any = None) -> None:
        self.handler.notify(kind, row, updates)


class Ovsdb:
    """An ovsdbapp API on ``endpoint`` (``unix:/run/openvswitch/db.sock``) plus ``changed``."""

    def __init__(self, endpoint: str, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.changed = threading.Event()
        self._handler = event.RowEventHandler()
        self._handler.watch_event(_InterfaceChanged(self.changed))
        helper = idlutils.get_schema_helper(endpoint, SCHEMA)
        helper.register_all()
        self._idl = _NotifyingIdl(endpoint, helper, self._handler)
        self._connection = connection.Connection(self._idl, timeout=timeout)
        # ovsdbapp keeps the connection in a class attribute (one per process); a class of
        # its own lets one process hold several (an agent per lab host in tests).
        api_class = type("OvsdbApi", (impl_idl.OvsdbIdl,), {"_ovsdb_connection": None})
        self.api: Any = api_class(self._connection)

    @property
    def change_seqno(self) -> int:
        """A number that changes whenever the IDL's replica of the database changes (our own
        committed transactions included), so that what was read from it can be kept until
        then."""
        return int(self._idl.change_seqno)

    def close(self) -> None:
        """Stops the IDL's and the event handler's threads."""
        self._connection.stop(timeout=5)
        self._handler.shutdown()
