"""``python -m services.agent --type T --host H ... --simulate``, as ``ml2 agent run``."""

from __future__ import annotations

import argparse

from services.agent import runner


def main() -> None:
    """Parses the options and runs the agent until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m services.agent", description="Runs an L2 agent for one host."
    )
    runner.add_arguments(parser)
    raise SystemExit(runner.run(parser.parse_args(), prog=parser.prog))


if __name__ == "__main__":
    main()
