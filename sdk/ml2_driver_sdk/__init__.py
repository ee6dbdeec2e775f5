"""The modular-l2 mechanism driver SDK: what a driver's own repository needs besides the
contract (``ml2.v1`` and ``ml2_contract``, the ``modular-l2-contract`` distribution).

- ``base``: the driver contract (``MechanismDriver``) and ``AgentlessDriver``, a driver whose
  ports need no agent, written as one method;
- ``agent_based``: ``AgentMechanismDriver``, a driver that binds where an L2 agent of its kind
  runs, written as a declaration (agent type, vif type, vif details);
- ``serve``: runs a driver as its own process (health, reflection, metrics, structured logs,
  graceful stop, configuration from the environment); ``python -m ml2_driver_sdk NAME`` serves
  any installed driver;
- ``discovery``: ``DriverSpec`` and the ``ml2.mechanism_drivers`` entry-point group a driver
  distribution declares itself in;
- ``reasons``: every reason code, what it means and what an operator does about it;
- ``conformance``: the kit that checks a running driver process against the contract, as
  ``ml2 driver check`` and as a pytest plugin;
- ``runtime``: the gRPC process plumbing the SDK shares with modular-l2's own services.

It depends on grpcio, protobuf, prometheus-client, python-json-logger and the contract, never
on modular-l2's services (``scripts/check`` enforces it with import-linter).
"""

__version__ = "0.1.0"
