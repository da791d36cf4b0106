"""The boundaries docs/architecture.md describes, enforced: a headless core, widgets without HTTP.

Checked on the source (imports anywhere in a module, lazy ones included) and at run time
(importing the core and the CLI's headless commands must not load Textual).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "siray_tui"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    files = sorted((PACKAGE / folder).rglob("*.py"))
    assert files, f"no modules under {folder}"
    return files


def top_level(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", python_files("core"), ids=lambda p: p.name)
def test_core_never_imports_textual(path: Path) -> None:
    assert not {m for m in imported_modules(path) if top_level(m) in ("textual", "rich")}
    assert not {m for m in imported_modules(path) if m.startswith("siray_tui.ui")}


@pytest.mark.parametrize("path", python_files("sim"), ids=lambda p: p.name)
def test_simulator_is_standalone(path: Path) -> None:
    forbidden = {"textual", "httpx", "rich"}
    modules = imported_modules(path)
    assert not {m for m in modules if top_level(m) in forbidden}
    assert not {m for m in modules if m.startswith(("siray_tui.core", "siray_tui.ui"))}


@pytest.mark.parametrize(
    "path", python_files("ui"), ids=lambda p: p.relative_to(PACKAGE).as_posix()
)
def test_ui_never_imports_httpx(path: Path) -> None:
    assert not {m for m in imported_modules(path) if top_level(m) in ("httpx", "httpcore")}


def test_headless_commands_do_not_load_textual() -> None:
    """The CLI must start without Textual, and without any Rich of its own.

    httpx imports its own command line (and with it Rich) whenever click happens
    to be installed, so Rich modules that a bare ``import httpx`` loads in the
    same interpreter are the baseline, not ours.
    """
    code = (
        "import sys\n"
        "import httpx\n"
        "def loaded():\n"
        "    return {m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')}\n"
        "baseline = loaded()\n"
        "import siray_tui.cli, siray_tui.cli.watchlist, siray_tui.cli.polling\n"
        "import siray_tui.cli.download, siray_tui.cli.export, siray_tui.demo, siray_tui.ui\n"
        "import siray_tui.core.poller, siray_tui.core.store, siray_tui.core.downloads\n"
        "siray_tui.cli.build_parser()\n"
        "print(sorted(loaded() - baseline))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
