import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ml2.v1 import binding_pb2 as _binding_pb2
from ml2.v1 import port_pb2 as _port_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PortEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PORT_EVENT_TYPE_UNSPECIFIED: _ClassVar[PortEventType]
    PORT_EVENT_TYPE_CREATED: _ClassVar[PortEventType]
    PORT_EVENT_TYPE_UPDATED: _ClassVar[PortEventType]
    PORT_EVENT_TYPE_DELETED: _ClassVar[PortEventType]
    PORT_EVENT_TYPE_VIF_PLUGGED: _ClassVar[PortEventType]
    PORT_EVENT_TYPE_VIF_UNPLUGGED: _ClassVar[PortEventType]
    PORT_EVENT_TYPE_SNAPSHOT: _ClassVar[PortEventType]

class DeviceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_STATE_UNSPECIFIED: _ClassVar[DeviceState]
    DEVICE_STATE_UP: _ClassVar[DeviceState]
    DEVICE_STATE_DOWN: _ClassVar[DeviceState]
    DEVICE_STATE_ERROR: _ClassVar[DeviceState]

class DeviceReportResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_REPORT_RESULT_UNSPECIFIED: _ClassVar[DeviceReportResult]
    DEVICE_REPORT_RESULT_APPLIED: _ClassVar[DeviceReportResult]
    DEVICE_REPORT_RESULT_NOT_FOUND: _ClassVar[DeviceReportResult]
    DEVICE_REPORT_RESULT_NOT_BOUND_HERE: _ClassVar[DeviceReportResult]
    DEVICE_REPORT_RESULT_STALE_GENERATION: _ClassVar[DeviceReportResult]
PORT_EVENT_TYPE_UNSPECIFIED: PortEventType
PORT_EVENT_TYPE_CREATED: PortEventType
PORT_EVENT_TYPE_UPDATED: PortEventType
PORT_EVENT_TYPE_DELETED: PortEventType
PORT_EVENT_TYPE_VIF_PLUGGED: PortEventType
PORT_EVENT_TYPE_VIF_UNPLUGGED: PortEventType
PORT_EVENT_TYPE_SNAPSHOT: PortEventType
DEVICE_STATE_UNSPECIFIED: DeviceState
DEVICE_STATE_UP: DeviceState
DEVICE_STATE_DOWN: DeviceState
DEVICE_STATE_ERROR: DeviceState
DEVICE_REPORT_RESULT_UNSPECIFIED: DeviceReportResult
DEVICE_REPORT_RESULT_APPLIED: DeviceReportResult
DEVICE_REPORT_RESULT_NOT_FOUND: DeviceReportResult
DEVICE_REPORT_RESULT_NOT_BOUND_HERE: DeviceReportResult
DEVICE_REPORT_RESULT_STALE_GENERATION: DeviceReportResult

class CreatePortRequest(_message.Message):
    __slots__ = ("port", "request_id")
    PORT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    port: _port_pb2.Port
    request_id: str
    def __init__(self, port: _Optional[_Union[_port_pb2.Port, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreatePortResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: _port_pb2.Port
    def __init__(self, port: _Optional[_Union[_port_pb2.Port, _Mapping]] = ...) -> None: ...

class GetPortRequest(_message.Message):
    __slots__ = ("port_id",)
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    def __init__(self, port_id: _Optional[str] = ...) -> None: ...

class GetPortResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: _port_pb2.Port
    def __init__(self, port: _Optional[_Union[_port_pb2.Port, _Mapping]] = ...) -> None: ...

class ListPortsRequest(_message.Message):
    __slots__ = ("network_id", "host_id", "device_id", "project_id", "page_size", "page_token")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    host_id: str
    device_id: str
    project_id: str
    page_size: int
    page_token: str
    def __init__(self, network_id: _Optional[str] = ..., host_id: _Optional[str] = ..., device_id: _Optional[str] = ..., project_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPortsResponse(_message.Message):
    __slots__ = ("ports", "next_page_token")
    PORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ports: _containers.RepeatedCompositeFieldContainer[_port_pb2.Port]
    next_page_token: str
    def __init__(self, ports: _Optional[_Iterable[_Union[_port_pb2.Port, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePortRequest(_message.Message):
    __slots__ = ("port", "update_mask")
    PORT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    port: _port_pb2.Port
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, port: _Optional[_Union[_port_pb2.Port, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePortResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: _port_pb2.Port
    def __init__(self, port: _Optional[_Union[_port_pb2.Port, _Mapping]] = ...) -> None: ...

class DeletePortRequest(_message.Message):
    __slots__ = ("port_id",)
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    def __init__(self, port_id: _Optional[str] = ...) -> None: ...

class DeletePortResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: _port_pb2.Port
    def __init__(self, port: _Optional[_Union[_port_pb2.Port, _Mapping]] = ...) -> None: ...

class WatchPortsRequest(_message.Message):
    __slots__ = ("host_ids", "network_ids", "port_ids", "after_revision", "snapshot", "max_batch")
    HOST_IDS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_IDS_FIELD_NUMBER: _ClassVar[int]
    PORT_IDS_FIELD_NUMBER: _ClassVar[int]
    AFTER_REVISION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    host_ids: _containers.RepeatedScalarFieldContainer[str]
    network_ids: _containers.RepeatedScalarFieldContainer[str]
    port_ids: _containers.RepeatedScalarFieldContainer[str]
    after_revision: int
    snapshot: bool
    max_batch: int
    def __init__(self, host_ids: _Optional[_Iterable[str]] = ..., network_ids: _Optional[_Iterable[str]] = ..., port_ids: _Optional[_Iterable[str]] = ..., after_revision: _Optional[int] = ..., snapshot: _Optional[bool] = ..., max_batch: _Optional[int] = ...) -> None: ...

class PortEvent(_message.Message):
    __slots__ = ("revision", "type", "port", "time", "previous_host_id")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_HOST_ID_FIELD_NUMBER: _ClassVar[int]
    revision: int
    type: PortEventType
    port: _port_pb2.Port
    time: _timestamp_pb2.Timestamp
    previous_host_id: str
    def __init__(self, revision: _Optional[int] = ..., type: _Optional[_Union[PortEventType, str]] = ..., port: _Optional[_Union[_port_pb2.Port, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_host_id: _Optional[str] = ...) -> None: ...

class Synced(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class Resync(_message.Message):
    __slots__ = ("oldest_revision", "message")
    OLDEST_REVISION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    oldest_revision: int
    message: str
    def __init__(self, oldest_revision: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class WatchPortsResponse(_message.Message):
    __slots__ = ("event", "synced", "resync", "events")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SYNCED_FIELD_NUMBER: _ClassVar[int]
    RESYNC_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    event: PortEvent
    synced: Synced
    resync: Resync
    events: PortEventBatch
    def __init__(self, event: _Optional[_Union[PortEvent, _Mapping]] = ..., synced: _Optional[_Union[Synced, _Mapping]] = ..., resync: _Optional[_Union[Resync, _Mapping]] = ..., events: _Optional[_Union[PortEventBatch, _Mapping]] = ...) -> None: ...

class PortEventBatch(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[PortEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[PortEvent, _Mapping]]] = ...) -> None: ...

class DeviceReport(_message.Message):
    __slots__ = ("port_id", "state", "binding_generation", "message")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BINDING_GENERATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    state: DeviceState
    binding_generation: int
    message: str
    def __init__(self, port_id: _Optional[str] = ..., state: _Optional[_Union[DeviceState, str]] = ..., binding_generation: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class ReportDeviceStatusRequest(_message.Message):
    __slots__ = ("host_id", "agent_id", "devices")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    agent_id: str
    devices: _containers.RepeatedCompositeFieldContainer[DeviceReport]
    def __init__(self, host_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[DeviceReport, _Mapping]]] = ...) -> None: ...

class DeviceReportOutcome(_message.Message):
    __slots__ = ("port_id", "result", "port")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    result: DeviceReportResult
    port: _port_pb2.Port
    def __init__(self, port_id: _Optional[str] = ..., result: _Optional[_Union[DeviceReportResult, str]] = ..., port: _Optional[_Union[_port_pb2.Port, _Mapping]] = ...) -> None: ...

class ReportDeviceStatusResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[DeviceReportOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[DeviceReportOutcome, _Mapping]]] = ...) -> None: ...

class CheckBindableRequest(_message.Message):
    __slots__ = ("host_ids", "network_id", "vnic_type", "profile")
    HOST_IDS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    VNIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    host_ids: _containers.RepeatedScalarFieldContainer[str]
    network_id: str
    vnic_type: _binding_pb2.VnicType
    profile: _struct_pb2.Struct
    def __init__(self, host_ids: _Optional[_Iterable[str]] = ..., network_id: _Optional[str] = ..., vnic_type: _Optional[_Union[_binding_pb2.VnicType, str]] = ..., profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CheckBindableResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[_binding_pb2.HostBindability]
    def __init__(self, hosts: _Optional[_Iterable[_Union[_binding_pb2.HostBindability, _Mapping]]] = ...) -> None: ...
