import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HostCapabilities(_message.Message):
    __slots__ = ("bridge_mappings", "interface_mappings", "tunnel_types", "local_ip", "integration_bridge", "datapath_type", "ovs_hybrid_plug", "port_filter", "iface_types", "vhostuser_socket_dir", "network_types", "vswitch_mappings", "device_mappings", "baremetal_smartnic", "hw_offload", "extensions")
    class BridgeMappingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class InterfaceMappingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class VswitchMappingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class DeviceMappingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: DeviceList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[DeviceList, _Mapping]] = ...) -> None: ...
    BRIDGE_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_TYPES_FIELD_NUMBER: _ClassVar[int]
    LOCAL_IP_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_BRIDGE_FIELD_NUMBER: _ClassVar[int]
    DATAPATH_TYPE_FIELD_NUMBER: _ClassVar[int]
    OVS_HYBRID_PLUG_FIELD_NUMBER: _ClassVar[int]
    PORT_FILTER_FIELD_NUMBER: _ClassVar[int]
    IFACE_TYPES_FIELD_NUMBER: _ClassVar[int]
    VHOSTUSER_SOCKET_DIR_FIELD_NUMBER: _ClassVar[int]
    NETWORK_TYPES_FIELD_NUMBER: _ClassVar[int]
    VSWITCH_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    BAREMETAL_SMARTNIC_FIELD_NUMBER: _ClassVar[int]
    HW_OFFLOAD_FIELD_NUMBER: _ClassVar[int]
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    bridge_mappings: _containers.ScalarMap[str, str]
    interface_mappings: _containers.ScalarMap[str, str]
    tunnel_types: _containers.RepeatedScalarFieldContainer[str]
    local_ip: str
    integration_bridge: str
    datapath_type: str
    ovs_hybrid_plug: bool
    port_filter: bool
    iface_types: _containers.RepeatedScalarFieldContainer[str]
    vhostuser_socket_dir: str
    network_types: _containers.RepeatedScalarFieldContainer[str]
    vswitch_mappings: _containers.ScalarMap[str, str]
    device_mappings: _containers.MessageMap[str, DeviceList]
    baremetal_smartnic: bool
    hw_offload: bool
    extensions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, bridge_mappings: _Optional[_Mapping[str, str]] = ..., interface_mappings: _Optional[_Mapping[str, str]] = ..., tunnel_types: _Optional[_Iterable[str]] = ..., local_ip: _Optional[str] = ..., integration_bridge: _Optional[str] = ..., datapath_type: _Optional[str] = ..., ovs_hybrid_plug: _Optional[bool] = ..., port_filter: _Optional[bool] = ..., iface_types: _Optional[_Iterable[str]] = ..., vhostuser_socket_dir: _Optional[str] = ..., network_types: _Optional[_Iterable[str]] = ..., vswitch_mappings: _Optional[_Mapping[str, str]] = ..., device_mappings: _Optional[_Mapping[str, DeviceList]] = ..., baremetal_smartnic: _Optional[bool] = ..., hw_offload: _Optional[bool] = ..., extensions: _Optional[_Iterable[str]] = ...) -> None: ...

class DeviceList(_message.Message):
    __slots__ = ("devices",)
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, devices: _Optional[_Iterable[str]] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("id", "agent_type", "host", "binary", "capabilities", "alive", "heartbeat_time", "create_time", "admin_state_up", "revision")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_type: str
    host: str
    binary: str
    capabilities: HostCapabilities
    alive: bool
    heartbeat_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    admin_state_up: bool
    revision: int
    def __init__(self, id: _Optional[str] = ..., agent_type: _Optional[str] = ..., host: _Optional[str] = ..., binary: _Optional[str] = ..., capabilities: _Optional[_Union[HostCapabilities, _Mapping]] = ..., alive: _Optional[bool] = ..., heartbeat_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., admin_state_up: _Optional[bool] = ..., revision: _Optional[int] = ...) -> None: ...
