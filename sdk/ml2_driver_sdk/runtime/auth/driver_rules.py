"""Who may call a mechanism driver process: the manager, and administrators (to diagnose).

The rules are policy data like any other (``ml2_driver_sdk.runtime.policy``): a driver process
installs ``Authenticator(verifier, policy=driver_policy(), method_rules=DRIVER_METHOD_RULES)``,
and an override file can replace ``driver:propose_binding`` and the others.
"""

from __future__ import annotations

from ml2_driver_sdk.runtime import policy

DRIVER_RULES = {
    "driver_caller": "service:mechmgr or role:admin",
    "driver:describe": "rule:driver_caller",
    "driver:propose_binding": "rule:driver_caller",
}

_SERVICE = "/ml2.v1.MechanismDriverService"
DRIVER_METHOD_RULES = {
    f"{_SERVICE}/DescribeDriver": "driver:describe",
    f"{_SERVICE}/ProposeBinding": "driver:propose_binding",
    f"{_SERVICE}/ProposeBindings": "driver:propose_binding",
}


def driver_policy(path: str = "") -> policy.Policy:
    """The driver rules, with those of the policy file at ``path`` replacing them."""
    return policy.load(DRIVER_RULES, path)
