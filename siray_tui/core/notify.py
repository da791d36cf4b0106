"""Desktop notifications: which way the terminal takes them, and the bytes to send.

Opt-in (``notify = ["failure", "success", "all-done"]`` in config.toml, ``--notify`` for
failure and all-done). A notification goes, in this order of preference:

* as a terminal escape sequence the terminal turns into a desktop notification, chosen
  from the environment: OSC 99 for kitty (``KITTY_WINDOW_ID``, ``TERM=xterm-kitty``),
  OSC 777 for urxvt, foot and Ghostty, OSC 9 for iTerm2, WezTerm, Windows Terminal
  (``WT_SESSION``) and ConEmu; inside tmux (``TMUX``) wrapped in tmux's passthrough
  (``ESC P tmux; ... ESC \\``, every ESC doubled; tmux needs ``allow-passthrough on``);
* else ``notify-send`` when it is on ``PATH`` (run without a shell, never waited for);
* else nowhere.

Never an escape sequence when the output is not a terminal. The text comes from the
server (a fail reason), so it is cleaned of escape sequences and control characters
(:func:`~siray_tui.core.text.first_line`) and of the separators each protocol uses,
before it is put in a sequence or an argument.

Pure but for :meth:`Notifier.send`, which calls the ``write`` and ``spawn`` it was given.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from siray_tui.core.columns import task_name
from siray_tui.core.models import TaskStatus, WatchedTask
from siray_tui.core.report import plural
from siray_tui.core.text import first_line

FAILURE: Final = "failure"
SUCCESS: Final = "success"
ALL_DONE: Final = "all-done"
EVENTS: Final[tuple[str, ...]] = (FAILURE, SUCCESS, ALL_DONE)
"""What may be notified (config.toml ``notify``)."""
FLAG_EVENTS: Final[tuple[str, ...]] = (FAILURE, ALL_DONE)
"""What ``--notify`` turns on."""

TITLE_LIMIT: Final = 80
BODY_LIMIT: Final = 200
APP_TITLE: Final = "siray-tui"

ESC: Final = "\x1b"
BEL: Final = "\x07"
ST: Final = ESC + "\\"


class Way(StrEnum):
    """How a notification reaches the user."""

    OSC9 = "osc9"
    OSC777 = "osc777"
    OSC99 = "osc99"
    NOTIFY_SEND = "notify-send"
    NONE = "none"


_OSC9_PROGRAMS: Final = frozenset({"iterm.app", "iterm2", "wezterm", "conemu"})
_OSC777_PROGRAMS: Final = frozenset({"ghostty"})
_OSC777_TERMS: Final = ("rxvt", "foot", "xterm-ghostty")


def parse_events(value: object, where: str) -> tuple[str, ...]:
    """The ``notify`` setting: a list of :data:`EVENTS` names (duplicates dropped).

    Raises:
        ValueError: naming ``where`` and the first bad entry, in one line.
    """
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f'{where}: expected a list such as ["failure", "all-done"]')
    chosen: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in EVENTS:
            raise ValueError(f"{where}: unknown event {item!r} (known: {', '.join(EVENTS)})")
        if item not in chosen:
            chosen.append(item)
    return tuple(chosen)


def choose(env: Mapping[str, str], *, tty: bool, which: Callable[[str], str | None]) -> Way:
    """The way to notify in this environment (see the module docstring).

    Args:
        env: the environment.
        tty: whether the output the escape sequence would go to is a terminal.
        which: finds a program on PATH (:func:`shutil.which`).
    """
    if tty:
        term = env.get("TERM", "").lower()
        program = env.get("TERM_PROGRAM", "").lower()
        # iTerm2 sets LC_TERMINAL, which survives ssh and tmux (TERM_PROGRAM becomes "tmux")
        terminal = env.get("LC_TERMINAL", "").lower()
        if env.get("KITTY_WINDOW_ID") or term == "xterm-kitty":
            return Way.OSC99
        if program in _OSC777_PROGRAMS or term.startswith(_OSC777_TERMS):
            return Way.OSC777
        if program in _OSC9_PROGRAMS or terminal in _OSC9_PROGRAMS or env.get("WT_SESSION"):
            return Way.OSC9
        if env.get("ConEmuANSI") == "ON":
            return Way.OSC9
    if which("notify-send"):
        return Way.NOTIFY_SEND
    return Way.NONE


def clean(text: str, limit: int, *, forbidden: str = "") -> str:
    """Server text made safe for a sequence or an argument: one line, no escape or
    control character, none of ``forbidden`` (a protocol's separators), at most
    ``limit`` characters."""
    line = first_line(text, limit)
    for char in forbidden:
        line = line.replace(char, " ")
    return line


def tmux_wrap(sequence: str) -> str:
    """``sequence`` inside tmux's passthrough, which hands it to the outer terminal."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ST}"


def escape_sequence(way: Way, title: str, body: str, *, tmux: bool = False) -> str:
    """The bytes (as text) that make the terminal show ``title`` and ``body``.

    Raises:
        ValueError: for a way that is no escape sequence.
    """
    if way is Way.OSC9:
        # one text only; ConEmu and Windows Terminal read "9;4;..." as a progress report,
        # so the text never starts with a digit
        text = f"{clean(title, TITLE_LIMIT)}: {clean(body, BODY_LIMIT)}"
        sequence = f"{ESC}]9;{' ' if text[:1].isdigit() else ''}{text}{BEL}"
    elif way is Way.OSC777:
        # fields are separated by ";": the title must hold none (the body is the rest)
        title_text = clean(title, TITLE_LIMIT, forbidden=";")
        sequence = f"{ESC}]777;notify;{title_text};{clean(body, BODY_LIMIT)}{BEL}"
    elif way is Way.OSC99:
        # kitty: metadata "key=value" pairs split by ":", then ";" and the payload; the
        # title (d=0: more to come) and then the body (p=body) of notification i=1
        sequence = (
            f"{ESC}]99;i=1:d=0;{clean(title, TITLE_LIMIT)}{ST}"
            f"{ESC}]99;i=1:p=body;{clean(body, BODY_LIMIT)}{ST}"
        )
    else:
        raise ValueError(f"{way} is not a terminal escape sequence")
    return tmux_wrap(sequence) if tmux else sequence


def title_sequence(text: str) -> str:
    """OSC 2: set the window title (tmux takes it as the pane title, no passthrough)."""
    return f"{ESC}]2;{clean(text, TITLE_LIMIT)}{BEL}"


SAVE_TITLE: Final = f"{ESC}[22;0t"
"""xterm's "push the title" (most terminals; the others ignore it)."""
RESTORE_TITLE: Final = f"{ESC}[23;0t"
"""xterm's "pop the title": the user's own title back when the dashboard quits."""


def notify_send_argv(title: str, body: str) -> list[str]:
    """The ``notify-send`` command line; ``--`` so a text starting with ``-`` is no option."""
    return [
        "notify-send",
        f"--app-name={APP_TITLE}",
        "--",
        clean(title, TITLE_LIMIT),
        clean(body, BODY_LIMIT),
    ]


def spawn_detached(argv: list[str]) -> None:
    """Run ``argv`` without a shell and without waiting; a missing program is ignored."""
    # a notification is a courtesy: a program that cannot start is never a reason to fail
    with contextlib.suppress(OSError):
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # reaped in the background: no zombie, and nobody waits for a notification daemon
        threading.Thread(target=process.wait, name="notify-send", daemon=True).start()


Notice = tuple[str, str, str]
"""``(event, title, body)``: what :meth:`Notifier.send` takes."""


def ended_notice(task: WatchedTask) -> Notice | None:
    """The notice of a task that reached SUCCESS or FAILURE (None for any other state):
    its label or ID, and for a failure the first line of its reason."""
    state = task.state
    if state is None or not state.status.is_final:
        return None
    name = first_line(task_name(task), 60)
    if state.status is TaskStatus.FAILURE:
        reason = first_line(state.fail_reason, 160) or "no reason given"
        return FAILURE, f"{APP_TITLE}: task failed", f"{name}: {reason}"
    return SUCCESS, f"{APP_TITLE}: task done", name


def all_done_notice(total: int, failed: int) -> Notice:
    """The notice of the last unfinished task ending."""
    body = f"{plural(total, 'task')} finished" + (f", {failed} failed" if failed else "")
    return ALL_DONE, f"{APP_TITLE}: all done", body


@dataclass(slots=True)
class Focus:
    """What the terminal said about its focus: notifications go only while it is not
    focused, or always when it never says (most terminals report it; some never do)."""

    reported: bool = False
    focused: bool = True

    def set(self, focused: bool) -> None:
        """The terminal reported gaining (True) or losing (False) the focus."""
        self.reported = True
        self.focused = focused

    @property
    def user_away(self) -> bool:
        """Whether a notification is worth sending now."""
        return not self.reported or not self.focused


class Notifier:
    """Sends the notifications the user opted into, the way the environment allows.

    Args:
        events: the :data:`EVENTS` wanted (none: the notifier is off).
        env: the environment (protocol choice, tmux).
        tty: whether ``write`` goes to a terminal.
        write: writes an escape sequence to the terminal.
        spawn: runs a command without a shell (default :func:`spawn_detached`).
        which: finds a program on PATH (default :func:`shutil.which`).
    """

    def __init__(
        self,
        events: Iterable[str],
        *,
        env: Mapping[str, str],
        tty: bool,
        write: Callable[[str], None],
        spawn: Callable[[list[str]], None] = spawn_detached,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.events = frozenset(events)
        self.focus = Focus()
        self._write = write
        self._spawn = spawn
        self._tmux = bool(env.get("TMUX"))
        self.way = choose(env, tty=tty, which=which) if self.events else Way.NONE

    def wants(self, event: str) -> bool:
        """Whether ``event`` (one of :data:`EVENTS`) was opted into."""
        return event in self.events

    def send(self, event: str, title: str, body: str) -> bool:
        """Notify ``event`` when it was opted into and the user is away; returns whether
        anything was sent (``send(*notice)`` takes a :data:`Notice`)."""
        if event not in self.events or self.way is Way.NONE or not self.focus.user_away:
            return False
        if self.way is Way.NOTIFY_SEND:
            self._spawn(notify_send_argv(title, body))
        else:
            self._write(escape_sequence(self.way, title, body, tmux=self._tmux))
        return True


__all__ = [
    "ALL_DONE",
    "EVENTS",
    "FAILURE",
    "FLAG_EVENTS",
    "RESTORE_TITLE",
    "SAVE_TITLE",
    "SUCCESS",
    "Focus",
    "Notice",
    "Notifier",
    "Way",
    "all_done_notice",
    "choose",
    "clean",
    "ended_notice",
    "escape_sequence",
    "notify_send_argv",
    "parse_events",
    "title_sequence",
    "tmux_wrap",
]
