"""Entry point: ``siray-tui`` and ``python -m siray_tui``."""

from __future__ import annotations

import sys


def main() -> int:
    """Parse the command line and run the command; returns the exit status."""
    from siray_tui.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
