"""What a mechanism driver's own repository needs besides the contract (``ml2.v1`` and
``ml2_contract``): ``conformance``, the kit that checks a running driver process against the
driver contract.

It imports only grpc, protobuf, the generated ``ml2.v1`` modules, ``ml2_contract`` and the
standard library, never ``services``, so that it can ship on its own.
"""
