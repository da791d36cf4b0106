"""Every document the code, the tests, the benchmarks, the README or docs/ name exists.

A reader of a clone must find what a docstring or the README points to; a reference to a
file that only ever lived outside the repository is a dead end.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("siray_tui", "tests", "bench", "docs")
SKIPPED_SUFFIXES = frozenset({".svg", ".png", ".jpg", ".gif", ".mp4", ".glb", ".pyc"})
# A path-like word ending in .md: not preceded by a character a path or URL could hold,
# so the tail of https://host/page.md is not taken for a file of ours.
MD_NAME = re.compile(r"(?<![\w/.:#-])((?:\.\./)*[\w.-]+(?:/[\w.-]+)*\.md)\b")


def scanned_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for top in SCANNED:
        files += [
            path
            for path in sorted((ROOT / top).rglob("*"))
            if path.is_file()
            and path.suffix not in SKIPPED_SUFFIXES
            and "__pycache__" not in path.parts
        ]
    return files


def exists(name: str, referrer: Path) -> bool:
    """Relative to the repository's root, to the referring file's folder, or in docs/."""
    return any((base / name).is_file() for base in (ROOT, referrer.parent, ROOT / "docs"))


def named_documents() -> list[tuple[Path, int, str]]:
    found = []
    for path in scanned_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            found += [(path, number, match) for match in MD_NAME.findall(line)]
    return found


def test_every_named_document_exists() -> None:
    missing = [
        f"{path.relative_to(ROOT)}:{number}: {name}"
        for path, number, name in named_documents()
        if not exists(name, path)
    ]
    assert missing == []


def test_the_scan_sees_the_references_it_must_check() -> None:
    """Guards the pattern: a scan that found nothing would pass the test above."""
    names = {name for _, _, name in named_documents()}
    assert {"README.md", "docs/api.md", "docs/architecture.md", "api.md"} <= names


def test_a_url_ending_in_md_is_not_a_file_of_ours() -> None:
    assert MD_NAME.findall("see https://example.com/guide.md and docs/api.md") == ["docs/api.md"]
