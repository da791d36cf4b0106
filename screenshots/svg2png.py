"""Convert an SVG to PNG with the system's librsvg and cairo, through ctypes.

No Python dependency: the screenshots script uses this when the shared libraries are
there (Debian: ``librsvg2-2`` and ``libcairo2``) and skips the PNGs otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
from pathlib import Path

_CAIRO_FORMAT_ARGB32 = 0


class _Rectangle(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_double),
        ("y", ctypes.c_double),
        ("width", ctypes.c_double),
        ("height", ctypes.c_double),
    ]


def _load(names: tuple[str, ...]) -> ctypes.CDLL | None:
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def available() -> bool:
    """Whether both libraries can be loaded."""
    return _libs() is not None


def _libs() -> tuple[ctypes.CDLL, ctypes.CDLL] | None:
    rsvg = _load(("librsvg-2.so.2", ctypes.util.find_library("rsvg-2") or "librsvg-2.dylib"))
    cairo = _load(("libcairo.so.2", ctypes.util.find_library("cairo") or "libcairo.2.dylib"))
    if rsvg is None or cairo is None:
        return None
    return rsvg, cairo


def convert(svg: Path, png: Path, scale: float = 1.0) -> None:
    """Render ``svg`` to ``png``.

    Raises:
        RuntimeError: when the libraries are missing or librsvg cannot read the file.
    """
    libs = _libs()
    if libs is None:
        raise RuntimeError("librsvg-2 and cairo are not available")
    rsvg, cairo = libs
    rsvg.rsvg_handle_get_intrinsic_size_in_pixels.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double),
    ]
    rsvg.rsvg_handle_render_document.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(_Rectangle),
        ctypes.c_void_p,
    ]
    cairo.cairo_image_surface_create.restype = ctypes.c_void_p
    cairo.cairo_create.restype = ctypes.c_void_p
    cairo.cairo_create.argtypes = [ctypes.c_void_p]
    cairo.cairo_scale.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double]
    cairo.cairo_surface_write_to_png.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    cairo.cairo_destroy.argtypes = [ctypes.c_void_p]
    cairo.cairo_surface_destroy.argtypes = [ctypes.c_void_p]

    # librsvg draws Rich's no-break spaces narrower than a cell, which shifts every styled
    # span after them; plain spaces with xml:space="preserve" keep the grid.
    text = svg.read_text(encoding="utf-8").replace("&#160;", " ")
    text = text.replace("<svg ", '<svg xml:space="preserve" ', 1)
    data = text.encode("utf-8")
    rsvg.rsvg_handle_new_from_data.restype = ctypes.c_void_p
    rsvg.rsvg_handle_new_from_data.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
    handle = rsvg.rsvg_handle_new_from_data(data, len(data), None)
    if not handle:
        raise RuntimeError(f"librsvg could not read {svg}")
    width, height = ctypes.c_double(), ctypes.c_double()
    if not rsvg.rsvg_handle_get_intrinsic_size_in_pixels(
        handle, ctypes.byref(width), ctypes.byref(height)
    ):
        # Rich's SVGs have a viewBox and no width/height: take the size from it.
        match = re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) ([\d.]+)"', text)
        if match is None:
            raise RuntimeError(f"{svg} has no size and no viewBox")
        width.value, height.value = float(match.group(1)), float(match.group(2))
    w, h = int(width.value * scale), int(height.value * scale)
    surface = cairo.cairo_image_surface_create(_CAIRO_FORMAT_ARGB32, w, h)
    context = cairo.cairo_create(surface)
    cairo.cairo_scale(context, scale, scale)
    viewport = _Rectangle(0, 0, width.value, height.value)
    rsvg.rsvg_handle_render_document(handle, context, ctypes.byref(viewport), None)
    cairo.cairo_surface_write_to_png(surface, str(png).encode())
    cairo.cairo_destroy(context)
    cairo.cairo_surface_destroy(surface)


if __name__ == "__main__":
    import sys

    convert(Path(sys.argv[1]), Path(sys.argv[2]))
