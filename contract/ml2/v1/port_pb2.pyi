import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ml2.v1 import admin_state_pb2 as _admin_state_pb2
from ml2.v1 import binding_pb2 as _binding_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PortStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PORT_STATUS_UNSPECIFIED: _ClassVar[PortStatus]
    PORT_STATUS_DOWN: _ClassVar[PortStatus]
    PORT_STATUS_BUILD: _ClassVar[PortStatus]
    PORT_STATUS_ACTIVE: _ClassVar[PortStatus]
    PORT_STATUS_ERROR: _ClassVar[PortStatus]
PORT_STATUS_UNSPECIFIED: PortStatus
PORT_STATUS_DOWN: PortStatus
PORT_STATUS_BUILD: PortStatus
PORT_STATUS_ACTIVE: PortStatus
PORT_STATUS_ERROR: PortStatus

class Port(_message.Message):
    __slots__ = ("id", "network_id", "project_id", "name", "mac_address", "device_id", "device_owner", "admin_state_up", "status", "binding", "create_time", "update_time", "admin_state", "status_message", "status_agent_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_OWNER_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    network_id: str
    project_id: str
    name: str
    mac_address: str
    device_id: str
    device_owner: str
    admin_state_up: bool
    status: PortStatus
    binding: _binding_pb2.PortBinding
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    admin_state: _admin_state_pb2.AdminState
    status_message: str
    status_agent_id: str
    def __init__(self, id: _Optional[str] = ..., network_id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., mac_address: _Optional[str] = ..., device_id: _Optional[str] = ..., device_owner: _Optional[str] = ..., admin_state_up: _Optional[bool] = ..., status: _Optional[_Union[PortStatus, str]] = ..., binding: _Optional[_Union[_binding_pb2.PortBinding, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., admin_state: _Optional[_Union[_admin_state_pb2.AdminState, str]] = ..., status_message: _Optional[str] = ..., status_agent_id: _Optional[str] = ...) -> None: ...
