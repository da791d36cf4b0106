"""Output files the simulator serves: real PNG images, small MP4 files and GLB models.

They are real files (not placeholder bytes) so that download code can be tested for what
matters: content types, extensions, sizes, magic numbers, and a browser that opens one.
Bytes are deterministic per (seed, task, index) and built once, then cached.
"""

from __future__ import annotations

import json
import random
import struct
import threading
import zlib
from typing import Any, Final

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
GLB_MAGIC: Final = b"glTF"
CONTENT_TYPES: Final = {"image": "image/png", "video": "video/mp4", "3d": "model/gltf-binary"}
EXTENSIONS: Final = {"image": "png", "video": "mp4", "3d": "glb"}
VIDEO_SIZES: Final = ((1280, 720), (1920, 1080), (720, 1280), (640, 480))

_FLOAT: Final = 5126  # glTF componentType codes
_UNSIGNED_SHORT: Final = 5123
_ARRAY_BUFFER: Final = 34962
_ELEMENT_ARRAY_BUFFER: Final = 34963


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


_MATRIX: Final = (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def make_mp4(rng: random.Random) -> bytes:
    """A small ISO-BMFF file: ``ftyp`` + ``moov`` (``mvhd``, one video ``trak``) + ``mdat``.

    Enough for magic-number sniffing and for reading its headers (duration, and the
    track's width and height); it holds no playable samples.
    """
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    duration_ms = rng.randint(2_000, 10_000)
    mvhd = (
        struct.pack(">IIIII", 0, 0, 0, 1000, duration_ms)  # version+flags, times, scale
        + struct.pack(">IH", 0x00010000, 0x0100)  # rate 1.0, volume 1.0
        + bytes(10)
        + struct.pack(">9I", *_MATRIX)
        + bytes(24)
        + struct.pack(">I", 2)  # next track ID
    )
    width, height = VIDEO_SIZES[rng.randrange(len(VIDEO_SIZES))]
    tkhd = (
        struct.pack(">IIIII", 0x00000003, 0, 0, 1, 0)  # enabled+in movie, times, track 1
        + struct.pack(">I", duration_ms)
        + bytes(8)
        + struct.pack(">hhhH", 0, 0, 0, 0)  # layer, group, volume 0 (video), reserved
        + struct.pack(">9I", *_MATRIX)
        + struct.pack(">II", width << 16, height << 16)  # 16.16 fixed point
    )
    hdlr = _box(b"hdlr", bytes(8) + b"vide" + bytes(12) + b"VideoHandler\x00")
    trak = _box(b"trak", _box(b"tkhd", tkhd) + _box(b"mdia", hdlr))
    moov = _box(b"moov", _box(b"mvhd", mvhd) + trak)
    mdat = _box(b"mdat", rng.randbytes(rng.randint(4_096, 16_384)))
    return ftyp + moov + mdat


Vertex = tuple[float, float, float]
Mesh = tuple[list[Vertex], list[int]]  # positions, triangle indices


def _cube(rng: random.Random) -> Mesh:
    size = rng.uniform(0.5, 1.5)
    corners = [(x * size, y * size, z * size) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    faces = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))
    indices = [i for a, b, c, d in faces for i in (a, b, c, a, c, d)]
    return corners, indices


def _tetrahedron(rng: random.Random) -> Mesh:
    size = rng.uniform(0.5, 1.5)
    points = [(1.0, 1.0, 1.0), (1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0)]
    faces = [0, 1, 2, 0, 3, 1, 0, 2, 3, 1, 3, 2]
    return [(x * size, y * size, z * size) for x, y, z in points], faces


def _terrain(rng: random.Random) -> Mesh:
    """An n x n height field: enough vertices that the file weighs a few KB."""
    n = rng.randint(6, 12)
    heights = [rng.uniform(0.0, 0.4) for _ in range(n * n)]
    positions = [(x / (n - 1), heights[z * n + x], z / (n - 1)) for z in range(n) for x in range(n)]
    indices: list[int] = []
    for z in range(n - 1):
        for x in range(n - 1):
            a = z * n + x
            indices += (a, a + n, a + 1, a + 1, a + n, a + n + 1)
    return positions, indices


def _pad(data: bytes, filler: bytes) -> bytes:
    return data + filler * (-len(data) % 4)


def make_glb(rng: random.Random) -> bytes:
    """A valid glTF 2.0 binary: header, JSON chunk, BIN chunk; 2 or 3 indexed meshes.

    A cube and a height field, and sometimes a tetrahedron: real geometry, so a viewer
    opens it and a header reader has meshes, accessors and buffer views to count.
    """
    meshes = [_cube(rng), _terrain(rng)]
    if rng.random() < 0.5:
        meshes.append(_tetrahedron(rng))
    binary = bytearray()
    accessors: list[dict[str, Any]] = []
    views: list[dict[str, Any]] = []
    gltf_meshes: list[dict[str, Any]] = []
    for positions, indices in meshes:
        primitive: dict[str, Any] = {"attributes": {"POSITION": len(accessors)}}
        views.append(
            {
                "buffer": 0,
                "byteOffset": len(binary),
                "byteLength": 12 * len(positions),
                "target": _ARRAY_BUFFER,
            }
        )
        binary += b"".join(struct.pack("<3f", *vertex) for vertex in positions)
        accessors.append(
            {
                "bufferView": len(views) - 1,
                "componentType": _FLOAT,
                "count": len(positions),
                "type": "VEC3",
                "min": [min(v[axis] for v in positions) for axis in range(3)],
                "max": [max(v[axis] for v in positions) for axis in range(3)],
            }
        )
        primitive["indices"] = len(accessors)
        views.append(
            {
                "buffer": 0,
                "byteOffset": len(binary),
                "byteLength": 2 * len(indices),
                "target": _ELEMENT_ARRAY_BUFFER,
            }
        )
        binary += struct.pack(f"<{len(indices)}H", *indices)
        binary += bytes(-len(binary) % 4)  # the next float view must be 4-aligned
        accessors.append(
            {
                "bufferView": len(views) - 1,
                "componentType": _UNSIGNED_SHORT,
                "count": len(indices),
                "type": "SCALAR",
            }
        )
        gltf_meshes.append({"primitives": [primitive]})
    document = {
        "asset": {"version": "2.0", "generator": "siray-sim"},
        "scene": 0,
        "scenes": [{"nodes": list(range(len(gltf_meshes)))}],
        "nodes": [
            {"mesh": index, "translation": [2.5 * index, 0, 0]} for index in range(len(gltf_meshes))
        ],
        "meshes": gltf_meshes,
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(binary)}],
    }
    json_chunk = _pad(json.dumps(document, separators=(",", ":")).encode(), b" ")
    bin_chunk = _pad(bytes(binary), b"\x00")
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    return (
        GLB_MAGIC
        + struct.pack("<II", 2, total)
        + struct.pack("<I", len(json_chunk))
        + b"JSON"
        + json_chunk
        + struct.pack("<I", len(bin_chunk))
        + b"BIN\x00"
        + bin_chunk
    )


def corrupt(data: bytes) -> bytes:
    """The same file with a lying header, for the hostile-content knob.

    A GLB claims a JSON chunk far longer than the file; anything else keeps its first
    16 bytes only (a box or chunk cut off mid-header).
    """
    if data.startswith(GLB_MAGIC) and len(data) >= 20:
        return data[:12] + struct.pack("<I", 0x7FFFFFF0) + data[16:]
    return data[:16]


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
        """The file for output ``index`` of a task (PNG, MP4 or GLB, after its kind)."""
        key = (task_id, index)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        rng = random.Random(f"siray-sim-media:{self.seed}:{task_id}:{index}")
        makers = {"video": make_mp4, "3d": make_glb}
        data = makers.get(kind, make_png)(rng)
        with self._lock:
            return self._cache.setdefault(key, data)
