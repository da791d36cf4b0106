"""Image files that attack an image decoder, served at ``/files-hostile/{name}.png``.

Each one is built once (deterministically) and cached. Use one as a task's literal output,
e.g. ``scenario.add_task("image", outputs=["{base}/files-hostile/bomb.png"])``.

==============  ==========================================================================
``lying``       a valid PNG header claiming 10,000 x 10,000 RGB pixels, with 1 pixel of data
``truncated``   a real 64 x 64 PNG cut off in the middle of its pixel data
``bomb``        a real 20,000 x 20,000 one-bit PNG (about 50 KB): 400 million pixels
``not-image``   an HTML page, served as ``image/png``
``large``       a real 4,096 x 4,096 RGB PNG (for the preview benchmark)
==============  ==========================================================================
"""

from __future__ import annotations

import functools
import random
import struct
import zlib
from collections.abc import Callable
from typing import Final

from siray_tui.sim.media import PNG_SIGNATURE, _png_chunk, make_png

_NOT_AN_IMAGE: Final = b"<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>\n"


def _png(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", raw)
        + _png_chunk(b"IEND", b"")
    )


def lying_png() -> bytes:
    """A header that promises 100 million pixels (300 MB decoded), and one pixel behind it.

    Big enough to need refusing, small enough that Pillow's own guard (at 179 million)
    only warns: what stops it must be the reader's own check.
    """
    return _png(10_000, 10_000, 8, 2, zlib.compress(b"\x00\xff\x00\x00"))


def truncated_png() -> bytes:
    """A real image, cut in the middle of its IDAT chunk (no CRC, no IEND)."""
    whole = make_png(random.Random("siray-sim-truncated"), 64, 64)
    return whole[: len(whole) // 2]


def bomb_png() -> bytes:
    """20,000 x 20,000 pixels of one-bit black: tiny on the wire, 1.2 GB as RGB."""
    width = height = 20_000
    row = b"\x00" + bytes((width + 7) // 8)
    packer = zlib.compressobj(9)
    raw = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return _png(width, height, 1, 0, raw)


def large_png(size: int = 4096) -> bytes:
    """A real ``size`` x ``size`` RGB gradient; each row a rotation of one line (fast)."""
    line = bytes((x * 3 + channel * 85) & 0xFF for x in range(size) for channel in range(3))
    packer = zlib.compressobj(1)
    parts = []
    for y in range(size):
        shift = (y * 3) % len(line)
        parts.append(packer.compress(b"\x00" + line[shift:] + line[:shift]))
    parts.append(packer.flush())
    return _png(size, size, 8, 2, b"".join(parts))


HOSTILE_IMAGES: Final[dict[str, tuple[Callable[[], bytes], str]]] = {
    "lying": (lying_png, "image/png"),
    "truncated": (truncated_png, "image/png"),
    "bomb": (bomb_png, "image/png"),
    "not-image": (lambda: _NOT_AN_IMAGE, "image/png"),
    "large": (large_png, "image/png"),
}
"""Name -> (builder, the content type it is served with)."""


@functools.cache
def hostile_image(name: str) -> tuple[bytes, str] | None:
    """The bytes and content type of a hostile image, or None for an unknown name."""
    entry = HOSTILE_IMAGES.get(name)
    if entry is None:
        return None
    build, content_type = entry
    return build(), content_type
