"""Entry point: ``siray-tui`` and ``python -m siray_tui``."""

from __future__ import annotations

import sys


def main() -> int:
    """Parse the command line and run the command; returns the exit status.

    A reader of stdout that goes away (``siray-tui list --json | head -1``) ends the
    command quietly with status 141; see :mod:`siray_tui.cli.pipes`.
    """
    from siray_tui.cli import main as cli_main
    from siray_tui.cli.pipes import EXIT_READER_GONE, silence_output

    try:
        status = cli_main(sys.argv[1:])
        sys.stdout.flush()  # the last buffered lines meet a closed pipe here, not at exit
    except BrokenPipeError:  # a write that did not go through the guarded stream
        silence_output()
        return EXIT_READER_GONE
    return status


if __name__ == "__main__":
    sys.exit(main())
