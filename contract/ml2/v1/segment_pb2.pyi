from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Segment(_message.Message):
    __slots__ = ("id", "network_id", "network_type", "physical_network", "segmentation_id", "mtu", "is_dynamic", "segment_index")
    ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_ID_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    IS_DYNAMIC_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_INDEX_FIELD_NUMBER: _ClassVar[int]
    id: str
    network_id: str
    network_type: str
    physical_network: str
    segmentation_id: int
    mtu: int
    is_dynamic: bool
    segment_index: int
    def __init__(self, id: _Optional[str] = ..., network_id: _Optional[str] = ..., network_type: _Optional[str] = ..., physical_network: _Optional[str] = ..., segmentation_id: _Optional[int] = ..., mtu: _Optional[int] = ..., is_dynamic: _Optional[bool] = ..., segment_index: _Optional[int] = ...) -> None: ...

class SegmentSpec(_message.Message):
    __slots__ = ("network_type", "physical_network", "segmentation_id")
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_ID_FIELD_NUMBER: _ClassVar[int]
    network_type: str
    physical_network: str
    segmentation_id: int
    def __init__(self, network_type: _Optional[str] = ..., physical_network: _Optional[str] = ..., segmentation_id: _Optional[int] = ...) -> None: ...

class DynamicSegmentHold(_message.Message):
    __slots__ = ("segment_id", "holder", "generation")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    holder: str
    generation: int
    def __init__(self, segment_id: _Optional[str] = ..., holder: _Optional[str] = ..., generation: _Optional[int] = ...) -> None: ...
