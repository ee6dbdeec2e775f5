"""Fixtures of portapi's unit tests: an in-process portapi over a SQLite file, with fakes of its
peer services behind real gRPC on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from ml2.v1 import (
    mechanism_manager_service_pb2_grpc,
    network_service_pb2_grpc,
    port_service_pb2_grpc,
    segment_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import server
from sqlalchemy.orm import Session, sessionmaker

from services import migrations, sql
from services.portapi import clients
from services.portapi import server as portapi_server

from .fakes import FakeMechanismManager, FakeSegmentService


@dataclass
class Peers:
    """The fake typemgr and mechmgr, served together on one address."""

    segments: FakeSegmentService
    mechmgr: FakeMechanismManager
    address: str


@dataclass
class Stack:
    """An in-process portapi and what tests reach it with."""

    networks: network_service_pb2_grpc.NetworkServiceStub
    ports: port_service_pb2_grpc.PortServiceStub
    peers: Peers
    factory: sessionmaker[Session]
    app: portapi_server.Application


@pytest.fixture
def peers() -> Iterator[Peers]:
    segments, mechmgr = FakeSegmentService(), FakeMechanismManager()
    handle = server.build_server(
        [
            (
                segment_service_pb2_grpc.add_SegmentServiceServicer_to_server,
                segments,
                "ml2.v1.SegmentService",
            ),
            (
                mechanism_manager_service_pb2_grpc.add_MechanismManagerServiceServicer_to_server,
                mechmgr,
                "ml2.v1.MechanismManagerService",
            ),
        ],
        max_workers=8,
    )
    handle.server.start()
    yield Peers(segments, mechmgr, f"127.0.0.1:{handle.port}")
    handle.server.stop(0)


def make_stack(
    database_url: str, peer_address: str, peers: Peers, max_tries: int = 10, timeout: float = 2.0
) -> tuple[Stack, list[object]]:
    migrations.upgrade(database_url, "portapi")
    engine = sql.make_engine(database_url)
    factory = sql.session_factory(engine)
    peer_channel = clients.open_channel(peer_address)
    app = portapi_server.build(
        factory,
        clients.SegmentClient(peer_channel, timeout),
        clients.MechanismManagerClient(peer_channel, timeout),
        max_tries,
    )
    handle = server.build_server(app.registrations(), max_workers=16, asyncio_streams=True)
    handle.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{handle.port}")
    stack = Stack(
        network_service_pb2_grpc.NetworkServiceStub(channel),
        port_service_pb2_grpc.PortServiceStub(channel),
        peers,
        factory,
        app,
    )
    return stack, [channel, peer_channel, handle, engine]


def close(resources: list[object]) -> None:
    channel, peer_channel, handle, engine = resources
    channel.close()  # type: ignore[attr-defined]
    handle.server.stop(0)  # type: ignore[attr-defined]
    peer_channel.close()  # type: ignore[attr-defined]
    engine.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def stack(peers: Peers, tmp_path: Path) -> Iterator[Stack]:
    built, resources = make_stack(f"sqlite:///{tmp_path / 'portapi.db'}", peers.address, peers)
    yield built
    close(resources)
