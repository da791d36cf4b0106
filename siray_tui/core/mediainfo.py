"""What an output file's header tells: a GLB's meshes and vertices, an MP4's size and length.

Pure functions over the bytes they are given: no I/O, no decoding of pixels or geometry.
The bytes come from a server (untrusted) and are often only the first part of the file
(the details screen fetches the first 256 KiB), so every length in a header is checked
against the bytes really there before it is used; the JSON chunk of a GLB is capped
(:data:`MAX_JSON_BYTES`) and the box walk of an MP4 stops after :data:`MAX_BOXES` boxes.
A corrupt, truncated or lying header gives a :class:`MediaInfo` whose ``problem`` is a
one-line reason; :func:`describe` never raises.

GLB (glTF 2.0 binary): a 12-byte header (``glTF``, version 2, total length), then chunks
of (length, type, data), the first one ``JSON``. Vertices are the ``count`` of every
primitive's ``POSITION`` accessor; triangles come from its ``indices`` accessor (or its
vertices) and its mode. MP4 (ISO BMFF): boxes of (size, type, data); ``ftyp`` names the
brand, ``moov/mvhd`` the duration and its timescale, and the ``tkhd`` of the video track
(``mdia/hdlr`` of type ``vide``) its width and height.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, replace
from typing import Any, Final

from siray_tui.core.filetypes import FALLBACK_EXTENSION, extension_for, format_size
from siray_tui.core.report import plural
from siray_tui.core.text import clean_text, first_line

MAX_JSON_BYTES: Final = 1024 * 1024
MAX_BOXES: Final = 512
GLB_MAGIC: Final = b"glTF"
_JSON_CHUNK: Final = b"JSON"
_GLB_HEADER: Final = 12
_CHUNK_HEADER: Final = 8
_MAX_COUNT: Final = 2**53  # beyond what any real file holds: a lying header
_TRIANGLES: Final = 4
_TRIANGLE_STRIP_OR_FAN: Final = (5, 6)
_UNKNOWN_DURATION: Final = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)


class _Unreadable(Exception):
    """Internal: the header cannot be read, for the one-line reason given."""


@dataclass(frozen=True)
class MediaInfo:
    """What is known about one output file.

    Attributes:
        format: ``GLB``, ``MP4``, or the upper-cased extension (``PNG``, ``FBX``...),
            ``file`` when nothing says.
        size: the whole file's size in bytes, when known.
        facts: what the header says, each short (``3 meshes``, ``1280x720``...).
        problem: why the header could not be read, in one line; None when it could.
    """

    format: str
    size: int | None = None
    facts: tuple[str, ...] = ()
    problem: str | None = None

    def with_problem(self, problem: str) -> MediaInfo:
        """The same file, unreadable for ``problem`` (made one line and safe to show)."""
        return replace(self, facts=(), problem=first_line(problem, limit=200))

    def summary(self) -> str:
        """One line: ``GLB, 4.3 KiB: 2 meshes, 2 primitives, 152 vertices, 254 triangles``."""
        head = self.format if self.size is None else f"{self.format}, {format_size(self.size)}"
        if self.problem is not None:
            return f"{head}: {self.problem}"
        return f"{head}: {', '.join(self.facts)}" if self.facts else head


@dataclass(frozen=True)
class GlbInfo:
    """The counts a GLB's JSON chunk gives."""

    meshes: int
    primitives: int
    vertices: int
    triangles: int

    def facts(self) -> tuple[str, ...]:
        return (
            _counted(self.meshes, "mesh", "meshes"),
            plural(self.primitives, "primitive"),
            _counted(self.vertices, "vertex", "vertices"),
            plural(self.triangles, "triangle"),
        )


def _counted(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


@dataclass(frozen=True)
class Mp4Info:
    """What an MP4's boxes give; None where the file does not say."""

    brand: str
    duration: float | None
    width: int | None
    height: int | None

    def facts(self) -> tuple[str, ...]:
        facts: list[str] = []
        if self.width and self.height:
            facts.append(f"{self.width}x{self.height}")
        if self.duration is not None:
            facts.append(f"{self.duration:.1f} s")
        facts.append(f"brand {self.brand}")
        return tuple(facts)


def describe(
    data: bytes,
    *,
    size: int | None = None,
    content_type: str | None = None,
    url: str | None = None,
) -> MediaInfo:
    """Describe an output from its first bytes (or all of them).

    Args:
        data: the file's bytes, or its first bytes.
        size: the whole file's size when known (None: ``data`` may be a prefix).
        content_type: the response's Content-Type, for the format of other files.
        url: the file's URL or name, likewise (its extension).

    Returns:
        The format, the size, and what the header tells or why it cannot be read.
    """
    whole = size is not None and len(data) >= size
    ext = extension_for(content_type or "application/octet-stream", url)
    try:
        if data[:4] == GLB_MAGIC or ext == "glb":
            return MediaInfo("GLB", size, read_glb(data, whole=whole).facts())
        if data[4:8] == b"ftyp" or ext in ("mp4", "mov"):
            return MediaInfo("MP4", size, read_mp4(data, whole=whole).facts())
    except _Unreadable as exc:
        fmt = "GLB" if data[:4] == GLB_MAGIC or ext == "glb" else "MP4"
        return MediaInfo(fmt, size).with_problem(str(exc))
    return MediaInfo("file" if ext == FALLBACK_EXTENSION else ext.upper(), size)


# -- GLB ----------------------------------------------------------------------------------


def read_glb(data: bytes, *, whole: bool = True) -> GlbInfo:
    """The counts in a GLB's JSON chunk.

    Args:
        data: the file, or its first bytes (then ``whole`` is False).
        whole: whether ``data`` is the entire file (its length must match the header's).

    Raises:
        _Unreadable: with the reason, for anything but a readable GLB 2.0 header.
    """
    if len(data) < _GLB_HEADER:
        raise _Unreadable(f"truncated: {plural(len(data), 'byte')}, a GLB header needs 12")
    magic, version, length = struct.unpack_from("<4sII", data)
    if magic != GLB_MAGIC:
        raise _Unreadable("not a GLB (no glTF magic)")
    if version != 2:
        raise _Unreadable(f"GLB version {version}: only version 2 is read")
    if whole and length != len(data):
        raise _Unreadable(f"header says {length} bytes, the file has {len(data)}")
    if len(data) < _GLB_HEADER + _CHUNK_HEADER:
        raise _Unreadable("truncated before the first chunk")
    chunk_length, chunk_type = struct.unpack_from("<I4s", data, _GLB_HEADER)
    if chunk_type != _JSON_CHUNK:
        raise _Unreadable("the first chunk is not JSON")
    start = _GLB_HEADER + _CHUNK_HEADER
    if start + chunk_length > length:
        raise _Unreadable(
            f"JSON chunk of {chunk_length} bytes runs past the file's end ({length} bytes)"
        )
    if chunk_length > MAX_JSON_BYTES:
        raise _Unreadable(
            f"JSON chunk of {format_size(chunk_length)} is over the "
            f"{format_size(MAX_JSON_BYTES)} cap"
        )
    if start + chunk_length > len(data):
        raise _Unreadable(
            f"JSON chunk of {format_size(chunk_length)} is not within the first "
            f"{format_size(len(data))}"
        )
    try:
        document = json.loads(data[start : start + chunk_length].decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, or absurd nesting/numbers
        raise _Unreadable("JSON chunk is not valid JSON") from None
    return _count(document)


def _count(document: Any) -> GlbInfo:
    if not isinstance(document, dict):
        raise _Unreadable("JSON chunk is not an object")
    meshes = _list(document, "meshes")
    accessors = _list(document, "accessors")
    primitives = vertices = triangles = 0
    for mesh_index, mesh in enumerate(meshes):
        if not isinstance(mesh, dict):
            raise _Unreadable(f"mesh {mesh_index} is not an object")
        for primitive in _list(mesh, "primitives", f"mesh {mesh_index}"):
            where = f"mesh {mesh_index} primitive {primitives}"
            if not isinstance(primitive, dict) or not isinstance(primitive.get("attributes"), dict):
                raise _Unreadable(f"{where} has no attributes")
            primitives += 1
            count = _accessor_count(accessors, primitive["attributes"].get("POSITION"), where)
            vertices += count
            mode = primitive.get("mode", _TRIANGLES)
            if "indices" in primitive:
                count = _accessor_count(accessors, primitive["indices"], where)
            if mode == _TRIANGLES:
                triangles += count // 3
            elif mode in _TRIANGLE_STRIP_OR_FAN:
                triangles += max(count - 2, 0)
    return GlbInfo(len(meshes), primitives, vertices, triangles)


def _list(table: dict[str, Any], key: str, where: str = "the document") -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise _Unreadable(f"{key} of {where} is not a list")
    return value


def _accessor_count(accessors: list[Any], index: Any, where: str) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(accessors):
        raise _Unreadable(f"{where} names no valid accessor")
    accessor = accessors[index]
    count = accessor.get("count") if isinstance(accessor, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= _MAX_COUNT:
        raise _Unreadable(f"accessor {index} has no valid count")
    return count


# -- MP4 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int  # of the payload
    end: int  # of the payload, as the header declares it


def _boxes(data: bytes, start: int, end: int, budget: list[int]) -> list[_Box]:
    """The boxes between ``start`` and ``end``; the last may run past ``len(data)``."""
    found: list[_Box] = []
    offset = start
    while offset < end:
        budget[0] -= 1
        if budget[0] < 0:
            raise _Unreadable(f"more than {MAX_BOXES} boxes")
        if offset + 8 > end:
            raise _Unreadable(f"a box header at offset {offset} runs past its container")
        if offset + 8 > len(data):
            found.append(_Box(b"", offset, end))  # its header is cut off
            break
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if offset + 16 > min(end, len(data)):
                found.append(_Box(kind, offset + 16, end))
                break
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:  # extends to the end of its container
            size = end - offset
        if size < header:
            raise _Unreadable(f"box {_name(kind)} at offset {offset} has a bad size ({size})")
        found.append(_Box(kind, offset + header, offset + size))
        offset += size
    return found


def _name(kind: bytes) -> str:
    return repr(kind.decode("latin-1"))


def read_mp4(data: bytes, *, whole: bool = True) -> Mp4Info:
    """Brand, duration and the video track's size from an MP4's boxes.

    Args:
        data: the file, or its first bytes (then ``whole`` is False: a ``moov`` beyond
            them is reported as not found there, not as a corrupt file).
        whole: whether ``data`` is the entire file.

    Raises:
        _Unreadable: with the reason, for anything but readable ``ftyp`` and ``moov``.
    """
    budget = [MAX_BOXES]
    top = _boxes(data, 0, len(data) if whole else 2**64, budget)
    if not top or top[0].kind != b"ftyp":
        raise _Unreadable("not an MP4 (no ftyp box first)")
    if top[0].end > len(data) or top[0].end - top[0].start < 4:
        raise _Unreadable("truncated or empty ftyp box")
    brand = clean_text(data[top[0].start : top[0].start + 4].decode("latin-1")).strip()
    moov = next((box for box in top if box.kind == b"moov"), None)
    if moov is None or moov.end > len(data):
        if not whole:
            raise _Unreadable(f"moov not in the first {format_size(len(data))}")
        if moov is not None:
            raise _Unreadable(f"truncated: moov runs past the file's end ({len(data)} bytes)")
        last = top[-1]
        if last.end > len(data):
            raise _Unreadable(f"truncated: box {_name(last.kind)} runs past the file's end")
        raise _Unreadable("no moov box")
    duration: float | None = None
    width = height = None
    for box in _boxes(data, moov.start, moov.end, budget):
        if box.end > moov.end:
            raise _Unreadable(f"box {_name(box.kind)} runs past the end of moov")
        if box.kind == b"mvhd":
            duration = _duration(data, box)
        elif box.kind == b"trak" and width is None:
            width, height = _video_size(data, box, budget)
    return Mp4Info(brand or "?", duration, width, height)


def _duration(data: bytes, box: _Box) -> float | None:
    payload = data[box.start : box.end]
    if payload[:1] == b"\x01":
        if len(payload) < 32:
            raise _Unreadable("mvhd is truncated")
        timescale, duration = struct.unpack_from(">IQ", payload, 20)
    else:
        if len(payload) < 20:
            raise _Unreadable("mvhd is truncated")
        timescale, duration = struct.unpack_from(">II", payload, 12)
    if timescale == 0:
        raise _Unreadable("mvhd has a timescale of 0")
    return None if duration in _UNKNOWN_DURATION else duration / timescale


def _video_size(data: bytes, trak: _Box, budget: list[int]) -> tuple[int | None, int | None]:
    """The track's width and height if it is a video track, else (None, None)."""
    size: tuple[int, int] | None = None
    handler = b""
    for box in _boxes(data, trak.start, trak.end, budget):
        if box.end > trak.end:
            raise _Unreadable(f"box {_name(box.kind)} runs past the end of its track")
        if box.kind == b"tkhd":
            payload = data[box.start : box.end]
            at = 88 if payload[:1] == b"\x01" else 76
            if len(payload) < at + 8:
                raise _Unreadable("tkhd is truncated")
            width, height = struct.unpack_from(">II", payload, at)
            size = (width >> 16, height >> 16)  # 16.16 fixed point
        elif box.kind == b"mdia":
            for child in _boxes(data, box.start, box.end, budget):
                if child.kind == b"hdlr" and child.end <= box.end and child.end - child.start >= 12:
                    handler = data[child.start + 8 : child.start + 12]
    if size is None or handler != b"vide":
        return None, None
    return size


__all__ = ["MAX_BOXES", "MAX_JSON_BYTES", "GlbInfo", "MediaInfo", "Mp4Info", "describe"]
