"""The generic VIF driver: bind a port to this host, plug it as the binding says, wait for it.

``plug`` follows the order the binding contract sets: first ``UpdatePort`` with this host's id
(and the instance as device_id), then read the binding it returns, then plug by its vif_type
(or the local default VIF), then wait until the port is ACTIVE. ``unplug`` removes the port's
devices and clears the binding host. Each step's duration is recorded for the output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import field_mask_pb2
from ml2.v1 import (
    binding_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)
from ml2_contract import vocabulary

from services.compute import config, links, plugs, vif, waiting

DEFAULT_DEVICE_OWNER = "compute:nova"


class ComputeError(RuntimeError):
    """Plugging or unplugging cannot go on; the message is one sentence for people."""


class BindingFailed(ComputeError):
    """The port's binding ended ``binding_failed``; ``port`` carries every driver's verdict."""

    def __init__(self, port: port_pb2.Port) -> None:
        b = port.binding
        super().__init__(
            f"port {port.id} is binding_failed on host {b.host_id}: "
            f"{b.failure_message or 'no driver could bind it'}"
        )
        self.port = port


class WaitFailed(ComputeError):
    """The port was plugged but did not become ACTIVE; ``result`` tells what was done."""

    def __init__(self, message: str, result: PlugResult, *, timed_out: bool) -> None:
        super().__init__(message)
        self.result = result
        self.timed_out = timed_out


@dataclass
class Step:
    """One step of a plug or unplug and how long it took."""

    name: str
    seconds: float
    result: str


@dataclass
class PlugResult:
    """What ``plug`` did."""

    port_id: str
    host: config.Chosen
    generation: int = 0
    vif: vif.Vif | None = None
    instance: plugs.Instance | None = None
    netns_created: bool = False
    actions: list[str] = field(default_factory=list)
    status: str = ""
    status_message: str = ""
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``ml2 compute plug --output json``."""
        v = self.vif
        return {
            "port_id": self.port_id,
            "host_id": self.host.value,
            "host_source": self.host.source,
            "binding_generation": self.generation,
            "vif_type": v.vif_type if v else "",
            "vif_details": dict(v.vif_details) if v else {},
            "vif_source": v.source if v else "",
            "default_reason": v.reason if v else "",
            "mtu": v.mtu if v else 0,
            "instance": (
                {
                    "id": self.instance.instance_id,
                    "netns": self.instance.netns,
                    "device": self.instance.device,
                    "netns_created": self.netns_created,
                }
                if self.instance
                else None
            ),
            "actions": list(self.actions),
            "status": self.status,
            "status_message": self.status_message,
            "steps": [
                {"name": s.name, "seconds": round(s.seconds, 3), "result": s.result}
                for s in self.steps
            ],
        }


@dataclass
class UnplugResult:
    """What ``unplug`` did."""

    port_id: str
    host: config.Chosen
    actions: list[str] = field(default_factory=list)
    unbound: bool = False
    binding_note: str = ""
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``ml2 compute unplug --output json``."""
        return {
            "port_id": self.port_id,
            "host_id": self.host.value,
            "host_source": self.host.source,
            "actions": list(self.actions),
            "unbound": self.unbound,
            "binding": self.binding_note,
            "steps": [
                {"name": s.name, "seconds": round(s.seconds, 3), "result": s.result}
                for s in self.steps
            ],
        }


@contextmanager
def _timed(steps: list[Step], name: str) -> Iterator[Step]:
    """Times the block as step ``name``; the block fills in the step's result."""
    step = Step(name, 0.0, "")
    start = time.monotonic()
    try:
        yield step
    finally:
        step.seconds = time.monotonic() - start
        steps.append(step)


def free_device_name(netns: str) -> str:
    """The first ``ethN`` not yet in the instance's namespace."""
    with links.Links(netns) as inside:
        taken = set(inside.names())
    return next(f"eth{i}" for i in range(1000) if f"eth{i}" not in taken)


class ComputeDriver:
    """Plugs and unplugs ports of this host through portapi and the host's dataplane."""

    def __init__(
        self,
        ports: port_service_pb2_grpc.PortServiceStub,
        networks: network_service_pb2_grpc.NetworkServiceStub,
        cfg: config.ComputeConfig,
        host: config.Chosen,
        *,
        make_host: Callable[[], plugs.Host] | None = None,
        rpc_timeout: float = 30.0,
        portapi_address: str = "portapi",
    ) -> None:
        self.ports = ports
        self.networks = networks
        self.config = cfg
        self.host = host
        self.make_host = make_host or (lambda: plugs.Host(cfg))
        self.rpc_timeout = rpc_timeout
        self.portapi_address = portapi_address

    def plug(
        self,
        port_id: str,
        instance_id: str,
        *,
        netns: str = "",
        device: str = "",
        device_owner: str = DEFAULT_DEVICE_OWNER,
        wait: bool = True,
        timeout: float = 30.0,
    ) -> PlugResult:
        """Binds ``port_id`` to this host for ``instance_id``, plugs it into the instance's
        namespace (``netns``, default the instance id, created if missing), and waits up to
        ``timeout`` seconds for ACTIVE. Raises BindingFailed, ComputeError (refusal, plug
        failure, nothing to plug), WaitFailed; gRPC errors of portapi pass through."""
        result = PlugResult(port_id, self.host)
        with _timed(result.steps, "bind") as step:
            port = self._bind(port_id, instance_id, device_owner)
            b = port.binding
            result.generation = b.generation
            if b.state == binding_pb2.BINDING_STATE_FAILED:
                step.result = "binding_failed"
                raise BindingFailed(port)
            driver = b.levels[-1].driver if b.levels else "-"
            step.result = (
                f"bound on {b.host_id}: vif_type {b.vif_type or '-'} by {driver} "
                f"(generation {b.generation})"
            )
        with _timed(result.steps, "plug") as step:
            chosen = self._choose(port)
            result.vif = chosen
            host = self.make_host()
            try:
                backend = plugs.backend_for(chosen.vif_type, host)
                instance = plugs.Instance(instance_id, netns or instance_id, device)
                if backend.needs_instance_device:
                    result.netns_created = _ensure_netns(instance.netns)
                    if not instance.device:
                        instance = plugs.Instance(
                            instance_id, instance.netns, free_device_name(instance.netns)
                        )
                result.instance = instance
                result.actions = self._plug(backend, chosen, instance)
            except plugs.PlugError as err:
                step.result = "refused" if isinstance(err, plugs.Unsupported) else "failed"
                raise ComputeError(
                    f"{err}; the port stays bound to host {self.host.value} "
                    "(`ml2 compute unplug` unbinds it)"
                ) from None
            finally:
                host.close()
            where = f" into netns {instance.netns}" if backend.needs_instance_device else ""
            step.result = f"{chosen.vif_type}{' hybrid' if chosen.hybrid else ''}{where}"
        result.status = waiting.status_name(port.status)
        result.status_message = port.status_message
        if not wait:
            return result
        with _timed(result.steps, "active") as step:
            try:
                active = waiting.wait_active(
                    self.ports.WatchPorts,
                    port_id,
                    self.host.value,
                    timeout,
                    get_port=lambda: self._get(port_id),
                    address=self.portapi_address,
                )
            except waiting.NotActive as err:
                step.result = "timed out" if err.timed_out else "failed"
                raise WaitFailed(str(err), result, timed_out=err.timed_out) from None
            result.status = waiting.status_name(active.status)
            result.status_message = active.status_message
            step.result = result.status
        return result

    def unplug(self, port_id: str) -> UnplugResult:
        """Removes the port's devices from this host, then clears its binding host if it is
        this host. Raises ComputeError; gRPC errors of portapi pass through."""
        result = UnplugResult(port_id, self.host)
        port = self._get(port_id)
        with _timed(result.steps, "unplug") as step:
            result.actions = self._unplug(port)
            step.result = f"{len(result.actions)} removed" if result.actions else "nothing found"
        with _timed(result.steps, "unbind") as step:
            bound_to = port.binding.host_id
            if bound_to and bound_to != self.host.value:
                result.binding_note = (
                    f"left bound to host {bound_to}: not this host ({self.host.value})"
                )
            elif not bound_to:
                result.binding_note = "was not bound to any host"
            else:
                self._update(port_id, host_id="")
                result.unbound = True
                result.binding_note = f"unbound from host {bound_to}"
            step.result = result.binding_note
        return result

    def _choose(self, port: port_pb2.Port) -> vif.Vif:
        details = port.binding.vif_details
        has_mtu = vocabulary.VIF_DETAILS_MTU in details.fields
        network_mtu = 0 if has_mtu else self._network_mtu(port.network_id)
        try:
            return vif.choose(port, self.config, network_mtu)
        except vif.NoVif as err:
            raise ComputeError(str(err)) from None

    def _plug(self, backend: plugs.Backend, v: vif.Vif, instance: plugs.Instance) -> list[str]:
        try:
            return backend.plug(v, instance)
        except plugs.PlugError:
            # Take away what the failed plug made, so that a retry starts from nothing.
            with suppress(plugs.PlugError):
                backend.unplug(v.port_id)
            raise

    def _unplug(self, port: port_pb2.Port) -> list[str]:
        """Runs the unplug of the backend of the port's vif type, or of every backend when the
        binding no longer says (unbound, failed, unknown)."""
        vif_type = port.binding.vif_type
        if vif_type == vocabulary.VIF_TYPE_USE_DEFAULT and self.config.default_vif is not None:
            vif_type = self.config.default_vif.vif_type
        host = self.make_host()
        try:
            backends: list[plugs.Backend] = []
            try:
                backends = [plugs.backend_for(vif_type, host)]
            except plugs.Unsupported:
                backends = [b(host) for b in plugs.BACKENDS]
            done: list[str] = []
            for backend in backends:
                try:
                    done += backend.unplug(port.id)
                except plugs.PlugError as err:
                    if len(backends) == 1:
                        raise ComputeError(str(err)) from None
                    done.append(f"skipped the {backend.vif_types[0]} devices: {err}")
            return done
        finally:
            host.close()

    def _bind(self, port_id: str, instance_id: str, device_owner: str) -> port_pb2.Port:
        return self._update(
            port_id, host_id=self.host.value, device_id=instance_id, device_owner=device_owner
        )

    def _update(self, port_id: str, **values: str) -> port_pb2.Port:
        port = port_pb2.Port(id=port_id)
        paths = []
        for name, value in values.items():
            if name == "host_id":
                port.binding.host_id = value
                paths.append("binding.host_id")
            else:
                setattr(port, name, value)
                paths.append(name)
        request = port_service_pb2.UpdatePortRequest(
            port=port, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
        reply = self.ports.UpdatePort(request, timeout=self.rpc_timeout)
        updated: port_pb2.Port = reply.port
        return updated

    def _get(self, port_id: str) -> port_pb2.Port:
        request = port_service_pb2.GetPortRequest(port_id=port_id)
        found: port_pb2.Port = self.ports.GetPort(request, timeout=self.rpc_timeout).port
        return found

    def _network_mtu(self, network_id: str) -> int:
        request = network_service_pb2.GetNetworkRequest(network_id=network_id)
        reply = self.networks.GetNetwork(request, timeout=self.rpc_timeout)
        return int(reply.network.mtu)


def _ensure_netns(name: str) -> bool:
    try:
        return links.ensure_netns(name)
    except links.LinkError as err:
        raise plugs.PlugError(str(err)) from None
