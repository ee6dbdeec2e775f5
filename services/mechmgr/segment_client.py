"""Typed client of typemgr's SegmentService, for the dynamic segments of hierarchical binding."""

from __future__ import annotations

import time

import grpc
from ml2.v1 import segment_service_pb2 as pb
from ml2.v1 import segment_service_pb2_grpc as pb_grpc
from ml2_contract import convert, values
from ml2_driver_sdk.runtime import errors as rpc_errors

from services.mechmgr import errors, metrics


class SegmentClient:
    """Allocates dynamic segments from typemgr over one long-lived channel.

    With no channel (``MECHMGR_TYPEMGR_ADDRESS`` empty), every allocation raises
    TypemgrUnavailable, which a continuing driver sees as DYNAMIC_SEGMENT_UNAVAILABLE.
    """

    def __init__(self, channel: grpc.Channel | None, address: str, timeout: float) -> None:
        self._stub = pb_grpc.SegmentServiceStub(channel) if channel is not None else None
        self._address = address
        self._timeout = timeout

    def allocate_dynamic(
        self,
        network_id: str,
        spec: values.SegmentSpec,
        holder: str = "",
        generation: int = 0,
        deadline: float | None = None,
    ) -> values.Segment:
        """Returns the network's dynamic segment for ``spec``, allocating it if there is none.
        ``holder`` (the port being bound) is recorded as using it as of ``generation`` (the
        binding generation being resolved), so that typemgr keeps it until portapi syncs the
        port's holds for that generation or a newer one. The call's timeout is cut to what is
        left before ``deadline`` (a ``time.monotonic()`` instant, the resolution's caller's).

        Raises TypemgrUnavailable, or the error typemgr answered (e.g. ResourceExhausted).
        """
        if self._stub is None:
            raise errors.TypemgrUnavailable("dynamic segments need MECHMGR_TYPEMGR_ADDRESS")
        request = pb.AllocateDynamicSegmentRequest(
            network_id=network_id,
            segment=convert.spec_to_proto(spec),
            holder=holder,
            holder_generation=generation,
        )
        timeout = self._timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise errors.TypemgrUnavailable("not asked: the caller's deadline has passed")
        started = time.perf_counter()
        try:
            reply = self._stub.AllocateDynamicSegment(request, timeout=timeout)
        except grpc.RpcError as err:
            raise rpc_errors.from_rpc_error(err, peer=f"typemgr at {self._address}") from None
        finally:
            metrics.DYNAMIC_SEGMENT_CALL_SECONDS.observe(time.perf_counter() - started)
        return convert.segment_from_proto(reply.segment)
