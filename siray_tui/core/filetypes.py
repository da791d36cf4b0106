"""Which output files siray-tui keeps, and under which extension.

The extension of a saved output comes from an allow-list, never from the server's file
name: from the ``Content-Type``, or, when that is missing or generic, from the URL's path.
Anything else is saved as ``.bin``. Images, videos and the 3D formats (glb, gltf, obj,
fbx, usdz, stl, zip) are on the list.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Final
from urllib.parse import unquote, urlsplit

FALLBACK_EXTENSION: Final = "bin"

CONTENT_TYPE_EXTENSIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "image/png": "png",
        "image/jpeg": "jpg",
        "image/webp": "webp",
        "image/gif": "gif",
        "video/mp4": "mp4",
        "video/webm": "webm",
        "video/quicktime": "mov",
        "model/gltf-binary": "glb",
        "model/gltf+json": "gltf",
        "model/obj": "obj",
        "model/stl": "stl",
        "model/vnd.usdz+zip": "usdz",
        "application/zip": "zip",
    }
)
"""The content types we name files after; anything else is saved as ``.bin``."""

# Extensions accepted from a URL's path when the content type says nothing useful. FBX
# has no registered content type: it only ever comes as application/octet-stream.
_URL_EXTENSIONS: Final[Mapping[str, str]] = MappingProxyType(
    {ext: ext for ext in CONTENT_TYPE_EXTENSIONS.values()} | {"jpeg": "jpg", "fbx": "fbx"}
)
_GENERIC_CONTENT_TYPES: Final = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/binary"}
)
# Every extension a finished download of ours can have: an existing file with one of these
# is complete (we only ever create it by renaming a finished ``.part``).
FINAL_EXTENSIONS: Final = (*dict.fromkeys(_URL_EXTENSIONS.values()), FALLBACK_EXTENSION)


def extension_for(content_type: str | None, url: str | None = None) -> str:
    """The file extension (without a dot) for a response, from the allow-list.

    Args:
        content_type: the ``Content-Type`` header, parameters allowed
            (``image/png; charset=binary``).
        url: consulted only when the content type is missing or generic
            (``application/octet-stream``): its path's extension is used if allow-listed.

    Returns:
        One of :data:`FINAL_EXTENSIONS`; ``bin`` for anything not recognised.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in CONTENT_TYPE_EXTENSIONS:
        return CONTENT_TYPE_EXTENSIONS[media_type]
    if media_type in _GENERIC_CONTENT_TYPES and url:
        try:
            path = unquote(urlsplit(url).path)
        except ValueError:
            return FALLBACK_EXTENSION
        suffix = PurePosixPath(path).suffix.lower().lstrip(".")
        return _URL_EXTENSIONS.get(suffix, FALLBACK_EXTENSION)
    return FALLBACK_EXTENSION


def format_size(size: int) -> str:
    """``512 B``, ``4.3 KiB``, ``1.2 MiB``: a byte count as people read it."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
