from ml2.v1 import segment_pb2 as _segment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateNetworkSegmentsRequest(_message.Message):
    __slots__ = ("network_id", "project_id", "segments")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    project_id: str
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.SegmentSpec]
    def __init__(self, network_id: _Optional[str] = ..., project_id: _Optional[str] = ..., segments: _Optional[_Iterable[_Union[_segment_pb2.SegmentSpec, _Mapping]]] = ...) -> None: ...

class CreateNetworkSegmentsResponse(_message.Message):
    __slots__ = ("segments", "mtu")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    mtu: int
    def __init__(self, segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., mtu: _Optional[int] = ...) -> None: ...

class ListNetworkSegmentsRequest(_message.Message):
    __slots__ = ("network_id", "include_dynamic")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DYNAMIC_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    include_dynamic: bool
    def __init__(self, network_id: _Optional[str] = ..., include_dynamic: _Optional[bool] = ...) -> None: ...

class ListNetworkSegmentsResponse(_message.Message):
    __slots__ = ("segments", "mtu")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    mtu: int
    def __init__(self, segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., mtu: _Optional[int] = ...) -> None: ...

class ReleaseNetworkSegmentsRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class ReleaseNetworkSegmentsResponse(_message.Message):
    __slots__ = ("segments",)
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    def __init__(self, segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ...) -> None: ...

class AllocateDynamicSegmentRequest(_message.Message):
    __slots__ = ("network_id", "segment", "holder", "holder_generation")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_GENERATION_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    segment: _segment_pb2.SegmentSpec
    holder: str
    holder_generation: int
    def __init__(self, network_id: _Optional[str] = ..., segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., holder: _Optional[str] = ..., holder_generation: _Optional[int] = ...) -> None: ...

class AllocateDynamicSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.Segment
    def __init__(self, segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class ReleaseDynamicSegmentRequest(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ...) -> None: ...

class ReleaseDynamicSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.Segment
    def __init__(self, segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class SyncDynamicSegmentHoldsRequest(_message.Message):
    __slots__ = ("holder", "segment_ids", "generation")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    holder: str
    segment_ids: _containers.RepeatedScalarFieldContainer[str]
    generation: int
    def __init__(self, holder: _Optional[str] = ..., segment_ids: _Optional[_Iterable[str]] = ..., generation: _Optional[int] = ...) -> None: ...

class SyncDynamicSegmentHoldsResponse(_message.Message):
    __slots__ = ("held_segment_ids", "released_segments", "not_held_segment_ids", "stale")
    HELD_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    RELEASED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NOT_HELD_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    held_segment_ids: _containers.RepeatedScalarFieldContainer[str]
    released_segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    not_held_segment_ids: _containers.RepeatedScalarFieldContainer[str]
    stale: bool
    def __init__(self, held_segment_ids: _Optional[_Iterable[str]] = ..., released_segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., not_held_segment_ids: _Optional[_Iterable[str]] = ..., stale: _Optional[bool] = ...) -> None: ...

class ListDynamicSegmentHoldsRequest(_message.Message):
    __slots__ = ("segment_id", "holder", "page_size", "page_token")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    holder: str
    page_size: int
    page_token: str
    def __init__(self, segment_id: _Optional[str] = ..., holder: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDynamicSegmentHoldsResponse(_message.Message):
    __slots__ = ("holds", "next_page_token")
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    holds: _containers.RepeatedCompositeFieldContainer[_segment_pb2.DynamicSegmentHold]
    next_page_token: str
    def __init__(self, holds: _Optional[_Iterable[_Union[_segment_pb2.DynamicSegmentHold, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ValidateSegmentRequest(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.SegmentSpec
    def __init__(self, segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ...) -> None: ...

class ValidateSegmentResponse(_message.Message):
    __slots__ = ("mtu",)
    MTU_FIELD_NUMBER: _ClassVar[int]
    mtu: int
    def __init__(self, mtu: _Optional[int] = ...) -> None: ...

class UpdateSegmentationIdRequest(_message.Message):
    __slots__ = ("segment_id", "segmentation_id")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    segmentation_id: int
    def __init__(self, segment_id: _Optional[str] = ..., segmentation_id: _Optional[int] = ...) -> None: ...

class UpdateSegmentationIdResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.Segment
    def __init__(self, segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class AddStaticSegmentRequest(_message.Message):
    __slots__ = ("network_id", "segment", "segment_id", "project_id", "minimum_mtu")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_MTU_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    segment: _segment_pb2.SegmentSpec
    segment_id: str
    project_id: str
    minimum_mtu: int
    def __init__(self, network_id: _Optional[str] = ..., segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., segment_id: _Optional[str] = ..., project_id: _Optional[str] = ..., minimum_mtu: _Optional[int] = ...) -> None: ...

class AddStaticSegmentResponse(_message.Message):
    __slots__ = ("segment", "segments", "mtu")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.Segment
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    mtu: int
    def __init__(self, segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., mtu: _Optional[int] = ...) -> None: ...

class RemoveStaticSegmentRequest(_message.Message):
    __slots__ = ("network_id", "segment_id")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    segment_id: str
    def __init__(self, network_id: _Optional[str] = ..., segment_id: _Optional[str] = ...) -> None: ...

class RemoveStaticSegmentResponse(_message.Message):
    __slots__ = ("segment", "segments", "mtu")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.Segment
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    mtu: int
    def __init__(self, segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., mtu: _Optional[int] = ...) -> None: ...
