"""The Python face of the ``ml2.v1`` contract: its value types, its vocabulary and the
conversions to and from the generated messages.

- ``vocabulary``: vnic types, vif types, outcomes, binding states, decline reason codes and
  network types, each spelled once.
- ``values``: frozen dataclasses (Segment, SegmentSpec, BindingLevel, DeclineReason, Verdict,
  BindingResult, HostCapabilities, Agent, BindingContext, the proposals, DriverDescription).
- ``convert``: values <-> ``ml2.v1`` messages, Struct <-> dict, times and durations.

It depends only on protobuf and the generated ``ml2.v1`` modules (no database, no gRPC server,
nothing of ``services``), so that a mechanism driver or an L2 agent can use it on its own.
"""
