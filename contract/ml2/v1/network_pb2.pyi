import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ml2.v1 import admin_state_pb2 as _admin_state_pb2
from ml2.v1 import segment_pb2 as _segment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Network(_message.Message):
    __slots__ = ("id", "name", "project_id", "shared", "admin_state_up", "segments", "mtu", "create_time", "admin_state")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    project_id: str
    shared: bool
    admin_state_up: bool
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    mtu: int
    create_time: _timestamp_pb2.Timestamp
    admin_state: _admin_state_pb2.AdminState
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ..., shared: _Optional[bool] = ..., admin_state_up: _Optional[bool] = ..., segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., mtu: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., admin_state: _Optional[_Union[_admin_state_pb2.AdminState, str]] = ...) -> None: ...
