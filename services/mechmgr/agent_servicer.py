"""AgentService: proto <-> domain translation and validation only."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from ml2.v1 import agent_pb2
from ml2.v1 import agent_service_pb2 as pb
from ml2.v1 import agent_service_pb2_grpc as pb_grpc
from ml2_contract import convert, values
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.mechmgr import agents, errors, metrics, validation
from services.rpc import paging

logger = logging.getLogger(__name__)

LIST_AGENTS = paging.Listing("ml2.v1.AgentService/ListAgents", (str, str))
"""Page tokens of ListAgents: the (host, agent_type) of a page's last agent."""

_UPDATABLE = ("admin_state_up",)
_UNARY = metrics.HEARTBEAT_MESSAGES.labels("HeartbeatAgent")
_STREAMED = metrics.HEARTBEAT_MESSAGES.labels("StreamHeartbeats")

BeatCheck = Callable[[str, Any], None]
"""``check(agent_id, context)``, called on the event loop (so it must not block) before the
first heartbeat of a stream and before each one that names another agent than the one before:
the place of a check of the caller against the agent, such as "a host keeps only its own agents
alive", because an interceptor sees the start of a stream, not the agent id of each message.
It raises a ServiceError to end the stream with that status. Its answer must depend only on the
stream (its caller) and the agent id, as it is not asked again for the same agent."""


class AgentServicer(pb_grpc.AgentServiceServicer):
    """Serves the agent registry."""

    def __init__(
        self,
        registry: agents.AgentRegistry,
        heartbeat_interval: int,
        beat_check: BeatCheck | None = None,
    ) -> None:
        self._registry = registry
        self._heartbeat_interval = heartbeat_interval
        self._beat_check = beat_check
        self._lock = threading.Lock()
        self._streams: set[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any] | None]] = set()
        self._closing = False

    def close_streams(self) -> None:
        """Ends every open heartbeat stream with UNAVAILABLE (the process is stopping), so that
        a graceful stop does not wait for streams that never end and agents move at once to
        another replica; streams opened after this are ended likewise. Callable from any
        thread."""
        with self._lock:
            self._closing = True
            streams = list(self._streams)
        for loop, task in streams:
            if task is None:
                continue
            with contextlib.suppress(RuntimeError):  # a closed loop: its streams are gone
                loop.call_soon_threadsafe(task.cancel)

    def RegisterAgent(
        self, request: pb.RegisterAgentRequest, context: grpc.ServicerContext
    ) -> pb.RegisterAgentResponse:
        """Registers an agent (or refreshes the one of the same type on the same host)."""
        agent, created = self._registry.register(validation.registration(request))
        logger.info(
            "%s %s agent %s on host %s (revision %d)",
            "registered" if created else "re-registered",
            agent.agent_type,
            agent.id,
            agent.host,
            agent.revision,
            extra={
                "agent_id": agent.id,
                "agent_type": agent.agent_type,
                "host": agent.host,
                "revision": agent.revision,
            },
        )
        return pb.RegisterAgentResponse(
            agent=convert.agent_to_proto(agent),
            heartbeat_interval_seconds=self._heartbeat_interval,
            agent_down_time_seconds=int(self._registry.down_time),
        )

    def HeartbeatAgent(
        self, request: pb.HeartbeatAgentRequest, context: grpc.ServicerContext
    ) -> pb.HeartbeatAgentResponse:
        """Records a sign of life; NOT_FOUND tells the agent to register again."""
        agent = self._registry.heartbeat(validation.required_id("agent_id", request.agent_id))
        _UNARY.inc()
        return pb.HeartbeatAgentResponse(agent=convert.agent_to_proto(agent))

    async def StreamHeartbeats(  # type: ignore[override]
        self, requests: AsyncIterator[pb.StreamHeartbeatsRequest], context: Any
    ) -> AsyncIterator[pb.StreamHeartbeatsResponse | bytes]:
        """Answers each heartbeat of the stream as HeartbeatAgent does; a bad request or an
        unknown agent ends the stream with HeartbeatAgent's status.

        Runs on the event loop of an asyncio server: a heartbeat the registry can answer from
        memory (almost all, see ``agents``) is answered there, without leaving the loop; one it
        must write first goes to a thread, so that the database never blocks the loop. The
        agent id is validated and checked (``beat_check``) when it first comes and again only
        when it changes; an answer from memory is the agent's message encoded once per stream
        (until the registry's agent changes) with each heartbeat's time appended.
        """
        loop = asyncio.get_running_loop()
        stream = (loop, asyncio.current_task())
        with self._lock:
            closing = self._closing
            self._streams.add(stream)
        metrics.HEARTBEAT_STREAMS.inc()
        checked = ""
        encoded: tuple[object, bytes] = (None, b"")
        holding: _Holding | None = None
        try:
            if closing:
                raise asyncio.CancelledError
            incoming = aiter(requests)
            async for request in incoming:
                agent_id = request.agent_id
                if not agent_id or agent_id != checked:
                    validation.required_id("agent_id", agent_id)
                    if self._beat_check is not None:
                        self._beat_check(agent_id, context)
                    checked = agent_id
                if request.hold and self._registry.can_hold:
                    holding = _Holding(self._registry, loop)
                    break
                held = self._registry.held_beat(agent_id)
                if held is None:
                    agent = await loop.run_in_executor(None, self._registry.heartbeat, agent_id)
                    _STREAMED.inc()
                    yield pb.StreamHeartbeatsResponse(agent=convert.agent_to_proto(agent))
                    continue
                base, beat = held
                if encoded[0] is not base:
                    encoded = (base, agent_without_beat(base))
                _STREAMED.inc()
                yield beat_answer(encoded[1], beat)
            if holding is not None:
                async for answer in self._held_stream(holding, request, incoming, context):
                    yield answer
        except asyncio.CancelledError:
            if not self._closing:
                raise  # the client went away
            try:
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE, "mechmgr is stopping: open the stream again"
                )
            except grpc.aio.AbortError:
                raise
            except grpc.RpcError:
                return  # the call ended on its own as the server stopped: nothing to tell
            except Exception as exc:  # grpc's ExecuteBatchError: the call is gone already
                logger.debug("heartbeat stream ended before mechmgr could close it: %s", exc)
                return
        finally:
            if holding is not None:
                holding.release()
            metrics.HEARTBEAT_STREAMS.dec()
            with self._lock:
                self._streams.discard(stream)

    async def _held_stream(
        self,
        holding: _Holding,
        first: pb.StreamHeartbeatsRequest,
        incoming: AsyncIterator[pb.StreamHeartbeatsRequest],
        context: Any,
    ) -> AsyncIterator[pb.StreamHeartbeatsResponse]:
        """A stream once a request asked for hold: answers it at once, then waits, writing only
        an agent's change, answering any later request (a heartbeat, maybe holding another
        agent), and ending the stream NOT_FOUND when a held agent is deleted. The client may
        close its side: the stream stays until it is cancelled, its connection drops or mechmgr
        stops. The holds are released by the caller when the stream ends."""
        reader = asyncio.ensure_future(holding.read(incoming))
        try:
            request: pb.StreamHeartbeatsRequest | None = first
            checked = {first.agent_id}
            while True:
                if request is not None:
                    agent_id = request.agent_id
                    if agent_id not in checked:
                        validation.required_id("agent_id", agent_id)
                        if self._beat_check is not None:
                            self._beat_check(agent_id, context)
                        checked.add(agent_id)
                    agent = await self._beat(agent_id)
                    if request.hold:
                        holding.hold(agent_id)
                    _STREAMED.inc()
                    yield pb.StreamHeartbeatsResponse(
                        agent=convert.agent_to_proto(agent), held=holding.holds(agent_id)
                    )
                kind, agent_id, item = await holding.queue.get()
                request = None
                if kind == "request":
                    assert isinstance(item, pb.StreamHeartbeatsRequest)
                    request = item
                elif kind == "end":
                    continue  # the client closed its side: the stream, and its holds, stay
                elif kind == "error":
                    assert isinstance(item, Exception)
                    raise item
                elif item is None:
                    raise errors.AgentNotFound(agent_id)
                else:
                    assert isinstance(item, values.Agent)
                    yield pb.StreamHeartbeatsResponse(agent=convert.agent_to_proto(item), held=True)
        finally:
            reader.cancel()

    async def _beat(self, agent_id: str) -> values.Agent:
        """One heartbeat: from memory when the registry can, else written in a thread."""
        agent = self._registry.held_heartbeat(agent_id)
        if agent is None:
            loop = asyncio.get_running_loop()
            agent = await loop.run_in_executor(None, self._registry.heartbeat, agent_id)
        return agent

    def GetAgent(
        self, request: pb.GetAgentRequest, context: grpc.ServicerContext
    ) -> pb.GetAgentResponse:
        """Returns one agent."""
        agent = self._registry.get(validation.required_id("agent_id", request.agent_id))
        return pb.GetAgentResponse(agent=convert.agent_to_proto(agent))

    def ListAgents(
        self, request: pb.ListAgentsRequest, context: grpc.ServicerContext
    ) -> pb.ListAgentsResponse:
        """Lists agents ordered by host then type, optionally of one host or type."""
        if request.host:
            validation.hostname("host", request.host)
        filters = {"host": request.host, "agent_type": request.agent_type}
        position = LIST_AGENTS.decode(request.page_token, filters)
        size = LIST_AGENTS.size(request.page_size)
        after = None if position is None else (str(position[0]), str(position[1]))
        if request.states_only:
            states = self._registry.list_agent_states(
                host=request.host, agent_type=request.agent_type, limit=size, after=after
            )
            token = (
                "" if states.next_after is None else LIST_AGENTS.encode(states.next_after, filters)
            )
            return pb.ListAgentsResponse(
                agents=[
                    agent_pb2.Agent(
                        id=a.id,
                        agent_type=a.agent_type,
                        host=a.host,
                        alive=a.alive,
                        admin_state_up=a.admin_state_up,
                        revision=a.revision,
                    )
                    for a in states.agents
                ],
                next_page_token=token,
            )
        page = self._registry.list_agents(
            host=request.host, agent_type=request.agent_type, limit=size, after=after
        )
        token = "" if page.next_after is None else LIST_AGENTS.encode(page.next_after, filters)
        return pb.ListAgentsResponse(
            agents=[convert.agent_to_proto(a) for a in page.agents], next_page_token=token
        )

    def DeleteAgent(
        self, request: pb.DeleteAgentRequest, context: grpc.ServicerContext
    ) -> pb.DeleteAgentResponse:
        """Removes an agent; ports it served fail to bind until it registers again."""
        agent = self._registry.delete(validation.required_id("agent_id", request.agent_id))
        logger.info("deleted %s agent %s on host %s", agent.agent_type, agent.id, agent.host)
        return pb.DeleteAgentResponse(agent=convert.agent_to_proto(agent))

    def UpdateAgent(
        self, request: pb.UpdateAgentRequest, context: grpc.ServicerContext
    ) -> pb.UpdateAgentResponse:
        """Allows or forbids binding to an agent (admin_state_up)."""
        agent_id = validation.required_id("agent.id", request.agent.id)
        for path in request.update_mask.paths:
            if path not in _UPDATABLE:
                raise InvalidArgument(
                    "update_mask", f"only {', '.join(_UPDATABLE)} can be updated, not {path!r}"
                )
        agent = self._registry.set_admin_state(agent_id, request.agent.admin_state_up)
        logger.info(
            "agent %s admin_state_up=%s (revision %d)",
            agent.id,
            agent.admin_state_up,
            agent.revision,
            extra={"agent_id": agent.id, "revision": agent.revision},
        )
        return pb.UpdateAgentResponse(agent=convert.agent_to_proto(agent))


class _Holding:
    """The held leases of one stream and what reaches it: the stream's later requests, its end,
    the held agents' changes (from any thread)."""

    def __init__(self, registry: agents.AgentRegistry, loop: asyncio.AbstractEventLoop) -> None:
        self._registry = registry
        self._loop = loop
        self.queue: asyncio.Queue[tuple[str, str, object]] = asyncio.Queue()
        self._listeners: dict[str, agents.HoldListener] = {}

    def hold(self, agent_id: str) -> None:
        """Holds ``agent_id`` for this stream (once)."""
        if agent_id in self._listeners:
            return

        def changed(agent: values.Agent | None) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the stream is gone
                self._loop.call_soon_threadsafe(self.queue.put_nowait, ("agent", agent_id, agent))

        self._listeners[agent_id] = changed
        self._registry.hold(agent_id, changed)

    def holds(self, agent_id: str) -> bool:
        """Whether this stream holds ``agent_id``."""
        return agent_id in self._listeners

    def release(self) -> None:
        """Releases every hold of the stream (it ended)."""
        for agent_id, listener in self._listeners.items():
            self._registry.release(agent_id, listener)
        self._listeners.clear()

    async def read(self, incoming: AsyncIterator[pb.StreamHeartbeatsRequest]) -> None:
        """Queues the stream's requests, then its end."""
        try:
            async for request in incoming:
                self.queue.put_nowait(("request", request.agent_id, request))
        except grpc.RpcError:
            pass  # the call ended: the handler is cancelled too
        except Exception as exc:  # a request that does not decode: the stream ends with it
            self.queue.put_nowait(("error", "", exc))
            return
        self.queue.put_nowait(("end", "", None))


_EPOCH = dt.datetime(1970, 1, 1)
_AGENT_TAG = b"\x0a"
"""StreamHeartbeatsResponse.agent: field 1, length-delimited."""
_HEARTBEAT_TIME_TAG = b"\x3a"
"""Agent.heartbeat_time: field 7, length-delimited."""


def agent_without_beat(agent: values.Agent) -> bytes:
    """The encoded Agent message of ``agent`` alive, without its heartbeat time: what every
    answer from memory to its heartbeats shares (``beat_answer``)."""
    message = convert.agent_to_proto(dataclasses.replace(agent, alive=True))
    message.ClearField("heartbeat_time")
    return message.SerializeToString()


def beat_answer(agent: bytes, beat: dt.datetime) -> bytes:
    """The encoded StreamHeartbeatsResponse of a heartbeat at ``beat`` (naive UTC) to the
    agent encoded by ``agent_without_beat``: its heartbeat time appended (a field may come in
    any order), and the whole as the response's agent."""
    since = beat - _EPOCH
    timestamp = b"\x08" + _varint(since.days * 86400 + since.seconds)
    if since.microseconds:
        timestamp += b"\x10" + _varint(since.microseconds * 1000)
    message = agent + _HEARTBEAT_TIME_TAG + _varint(len(timestamp)) + timestamp
    return _AGENT_TAG + _varint(len(message)) + message


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
