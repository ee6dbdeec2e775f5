from google.protobuf import field_mask_pb2 as _field_mask_pb2
from ml2.v1 import segment_range_pb2 as _segment_range_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateSegmentRangeRequest(_message.Message):
    __slots__ = ("segment_range",)
    SEGMENT_RANGE_FIELD_NUMBER: _ClassVar[int]
    segment_range: _segment_range_pb2.SegmentRange
    def __init__(self, segment_range: _Optional[_Union[_segment_range_pb2.SegmentRange, _Mapping]] = ...) -> None: ...

class CreateSegmentRangeResponse(_message.Message):
    __slots__ = ("segment_range",)
    SEGMENT_RANGE_FIELD_NUMBER: _ClassVar[int]
    segment_range: _segment_range_pb2.SegmentRange
    def __init__(self, segment_range: _Optional[_Union[_segment_range_pb2.SegmentRange, _Mapping]] = ...) -> None: ...

class GetSegmentRangeRequest(_message.Message):
    __slots__ = ("segment_range_id",)
    SEGMENT_RANGE_ID_FIELD_NUMBER: _ClassVar[int]
    segment_range_id: str
    def __init__(self, segment_range_id: _Optional[str] = ...) -> None: ...

class GetSegmentRangeResponse(_message.Message):
    __slots__ = ("segment_range",)
    SEGMENT_RANGE_FIELD_NUMBER: _ClassVar[int]
    segment_range: _segment_range_pb2.SegmentRange
    def __init__(self, segment_range: _Optional[_Union[_segment_range_pb2.SegmentRange, _Mapping]] = ...) -> None: ...

class ListSegmentRangesRequest(_message.Message):
    __slots__ = ("network_type", "physical_network", "project_id", "shared", "default", "page_size", "page_token")
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    network_type: str
    physical_network: str
    project_id: str
    shared: bool
    default: bool
    page_size: int
    page_token: str
    def __init__(self, network_type: _Optional[str] = ..., physical_network: _Optional[str] = ..., project_id: _Optional[str] = ..., shared: _Optional[bool] = ..., default: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSegmentRangesResponse(_message.Message):
    __slots__ = ("segment_ranges", "next_page_token")
    SEGMENT_RANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segment_ranges: _containers.RepeatedCompositeFieldContainer[_segment_range_pb2.SegmentRange]
    next_page_token: str
    def __init__(self, segment_ranges: _Optional[_Iterable[_Union[_segment_range_pb2.SegmentRange, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateSegmentRangeRequest(_message.Message):
    __slots__ = ("segment_range", "update_mask", "dry_run")
    SEGMENT_RANGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    segment_range: _segment_range_pb2.SegmentRange
    update_mask: _field_mask_pb2.FieldMask
    dry_run: bool
    def __init__(self, segment_range: _Optional[_Union[_segment_range_pb2.SegmentRange, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class UpdateSegmentRangeResponse(_message.Message):
    __slots__ = ("segment_range", "change")
    SEGMENT_RANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    segment_range: _segment_range_pb2.SegmentRange
    change: _segment_range_pb2.SegmentRangeChange
    def __init__(self, segment_range: _Optional[_Union[_segment_range_pb2.SegmentRange, _Mapping]] = ..., change: _Optional[_Union[_segment_range_pb2.SegmentRangeChange, _Mapping]] = ...) -> None: ...

class DeleteSegmentRangeRequest(_message.Message):
    __slots__ = ("segment_range_id", "dry_run")
    SEGMENT_RANGE_ID_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    segment_range_id: str
    dry_run: bool
    def __init__(self, segment_range_id: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class DeleteSegmentRangeResponse(_message.Message):
    __slots__ = ("segment_range", "change")
    SEGMENT_RANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    segment_range: _segment_range_pb2.SegmentRange
    change: _segment_range_pb2.SegmentRangeChange
    def __init__(self, segment_range: _Optional[_Union[_segment_range_pb2.SegmentRange, _Mapping]] = ..., change: _Optional[_Union[_segment_range_pb2.SegmentRangeChange, _Mapping]] = ...) -> None: ...

class ListSegmentAllocationsRequest(_message.Message):
    __slots__ = ("network_type", "physical_network", "outside_ranges", "page_size", "page_token")
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    OUTSIDE_RANGES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    network_type: str
    physical_network: str
    outside_ranges: bool
    page_size: int
    page_token: str
    def __init__(self, network_type: _Optional[str] = ..., physical_network: _Optional[str] = ..., outside_ranges: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSegmentAllocationsResponse(_message.Message):
    __slots__ = ("segment_allocations", "next_page_token")
    SEGMENT_ALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segment_allocations: _containers.RepeatedCompositeFieldContainer[_segment_range_pb2.SegmentAllocation]
    next_page_token: str
    def __init__(self, segment_allocations: _Optional[_Iterable[_Union[_segment_range_pb2.SegmentAllocation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
