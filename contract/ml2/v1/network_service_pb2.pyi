from google.protobuf import field_mask_pb2 as _field_mask_pb2
from ml2.v1 import network_pb2 as _network_pb2
from ml2.v1 import segment_pb2 as _segment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateNetworkRequest(_message.Message):
    __slots__ = ("network", "segments", "request_id")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    network: _network_pb2.Network
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.SegmentSpec]
    request_id: str
    def __init__(self, network: _Optional[_Union[_network_pb2.Network, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_segment_pb2.SegmentSpec, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: _network_pb2.Network
    def __init__(self, network: _Optional[_Union[_network_pb2.Network, _Mapping]] = ...) -> None: ...

class GetNetworkRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class GetNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: _network_pb2.Network
    def __init__(self, network: _Optional[_Union[_network_pb2.Network, _Mapping]] = ...) -> None: ...

class ListNetworksRequest(_message.Message):
    __slots__ = ("project_id", "page_size", "page_token")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    page_size: int
    page_token: str
    def __init__(self, project_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListNetworksResponse(_message.Message):
    __slots__ = ("networks", "next_page_token")
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[_network_pb2.Network]
    next_page_token: str
    def __init__(self, networks: _Optional[_Iterable[_Union[_network_pb2.Network, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateNetworkRequest(_message.Message):
    __slots__ = ("network", "update_mask", "segmentation_id")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_ID_FIELD_NUMBER: _ClassVar[int]
    network: _network_pb2.Network
    update_mask: _field_mask_pb2.FieldMask
    segmentation_id: int
    def __init__(self, network: _Optional[_Union[_network_pb2.Network, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., segmentation_id: _Optional[int] = ...) -> None: ...

class UpdateNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: _network_pb2.Network
    def __init__(self, network: _Optional[_Union[_network_pb2.Network, _Mapping]] = ...) -> None: ...

class AddNetworkSegmentRequest(_message.Message):
    __slots__ = ("network_id", "segment", "request_id")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    segment: _segment_pb2.SegmentSpec
    request_id: str
    def __init__(self, network_id: _Optional[str] = ..., segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddNetworkSegmentResponse(_message.Message):
    __slots__ = ("network", "segment")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    network: _network_pb2.Network
    segment: _segment_pb2.Segment
    def __init__(self, network: _Optional[_Union[_network_pb2.Network, _Mapping]] = ..., segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class RemoveNetworkSegmentRequest(_message.Message):
    __slots__ = ("network_id", "segment_id")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    segment_id: str
    def __init__(self, network_id: _Optional[str] = ..., segment_id: _Optional[str] = ...) -> None: ...

class RemoveNetworkSegmentResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: _network_pb2.Network
    def __init__(self, network: _Optional[_Union[_network_pb2.Network, _Mapping]] = ...) -> None: ...

class DeleteNetworkRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class DeleteNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: _network_pb2.Network
    def __init__(self, network: _Optional[_Union[_network_pb2.Network, _Mapping]] = ...) -> None: ...
