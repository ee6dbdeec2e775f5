import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ml2.v1 import binding_pb2 as _binding_pb2
from ml2.v1 import port_pb2 as _port_pb2
from ml2.v1 import segment_pb2 as _segment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_STATE_UNSPECIFIED: _ClassVar[BreakerState]
    BREAKER_STATE_CLOSED: _ClassVar[BreakerState]
    BREAKER_STATE_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_HALF_OPEN: _ClassVar[BreakerState]
BREAKER_STATE_UNSPECIFIED: BreakerState
BREAKER_STATE_CLOSED: BreakerState
BREAKER_STATE_OPEN: BreakerState
BREAKER_STATE_HALF_OPEN: BreakerState

class ResolveBindingRequest(_message.Message):
    __slots__ = ("port_id", "network_id", "host", "vnic_type", "profile", "segments", "binding_generation", "original")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VNIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    BINDING_GENERATION_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    network_id: str
    host: str
    vnic_type: _binding_pb2.VnicType
    profile: _struct_pb2.Struct
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    binding_generation: int
    original: _binding_pb2.OriginalBinding
    def __init__(self, port_id: _Optional[str] = ..., network_id: _Optional[str] = ..., host: _Optional[str] = ..., vnic_type: _Optional[_Union[_binding_pb2.VnicType, str]] = ..., profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., binding_generation: _Optional[int] = ..., original: _Optional[_Union[_binding_pb2.OriginalBinding, _Mapping]] = ...) -> None: ...

class ResolveBindingResponse(_message.Message):
    __slots__ = ("state", "vif_type", "vif_details", "levels", "trace", "failure_message", "port_status")
    STATE_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIF_DETAILS_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PORT_STATUS_FIELD_NUMBER: _ClassVar[int]
    state: _binding_pb2.BindingState
    vif_type: str
    vif_details: _struct_pb2.Struct
    levels: _containers.RepeatedCompositeFieldContainer[_binding_pb2.BindingLevel]
    trace: _containers.RepeatedCompositeFieldContainer[_binding_pb2.DriverVerdict]
    failure_message: str
    port_status: _port_pb2.PortStatus
    def __init__(self, state: _Optional[_Union[_binding_pb2.BindingState, str]] = ..., vif_type: _Optional[str] = ..., vif_details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., levels: _Optional[_Iterable[_Union[_binding_pb2.BindingLevel, _Mapping]]] = ..., trace: _Optional[_Iterable[_Union[_binding_pb2.DriverVerdict, _Mapping]]] = ..., failure_message: _Optional[str] = ..., port_status: _Optional[_Union[_port_pb2.PortStatus, str]] = ...) -> None: ...

class ListMechanismDriversRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MechanismDriverInfo(_message.Message):
    __slots__ = ("name", "address", "reachable", "supported_network_types", "agent_type", "vif_types", "supported_vnic_types", "connectivity", "error", "breaker_state", "breaker_open_time", "breaker_retry_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_NETWORK_TYPES_FIELD_NUMBER: _ClassVar[int]
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPES_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_VNIC_TYPES_FIELD_NUMBER: _ClassVar[int]
    CONNECTIVITY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    BREAKER_STATE_FIELD_NUMBER: _ClassVar[int]
    BREAKER_OPEN_TIME_FIELD_NUMBER: _ClassVar[int]
    BREAKER_RETRY_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    reachable: bool
    supported_network_types: _containers.RepeatedScalarFieldContainer[str]
    agent_type: str
    vif_types: _containers.RepeatedScalarFieldContainer[str]
    supported_vnic_types: _containers.RepeatedScalarFieldContainer[_binding_pb2.VnicType]
    connectivity: str
    error: str
    breaker_state: BreakerState
    breaker_open_time: _timestamp_pb2.Timestamp
    breaker_retry_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., reachable: _Optional[bool] = ..., supported_network_types: _Optional[_Iterable[str]] = ..., agent_type: _Optional[str] = ..., vif_types: _Optional[_Iterable[str]] = ..., supported_vnic_types: _Optional[_Iterable[_Union[_binding_pb2.VnicType, str]]] = ..., connectivity: _Optional[str] = ..., error: _Optional[str] = ..., breaker_state: _Optional[_Union[BreakerState, str]] = ..., breaker_open_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., breaker_retry_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListMechanismDriversResponse(_message.Message):
    __slots__ = ("drivers",)
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    drivers: _containers.RepeatedCompositeFieldContainer[MechanismDriverInfo]
    def __init__(self, drivers: _Optional[_Iterable[_Union[MechanismDriverInfo, _Mapping]]] = ...) -> None: ...

class ResolveBindabilityRequest(_message.Message):
    __slots__ = ("network_id", "hosts", "vnic_type", "profile", "segments")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    VNIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    hosts: _containers.RepeatedScalarFieldContainer[str]
    vnic_type: _binding_pb2.VnicType
    profile: _struct_pb2.Struct
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    def __init__(self, network_id: _Optional[str] = ..., hosts: _Optional[_Iterable[str]] = ..., vnic_type: _Optional[_Union[_binding_pb2.VnicType, str]] = ..., profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ...) -> None: ...

class ResolveBindabilityResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[_binding_pb2.HostBindability]
    def __init__(self, hosts: _Optional[_Iterable[_Union[_binding_pb2.HostBindability, _Mapping]]] = ...) -> None: ...
