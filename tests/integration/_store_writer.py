"""A separate process that saves the watchlist in a loop, for test_store_processes.py.

Usage: ``python _store_writer.py DATA_DIR PREFIX START COUNT``

Prints ``READY`` and waits for a line on stdin (so several writers can start together),
then adds ``PREFIX<n>`` for n in START..START+COUNT-1, one ``add`` (one lock, re-read,
merge and atomic write) per ID, and prints ``ACK <n>`` (flushed) as soon as each add has
returned, i.e. once that save is on disk. Prints ``DONE`` at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

from siray_tui.core.store import WatchlistStore


def main(argv: list[str]) -> int:
    data_dir, prefix, start, count = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    store = WatchlistStore(data_dir)
    print("READY", flush=True)
    sys.stdin.readline()
    for n in range(start, start + count):
        store.add([f"{prefix}{n:06d}"])
        print(f"ACK {n}", flush=True)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
