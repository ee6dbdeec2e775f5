"""TopologyService: proto <-> domain translation and validation only."""

from __future__ import annotations

import logging

import grpc
from ml2.v1 import topology_service_pb2 as pb
from ml2.v1 import topology_service_pb2_grpc as pb_grpc
from ml2_contract import convert

from services.mechmgr import topology, validation
from services.rpc import paging

logger = logging.getLogger(__name__)

LIST_LINKS = paging.Listing("ml2.v1.TopologyService/ListHostLinks", (str,))
"""Page tokens of ListHostLinks: the host of a page's last link."""


class TopologyServicer(pb_grpc.TopologyServiceServicer):
    """Serves the operator's topology."""

    def __init__(self, links: topology.Topology) -> None:
        self._links = links

    def SetHostLink(
        self, request: pb.SetHostLinkRequest, context: grpc.ServicerContext
    ) -> pb.SetHostLinkResponse:
        """Records the switch port a host is wired to, replacing its link."""
        link, created = self._links.set(validation.host_link(request))
        logger.info(
            "%s the link of host %s: switch %s port %s%s",
            "set" if created else "replaced",
            link.host,
            link.switch_id,
            link.port_id,
            f" on {link.physical_network}" if link.physical_network else "",
            extra={"host": link.host},
        )
        return pb.SetHostLinkResponse(link=convert.host_link_to_proto(link), created=created)

    def DeleteHostLink(
        self, request: pb.DeleteHostLinkRequest, context: grpc.ServicerContext
    ) -> pb.DeleteHostLinkResponse:
        """Removes the link of a host; drivers that need it decline the host's ports."""
        link = self._links.delete(validation.hostname("host", request.host))
        logger.info("deleted the link of host %s", link.host, extra={"host": link.host})
        return pb.DeleteHostLinkResponse(link=convert.host_link_to_proto(link))

    def ListHostLinks(
        self, request: pb.ListHostLinksRequest, context: grpc.ServicerContext
    ) -> pb.ListHostLinksResponse:
        """Lists the links in host order, optionally only the one of a host."""
        if request.host:
            validation.hostname("host", request.host)
        filters = {"host": request.host}
        position = LIST_LINKS.decode(request.page_token, filters)
        size = LIST_LINKS.size(request.page_size)
        after = None if position is None else str(position[0])
        page = self._links.list_links(host=request.host, limit=size, after=after)
        token = "" if page.next_after is None else LIST_LINKS.encode((page.next_after,), filters)
        return pb.ListHostLinksResponse(
            links=[convert.host_link_to_proto(link) for link in page.links], next_page_token=token
        )
