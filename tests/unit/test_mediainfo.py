"""Reading GLB and MP4 headers: right on real files, one line on broken ones, never raising.

The real files are the simulator's (built by its own code, not by the reader's), and the
broken ones are made from them by cutting, lying lengths and random mutation.
"""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siray_tui.core.mediainfo import MAX_BOXES, MAX_JSON_BYTES, MediaInfo, describe
from siray_tui.sim.media import corrupt, make_glb, make_mp4

GLBS = [make_glb(random.Random(seed)) for seed in range(4)]
MP4S = [make_mp4(random.Random(seed)) for seed in range(4)]


def glb_from(document: Any, *, raw: bytes | None = None, version: int = 2) -> bytes:
    """A GLB around a JSON document (or raw chunk bytes), lengths all consistent."""
    chunk = raw if raw is not None else json.dumps(document).encode()
    chunk += b" " * (-len(chunk) % 4)
    total = 12 + 8 + len(chunk)
    return (
        b"glTF"
        + struct.pack("<II", version, total)
        + struct.pack("<I", len(chunk))
        + b"JSON"
        + chunk
    )


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def counts_of(data: bytes) -> tuple[int, int, int]:
    """meshes, vertices, triangles, as the glTF spec says to read them (independently)."""
    length = struct.unpack_from("<I", data, 12)[0]
    document = json.loads(data[20 : 20 + length])
    accessors = document["accessors"]
    vertices = triangles = 0
    for mesh in document["meshes"]:
        for primitive in mesh["primitives"]:
            vertices += accessors[primitive["attributes"]["POSITION"]]["count"]
            triangles += accessors[primitive["indices"]]["count"] // 3
    return len(document["meshes"]), vertices, triangles


# -- GLB ------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", GLBS, ids=range(len(GLBS)))
def test_a_real_glb_is_described_by_its_meshes_and_vertices(data: bytes) -> None:
    info = describe(data, size=len(data))
    meshes, vertices, triangles = counts_of(data)
    assert info.problem is None
    assert info.format == "GLB" and info.size == len(data)
    assert info.facts == (
        f"{meshes} meshes",
        f"{meshes} primitives",
        f"{vertices} vertices",
        f"{triangles} triangles",
    )
    assert info.summary().startswith(f"GLB, {len(data) / 1024:.1f} KiB: {meshes} meshes, ")


def test_the_first_bytes_of_a_glb_are_enough() -> None:
    data = GLBS[0]
    json_end = 20 + struct.unpack_from("<I", data, 12)[0]
    assert describe(data[:json_end]).facts == describe(data, size=len(data)).facts
    short = describe(data[: json_end - 1])
    assert short.problem is not None and "is not within the first" in short.problem


def test_modes_and_primitives_without_indices() -> None:
    document = {
        "accessors": [{"count": 6}, {"count": 5}, {"count": 1}],
        "meshes": [
            {"primitives": [{"attributes": {"POSITION": 0}}]},  # 2 triangles, no indices
            {"primitives": [{"attributes": {"POSITION": 1}, "mode": 5}]},  # strip: 3
            {"primitives": [{"attributes": {"POSITION": 2}, "mode": 0}]},  # points: 0
        ],
    }
    info = describe(glb_from(document))
    assert info.facts == ("3 meshes", "3 primitives", "12 vertices", "5 triangles")
    one = describe(
        glb_from(
            {
                "accessors": [{"count": 1}],
                "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
            }
        )
    )
    assert one.facts == ("1 mesh", "1 primitive", "1 vertex", "0 triangles")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated: 0 bytes, a GLB header needs 12"),
        (b"glTF\x02\x00", "truncated: 6 bytes"),
        (b"glTF" + struct.pack("<II", 1, 12), "GLB version 1: only version 2 is read"),
        (b"glTF" + struct.pack("<II", 2, 12), "truncated before the first chunk"),
        (GLBS[0][:-4], "header says"),
        (corrupt(GLBS[0]), "JSON chunk of 2147483632 bytes runs past the file's end"),
        (glb_from(None, raw=b"{not json"), "JSON chunk is not valid JSON"),
        (glb_from(None, raw=b'{"a": "\xff"}'), "JSON chunk is not valid JSON"),
        (glb_from(None, raw=b"[" * 100_000), "JSON chunk is not valid JSON"),
        (glb_from(None, raw=b"1" * 5000), "JSON chunk is not valid JSON"),  # int digits
        (glb_from([1, 2]), "JSON chunk is not an object"),
        (glb_from({"meshes": {}}), "meshes of the document is not a list"),
        (glb_from({"meshes": [7]}), "mesh 0 is not an object"),
        (glb_from({"meshes": [{"primitives": [{}]}]}), "mesh 0 primitive 0 has no attributes"),
        (
            glb_from({"meshes": [{"primitives": [{"attributes": {"POSITION": 3}}]}]}),
            "mesh 0 primitive 0 names no valid accessor",
        ),
        (
            glb_from(
                {
                    "accessors": [{"count": 2**60}],
                    "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
                }
            ),
            "accessor 0 has no valid count",
        ),
        (
            glb_from(
                {
                    "accessors": [{"count": True}],
                    "meshes": [{"primitives": [{"attributes": {"POSITION": False}}]}],
                }
            ),
            "names no valid accessor",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_broken_glbs_give_a_one_line_reason(data: bytes, reason: str) -> None:
    info = describe(data, size=len(data), url="https://cdn.example/m.glb")
    assert info.format == "GLB"
    assert info.problem is not None and reason in info.problem, info.problem
    assert "\n" not in info.summary()


def test_a_json_chunk_over_the_cap_is_not_parsed() -> None:
    chunk = b" " * (MAX_JSON_BYTES + 4)
    data = glb_from(None, raw=chunk)
    info = describe(data, size=len(data))
    assert info.problem == "JSON chunk of 1.0 MiB is over the 1.0 MiB cap"


def test_a_glb_url_without_the_magic_says_so() -> None:
    info = describe(b"<html>not found</html>", size=22, url="https://cdn.example/a.glb")
    assert info.summary() == "GLB, 22 B: not a GLB (no glTF magic)"


# -- MP4 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", MP4S, ids=range(len(MP4S)))
def test_a_real_mp4_is_described_by_its_size_and_duration(data: bytes) -> None:
    info = describe(data, size=len(data))
    assert info.problem is None
    mvhd = data.index(b"mvhd") + 4
    scale, duration = struct.unpack_from(">II", data, mvhd + 12)
    tkhd = data.index(b"tkhd") + 4
    width, height = struct.unpack_from(">II", data, tkhd + 76)
    assert info.facts == (
        f"{width >> 16}x{height >> 16}",
        f"{duration / scale:.1f} s",
        "brand isom",
    )


def test_64_bit_sizes_version_1_headers_and_a_non_video_track() -> None:
    ftyp = box(b"ftyp", b"mp42" + bytes(4))
    mvhd = box(b"mvhd", b"\x01" + bytes(19) + struct.pack(">IQ", 600, 1800) + bytes(80))
    audio_tkhd = box(b"tkhd", bytes(76) + struct.pack(">II", 0, 0))
    audio = box(b"trak", audio_tkhd + box(b"mdia", box(b"hdlr", bytes(8) + b"soun" + bytes(12))))
    tkhd = box(b"tkhd", b"\x01" + bytes(87) + struct.pack(">II", 640 << 16, 360 << 16))
    video = box(b"trak", tkhd + box(b"mdia", box(b"hdlr", bytes(8) + b"vide" + bytes(12))))
    moov_payload = mvhd + audio + video
    moov = struct.pack(">I4sQ", 1, b"moov", 16 + len(moov_payload)) + moov_payload
    data = ftyp + box(b"free", b"") + moov + struct.pack(">I", 0) + b"mdat" + bytes(50)
    assert describe(data, size=len(data)).facts == ("640x360", "3.0 s", "brand mp42")


def test_moov_at_the_end_is_not_fetched_for() -> None:
    ftyp = box(b"ftyp", b"isom" + bytes(4))
    mdat = box(b"mdat", bytes(300_000))
    data = ftyp + mdat + MP4S[0][MP4S[0].index(b"moov") - 4 :]
    head = data[: 256 * 1024]
    assert describe(head, size=len(data)).problem == "moov not in the first 256.0 KiB"
    assert describe(data, size=len(data)).problem is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (corrupt(MP4S[0]), "truncated or empty ftyp box"),
        (box(b"ftyp", b"isom") + box(b"mdat", b""), "no moov box"),
        (box(b"ftyp", b"isom") + struct.pack(">I4s", 4, b"moov"), "has a bad size (4)"),
        (box(b"ftyp", b"isom") + struct.pack(">I4s", 99, b"moov"), "moov runs past the file's"),
        (box(b"ftyp", b"isom") + box(b"moov", box(b"mvhd", bytes(8))), "mvhd is truncated"),
        (
            box(b"ftyp", b"isom") + box(b"moov", box(b"mvhd", bytes(24))),
            "mvhd has a timescale of 0",
        ),
        (
            box(b"ftyp", b"isom") + box(b"moov", box(b"trak", box(b"tkhd", bytes(30)))),
            "tkhd is truncated",
        ),
        (box(b"ftyp", b"isom") + box(b"moov", bytes(4)), "runs past its container"),
        (box(b"ftyp", b"isom") + box(b"free", b"") * (MAX_BOXES + 1), f"more than {MAX_BOXES}"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_broken_mp4s_give_a_one_line_reason(data: bytes, reason: str) -> None:
    info = describe(data, size=len(data), content_type="video/mp4")
    assert info.format == "MP4"
    assert info.problem is not None and reason in info.problem, info.problem


def test_other_files_are_named_by_their_type_or_extension() -> None:
    assert describe(b"\x89PNG", size=4, content_type="image/png") == MediaInfo("PNG", 4)
    assert describe(b"x", size=1, url="https://cdn.example/m.FBX").summary() == "FBX, 1 B"
    assert describe(b"x", url="https://cdn.example/m").summary() == "file"


# -- never raises -------------------------------------------------------------------------------


def mutated(data: bytes, rng: random.Random, edits: int) -> bytes:
    out = bytearray(data)
    for _ in range(edits):
        choice = rng.randrange(4)
        at = rng.randrange(len(out)) if out else 0
        if choice == 0 and out:
            out[at] = rng.randrange(256)
        elif choice == 1:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif choice == 2:
            del out[at : at + rng.randint(1, 64)]
        else:  # a lying 32-bit length, the kind every header here has
            out[at : at + 4] = struct.pack(
                rng.choice("<>") + "I", rng.choice((0, 1, 7, 2**31, 2**32 - 1))
            )
    return bytes(out)


def check(info: MediaInfo) -> None:
    assert isinstance(info, MediaInfo)
    line = info.summary()
    assert "\n" not in line and len(line) < 400


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=2048),
    prefix=st.sampled_from([b"", b"glTF", b"glTF\x02\x00\x00\x00", b"\x00\x00\x00\x10ftyp"]),
    whole=st.booleans(),
    ext=st.sampled_from([None, "https://x.example/a.glb", "https://x.example/a.mp4"]),
)
def test_arbitrary_bytes_never_raise(
    data: bytes, prefix: bytes, whole: bool, ext: str | None
) -> None:
    raw = prefix + data
    check(describe(raw, size=len(raw) if whole else None, url=ext))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, 7),
    seed=st.integers(0, 2**32),
    edits=st.integers(1, 6),
    cut=st.none() | st.integers(0, 9000),
)
def test_mutated_real_files_never_raise(which: int, seed: int, edits: int, cut: int | None) -> None:
    source = (GLBS + MP4S)[which]
    data = mutated(source, random.Random(seed), edits)
    if cut is not None:
        data = data[:cut]
    check(describe(data, size=len(data)))
    check(describe(data))
