"""siray-tui: a terminal dashboard and headless CLI for Siray AI generation tasks."""

from __future__ import annotations

__version__ = "0.1.0"
