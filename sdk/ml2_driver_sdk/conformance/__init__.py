"""The conformance kit: runs the driver contract's checks against any running mechanism driver
process and reports, per rule, pass or fail with the evidence (the request sent, what came back).

- ``checks.run(address)`` returns a ``report.Report``; ``checks.CHECKS`` lists the rules.
- ``ml2 driver check ADDRESS`` prints it (``--json`` for JSON).
- ``pytest_plugin`` makes each check a test item of a driver's own test suite.
"""

from ml2_driver_sdk.conformance.checks import CHECK_IDS, CHECKS, run
from ml2_driver_sdk.conformance.report import Report, Result

__all__ = ["CHECKS", "CHECK_IDS", "Report", "Result", "run"]
