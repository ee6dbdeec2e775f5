from ml2.v1 import topology_pb2 as _topology_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SetHostLinkRequest(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: _topology_pb2.HostLink
    def __init__(self, link: _Optional[_Union[_topology_pb2.HostLink, _Mapping]] = ...) -> None: ...

class SetHostLinkResponse(_message.Message):
    __slots__ = ("link", "created")
    LINK_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    link: _topology_pb2.HostLink
    created: bool
    def __init__(self, link: _Optional[_Union[_topology_pb2.HostLink, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class DeleteHostLinkRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class DeleteHostLinkResponse(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: _topology_pb2.HostLink
    def __init__(self, link: _Optional[_Union[_topology_pb2.HostLink, _Mapping]] = ...) -> None: ...

class ListHostLinksRequest(_message.Message):
    __slots__ = ("host", "page_size", "page_token")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    host: str
    page_size: int
    page_token: str
    def __init__(self, host: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListHostLinksResponse(_message.Message):
    __slots__ = ("links", "next_page_token")
    LINKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    links: _containers.RepeatedCompositeFieldContainer[_topology_pb2.HostLink]
    next_page_token: str
    def __init__(self, links: _Optional[_Iterable[_Union[_topology_pb2.HostLink, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
