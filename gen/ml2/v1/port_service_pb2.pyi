from google.protobuf import field_mask_pb2 as _field_mask_pb2
from ml2.v1 import port_pb2 as _port_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
