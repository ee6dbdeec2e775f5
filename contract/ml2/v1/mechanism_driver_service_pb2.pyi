import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from ml2.v1 import agent_pb2 as _agent_pb2
from ml2.v1 import binding_pb2 as _binding_pb2
from ml2.v1 import port_pb2 as _port_pb2
from ml2.v1 import segment_pb2 as _segment_pb2
from ml2.v1 import topology_pb2 as _topology_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeDriverRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeDriverResponse(_message.Message):
    __slots__ = ("name", "supported_vnic_types", "supported_network_types", "agent_type", "connectivity", "vif_types")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_VNIC_TYPES_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_NETWORK_TYPES_FIELD_NUMBER: _ClassVar[int]
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONNECTIVITY_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    supported_vnic_types: _containers.RepeatedScalarFieldContainer[_binding_pb2.VnicType]
    supported_network_types: _containers.RepeatedScalarFieldContainer[str]
    agent_type: str
    connectivity: str
    vif_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., supported_vnic_types: _Optional[_Iterable[_Union[_binding_pb2.VnicType, str]]] = ..., supported_network_types: _Optional[_Iterable[str]] = ..., agent_type: _Optional[str] = ..., connectivity: _Optional[str] = ..., vif_types: _Optional[_Iterable[str]] = ...) -> None: ...

class ProposeBindingRequest(_message.Message):
    __slots__ = ("port_id", "network_id", "host", "vnic_type", "profile", "level", "segments_to_bind", "bound_levels", "host_agents", "agent_down_time", "host_links", "original")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VNIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_TO_BIND_FIELD_NUMBER: _ClassVar[int]
    BOUND_LEVELS_FIELD_NUMBER: _ClassVar[int]
    HOST_AGENTS_FIELD_NUMBER: _ClassVar[int]
    AGENT_DOWN_TIME_FIELD_NUMBER: _ClassVar[int]
    HOST_LINKS_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    network_id: str
    host: str
    vnic_type: _binding_pb2.VnicType
    profile: _struct_pb2.Struct
    level: int
    segments_to_bind: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    bound_levels: _containers.RepeatedCompositeFieldContainer[_binding_pb2.BindingLevel]
    host_agents: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Agent]
    agent_down_time: _duration_pb2.Duration
    host_links: _containers.RepeatedCompositeFieldContainer[_topology_pb2.HostLink]
    original: _binding_pb2.OriginalBinding
    def __init__(self, port_id: _Optional[str] = ..., network_id: _Optional[str] = ..., host: _Optional[str] = ..., vnic_type: _Optional[_Union[_binding_pb2.VnicType, str]] = ..., profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., level: _Optional[int] = ..., segments_to_bind: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., bound_levels: _Optional[_Iterable[_Union[_binding_pb2.BindingLevel, _Mapping]]] = ..., host_agents: _Optional[_Iterable[_Union[_agent_pb2.Agent, _Mapping]]] = ..., agent_down_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., host_links: _Optional[_Iterable[_Union[_topology_pb2.HostLink, _Mapping]]] = ..., original: _Optional[_Union[_binding_pb2.OriginalBinding, _Mapping]] = ...) -> None: ...

class ProposeBindingResponse(_message.Message):
    __slots__ = ("complete", "continued", "declined")
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    CONTINUED_FIELD_NUMBER: _ClassVar[int]
    DECLINED_FIELD_NUMBER: _ClassVar[int]
    complete: CompleteBinding
    continued: ContinueBinding
    declined: DeclineBinding
    def __init__(self, complete: _Optional[_Union[CompleteBinding, _Mapping]] = ..., continued: _Optional[_Union[ContinueBinding, _Mapping]] = ..., declined: _Optional[_Union[DeclineBinding, _Mapping]] = ...) -> None: ...

class CompleteBinding(_message.Message):
    __slots__ = ("segment_id", "vif_type", "vif_details", "port_status")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIF_DETAILS_FIELD_NUMBER: _ClassVar[int]
    PORT_STATUS_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    vif_type: str
    vif_details: _struct_pb2.Struct
    port_status: _port_pb2.PortStatus
    def __init__(self, segment_id: _Optional[str] = ..., vif_type: _Optional[str] = ..., vif_details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., port_status: _Optional[_Union[_port_pb2.PortStatus, str]] = ...) -> None: ...

class ContinueBinding(_message.Message):
    __slots__ = ("segment_id", "next_segments", "dynamic_segments")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    next_segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    dynamic_segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.SegmentSpec]
    def __init__(self, segment_id: _Optional[str] = ..., next_segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., dynamic_segments: _Optional[_Iterable[_Union[_segment_pb2.SegmentSpec, _Mapping]]] = ...) -> None: ...

class DeclineBinding(_message.Message):
    __slots__ = ("reasons",)
    REASONS_FIELD_NUMBER: _ClassVar[int]
    reasons: _containers.RepeatedCompositeFieldContainer[_binding_pb2.DeclineReason]
    def __init__(self, reasons: _Optional[_Iterable[_Union[_binding_pb2.DeclineReason, _Mapping]]] = ...) -> None: ...

class ProposeBindingsRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ProposeBindingRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ProposeBindingRequest, _Mapping]]] = ...) -> None: ...

class ProposeBindingsResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ProposeBindingResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[ProposeBindingResponse, _Mapping]]] = ...) -> None: ...
