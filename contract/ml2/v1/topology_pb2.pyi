import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HostLink(_message.Message):
    __slots__ = ("host", "switch_id", "port_id", "switch_info", "physical_network", "update_time")
    HOST_FIELD_NUMBER: _ClassVar[int]
    SWITCH_ID_FIELD_NUMBER: _ClassVar[int]
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    SWITCH_INFO_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    host: str
    switch_id: str
    port_id: str
    switch_info: str
    physical_network: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, host: _Optional[str] = ..., switch_id: _Optional[str] = ..., port_id: _Optional[str] = ..., switch_info: _Optional[str] = ..., physical_network: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
