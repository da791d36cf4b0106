"""Output files the simulator serves: real PNG images and small, well-formed MP4 files.

They are real files (not placeholder bytes) so that download code can be tested for what
matters: content types, extensions, sizes, magic numbers, and a browser that opens one.
Bytes are deterministic per (seed, task, index) and built once, then cached.
"""

from __future__ import annotations

import random
import struct
import threading
import zlib
from typing import Final

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
CONTENT_TYPES: Final = {"image": "image/png", "video": "video/mp4"}
EXTENSIONS: Final = {"image": "png", "video": "mp4"}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def make_png(rng: random.Random, width: int = 64, height: int = 64) -> bytes:
    """A valid 8-bit RGB PNG: a diagonal gradient between two random colours, plus noise.

    The gradient makes a demo's "open in browser" show something recognisable; the
    noise keeps the file from compressing to nothing, so sizes look like real outputs.
    """
    start = [rng.randrange(256) for _ in range(3)]
    end = [rng.randrange(256) for _ in range(3)]
    noise = rng.randbytes(width * height * 3)
    span = max(width + height - 2, 1)
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type None for this scanline
        for x in range(width):
            t = (x + y) / span
            base = (y * width + x) * 3
            for channel in range(3):
                value = start[channel] + (end[channel] - start[channel]) * t
                value += noise[base + channel] / 8 - 16
                raw.append(min(255, max(0, int(value))))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 6))
        + _png_chunk(b"IEND", b"")
    )


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def make_mp4(rng: random.Random) -> bytes:
    """A small ISO-BMFF file: ``ftyp`` + ``moov`` (with an ``mvhd``) + ``mdat``.

    Enough for magic-number sniffing and content checks; it holds no playable track.
    """
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    duration_ms = rng.randint(2_000, 10_000)
    matrix = (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
    mvhd = (
        struct.pack(">IIIII", 0, 0, 0, 1000, duration_ms)  # version+flags, times, scale
        + struct.pack(">IH", 0x00010000, 0x0100)  # rate 1.0, volume 1.0
        + bytes(10)
        + struct.pack(">9I", *matrix)
        + bytes(24)
        + struct.pack(">I", 2)  # next track ID
    )
    moov = _box(b"moov", _box(b"mvhd", mvhd))
    mdat = _box(b"mdat", rng.randbytes(rng.randint(4_096, 16_384)))
    return ftyp + moov + mdat


class MediaStore:
    """Builds and caches the bytes of every served output file.

    Args:
        seed: with the task ID and output index, fixes the bytes of each file.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._cache: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    def get(self, task_id: str, kind: str, index: int) -> bytes:
        """The file for output ``index`` of a task (PNG for images, MP4 for videos)."""
        key = (task_id, index)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        rng = random.Random(f"siray-sim-media:{self.seed}:{task_id}:{index}")
        data = make_mp4(rng) if kind == "video" else make_png(rng)
        with self._lock:
            return self._cache.setdefault(key, data)
