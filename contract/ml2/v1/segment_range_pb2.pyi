import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SegmentRange(_message.Message):
    __slots__ = ("id", "name", "network_type", "physical_network", "minimum", "maximum", "shared", "project_id", "default", "used", "available", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    network_type: str
    physical_network: str
    minimum: int
    maximum: int
    shared: bool
    project_id: str
    default: bool
    used: int
    available: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., network_type: _Optional[str] = ..., physical_network: _Optional[str] = ..., minimum: _Optional[int] = ..., maximum: _Optional[int] = ..., shared: _Optional[bool] = ..., project_id: _Optional[str] = ..., default: _Optional[bool] = ..., used: _Optional[int] = ..., available: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SegmentRangeChange(_message.Message):
    __slots__ = ("dry_run", "pool_size_before", "pool_size_after", "orphaned_count", "orphaned_ids", "adopted_count")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_AFTER_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_IDS_FIELD_NUMBER: _ClassVar[int]
    ADOPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    pool_size_before: int
    pool_size_after: int
    orphaned_count: int
    orphaned_ids: _containers.RepeatedScalarFieldContainer[int]
    adopted_count: int
    def __init__(self, dry_run: _Optional[bool] = ..., pool_size_before: _Optional[int] = ..., pool_size_after: _Optional[int] = ..., orphaned_count: _Optional[int] = ..., orphaned_ids: _Optional[_Iterable[int]] = ..., adopted_count: _Optional[int] = ...) -> None: ...

class SegmentAllocation(_message.Message):
    __slots__ = ("network_type", "physical_network", "segmentation_id", "segment_id", "network_id", "segment_range_id", "allocate_time")
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_RANGE_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOCATE_TIME_FIELD_NUMBER: _ClassVar[int]
    network_type: str
    physical_network: str
    segmentation_id: int
    segment_id: str
    network_id: str
    segment_range_id: str
    allocate_time: _timestamp_pb2.Timestamp
    def __init__(self, network_type: _Optional[str] = ..., physical_network: _Optional[str] = ..., segmentation_id: _Optional[int] = ..., segment_id: _Optional[str] = ..., network_id: _Optional[str] = ..., segment_range_id: _Optional[str] = ..., allocate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
