"""The host's Open vSwitch database, through ovsdbapp: bridges, ports and their interfaces.

An L2 agent finds a port's device by its Interface row: ``external_ids:iface-id`` is the port
id, ``attached-mac`` its MAC, ``vm-uuid`` the instance, ``iface-status`` ``active``. This module
writes those rows and removes them, nothing else; the agent tags and flows the ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.open_vswitch import impl_idl


class OvsdbError(RuntimeError):
    """Open vSwitch's database refused a change or cannot be reached; the message says which."""


@dataclass(frozen=True)
class OvsInterface:
    """One Interface row, as the output and the tests read it."""

    name: str
    bridge: str
    type: str
    external_ids: Mapping[str, str]
    options: Mapping[str, str]
    error: str


class Ovsdb:
    """A connection to one ovsdb-server (``remote``: unix:PATH, tcp:HOST:PORT, ...)."""

    def __init__(self, remote: str, timeout: float = 10.0) -> None:
        self.remote = remote
        # ovsdbapp keeps the connection on the API class, so that every instance of a class
        # shares one; a class of our own per database lets one process talk to several.
        api_class: Any = type("ComputeOvsdbApi", (impl_idl.OvsdbIdl,), {})
        try:
            idl = connection.OvsdbIdl.from_server(remote, "Open_vSwitch")
            self._connection = connection.Connection(idl=idl, timeout=timeout)
            self.api: Any = api_class(self._connection)
        except Exception as err:  # ovsdbapp raises plain Exception when the server is absent
            raise OvsdbError(f"cannot reach Open vSwitch's database at {remote}: {err}") from None

    def close(self) -> None:
        """Stops the connection's thread."""
        self._connection.stop()

    def __enter__(self) -> Ovsdb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_bridge(self, name: str, datapath_type: str = "") -> bool:
        """Creates the bridge ``name`` unless it exists (with ``datapath_type`` when given);
        returns whether it was created."""
        if self._run(self.api.br_exists(name), f"look up bridge {name}"):
            return False
        command = self.api.add_br(name, may_exist=True, datapath_type=datapath_type or None)
        self._run(command, f"create bridge {name}")
        return True

    def add_port(
        self,
        bridge: str,
        name: str,
        *,
        external_ids: Mapping[str, str],
        iface_type: str = "",
        options: Mapping[str, str] | None = None,
        mtu: int = 0,
    ) -> None:
        """Adds port ``name`` to ``bridge`` (or updates it) with its Interface's columns, in
        one transaction."""
        columns: list[tuple[str, Any]] = [("external_ids", dict(external_ids))]
        if iface_type:
            columns.append(("type", iface_type))
        if options:
            columns.append(("options", dict(options)))
        if mtu:
            columns.append(("mtu_request", mtu))
        try:
            with self.api.transaction(check_error=True) as txn:
                txn.add(self.api.add_port(bridge, name, may_exist=True))
                txn.add(self.api.db_set("Interface", name, *columns))
        except Exception as err:
            raise OvsdbError(f"cannot add port {name} to bridge {bridge}: {err}") from None

    def delete_port(self, name: str) -> str:
        """Deletes port ``name`` from its bridge; returns the bridge, or empty when there was no
        such port."""
        bridge = self.bridge_of(name)
        if bridge:
            self._run(self.api.del_port(name, if_exists=True), f"delete port {name}")
        return bridge

    def bridge_of(self, name: str) -> str:
        """The bridge that has the port ``name``, or empty."""
        for bridge in self._run(self.api.list_br(), "list bridges"):
            if name in self._run(self.api.list_ports(bridge), f"list ports of {bridge}"):
                return str(bridge)
        return ""

    def interfaces_of_port(self, port_id: str) -> list[OvsInterface]:
        """Every Interface whose ``external_ids:iface-id`` is ``port_id``."""
        rows = self._run(
            self.api.db_find(
                "Interface",
                ("external_ids", "=", {"iface-id": port_id}),
                columns=["name"],
            ),
            f"find the interfaces of port {port_id}",
        )
        found = [self.interface(str(row["name"])) for row in rows]
        return [i for i in found if i is not None]

    def interface(self, name: str) -> OvsInterface | None:
        """The Interface row ``name`` with its bridge, or None."""
        rows = self._run(
            self.api.db_find(
                "Interface",
                ("name", "=", name),
                columns=["name", "type", "external_ids", "options", "error"],
            ),
            f"read interface {name}",
        )
        if not rows:
            return None
        row = rows[0]
        error = row.get("error")
        return OvsInterface(
            name=name,
            bridge=self.bridge_of(name),
            type=str(row.get("type") or ""),
            external_ids=dict(row.get("external_ids") or {}),
            options=dict(row.get("options") or {}),
            error=error if isinstance(error, str) else "",
        )

    def _run(self, command: Any, what: str) -> Any:
        try:
            return command.execute(check_error=True)
        except Exception as err:
            raise OvsdbError(f"cannot {what} in Open vSwitch's database: {err}") from None
