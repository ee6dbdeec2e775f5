from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class AdminState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADMIN_STATE_UNSPECIFIED: _ClassVar[AdminState]
    ADMIN_STATE_UP: _ClassVar[AdminState]
    ADMIN_STATE_DOWN: _ClassVar[AdminState]
ADMIN_STATE_UNSPECIFIED: AdminState
ADMIN_STATE_UP: AdminState
ADMIN_STATE_DOWN: AdminState
