import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from ml2.v1 import agent_pb2 as _agent_pb2
from ml2.v1 import segment_pb2 as _segment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VnicType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VNIC_TYPE_UNSPECIFIED: _ClassVar[VnicType]
    VNIC_TYPE_NORMAL: _ClassVar[VnicType]
    VNIC_TYPE_DIRECT: _ClassVar[VnicType]
    VNIC_TYPE_MACVTAP: _ClassVar[VnicType]
    VNIC_TYPE_BAREMETAL: _ClassVar[VnicType]
    VNIC_TYPE_DIRECT_PHYSICAL: _ClassVar[VnicType]
    VNIC_TYPE_VIRTIO_FORWARDER: _ClassVar[VnicType]
    VNIC_TYPE_SMART_NIC: _ClassVar[VnicType]
    VNIC_TYPE_VDPA: _ClassVar[VnicType]
    VNIC_TYPE_ACCELERATOR_DIRECT: _ClassVar[VnicType]
    VNIC_TYPE_ACCELERATOR_DIRECT_PHYSICAL: _ClassVar[VnicType]
    VNIC_TYPE_REMOTE_MANAGED: _ClassVar[VnicType]

class BindingState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BINDING_STATE_UNSPECIFIED: _ClassVar[BindingState]
    BINDING_STATE_UNBOUND: _ClassVar[BindingState]
    BINDING_STATE_BOUND: _ClassVar[BindingState]
    BINDING_STATE_FAILED: _ClassVar[BindingState]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_COMPLETE: _ClassVar[Outcome]
    OUTCOME_CONTINUE: _ClassVar[Outcome]
    OUTCOME_DECLINE: _ClassVar[Outcome]
VNIC_TYPE_UNSPECIFIED: VnicType
VNIC_TYPE_NORMAL: VnicType
VNIC_TYPE_DIRECT: VnicType
VNIC_TYPE_MACVTAP: VnicType
VNIC_TYPE_BAREMETAL: VnicType
VNIC_TYPE_DIRECT_PHYSICAL: VnicType
VNIC_TYPE_VIRTIO_FORWARDER: VnicType
VNIC_TYPE_SMART_NIC: VnicType
VNIC_TYPE_VDPA: VnicType
VNIC_TYPE_ACCELERATOR_DIRECT: VnicType
VNIC_TYPE_ACCELERATOR_DIRECT_PHYSICAL: VnicType
VNIC_TYPE_REMOTE_MANAGED: VnicType
BINDING_STATE_UNSPECIFIED: BindingState
BINDING_STATE_UNBOUND: BindingState
BINDING_STATE_BOUND: BindingState
BINDING_STATE_FAILED: BindingState
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_COMPLETE: Outcome
OUTCOME_CONTINUE: Outcome
OUTCOME_DECLINE: Outcome

class BindingLevel(_message.Message):
    __slots__ = ("level", "driver", "segment")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    level: int
    driver: str
    segment: _segment_pb2.Segment
    def __init__(self, level: _Optional[int] = ..., driver: _Optional[str] = ..., segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class DeclineReason(_message.Message):
    __slots__ = ("code", "message", "segment_id", "details", "agent", "segment")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    segment_id: str
    details: _containers.ScalarMap[str, str]
    agent: _agent_pb2.Agent
    segment: _segment_pb2.Segment
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., segment_id: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ..., agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class DriverVerdict(_message.Message):
    __slots__ = ("level", "driver", "outcome", "segment_id", "reasons", "duration", "offered_segments")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    OFFERED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    level: int
    driver: str
    outcome: Outcome
    segment_id: str
    reasons: _containers.RepeatedCompositeFieldContainer[DeclineReason]
    duration: _duration_pb2.Duration
    offered_segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    def __init__(self, level: _Optional[int] = ..., driver: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., segment_id: _Optional[str] = ..., reasons: _Optional[_Iterable[_Union[DeclineReason, _Mapping]]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., offered_segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ...) -> None: ...

class PortBinding(_message.Message):
    __slots__ = ("host_id", "vnic_type", "profile", "vif_type", "vif_details", "state", "levels", "trace", "failure_message", "generation")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    VNIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIF_DETAILS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    vnic_type: VnicType
    profile: _struct_pb2.Struct
    vif_type: str
    vif_details: _struct_pb2.Struct
    state: BindingState
    levels: _containers.RepeatedCompositeFieldContainer[BindingLevel]
    trace: _containers.RepeatedCompositeFieldContainer[DriverVerdict]
    failure_message: str
    generation: int
    def __init__(self, host_id: _Optional[str] = ..., vnic_type: _Optional[_Union[VnicType, str]] = ..., profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., vif_type: _Optional[str] = ..., vif_details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., state: _Optional[_Union[BindingState, str]] = ..., levels: _Optional[_Iterable[_Union[BindingLevel, _Mapping]]] = ..., trace: _Optional[_Iterable[_Union[DriverVerdict, _Mapping]]] = ..., failure_message: _Optional[str] = ..., generation: _Optional[int] = ...) -> None: ...

class HostBindability(_message.Message):
    __slots__ = ("host_id", "bindable", "vif_type", "levels", "trace", "reason", "dynamic_segments")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    BINDABLE_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPE_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    bindable: bool
    vif_type: str
    levels: _containers.RepeatedCompositeFieldContainer[BindingLevel]
    trace: _containers.RepeatedCompositeFieldContainer[DriverVerdict]
    reason: str
    dynamic_segments: _containers.RepeatedCompositeFieldContainer[DynamicSegmentNeed]
    def __init__(self, host_id: _Optional[str] = ..., bindable: _Optional[bool] = ..., vif_type: _Optional[str] = ..., levels: _Optional[_Iterable[_Union[BindingLevel, _Mapping]]] = ..., trace: _Optional[_Iterable[_Union[DriverVerdict, _Mapping]]] = ..., reason: _Optional[str] = ..., dynamic_segments: _Optional[_Iterable[_Union[DynamicSegmentNeed, _Mapping]]] = ...) -> None: ...

class OriginalBinding(_message.Message):
    __slots__ = ("host_id", "vnic_type", "profile", "vif_type", "vif_details", "segment")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    VNIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIF_DETAILS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    vnic_type: VnicType
    profile: _struct_pb2.Struct
    vif_type: str
    vif_details: _struct_pb2.Struct
    segment: _segment_pb2.Segment
    def __init__(self, host_id: _Optional[str] = ..., vnic_type: _Optional[_Union[VnicType, str]] = ..., profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., vif_type: _Optional[str] = ..., vif_details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class DynamicSegmentNeed(_message.Message):
    __slots__ = ("level", "driver", "segment")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    level: int
    driver: str
    segment: _segment_pb2.SegmentSpec
    def __init__(self, level: _Optional[int] = ..., driver: _Optional[str] = ..., segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ...) -> None: ...
