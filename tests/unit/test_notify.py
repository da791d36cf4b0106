"""Desktop notifications: the way per terminal, tmux passthrough, escaping, gating."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from siray_tui.config import load_settings
from siray_tui.core.errors import ConfigError
from siray_tui.core.models import TaskKind, TaskState, TaskStatus, WatchedTask
from siray_tui.core.notify import (
    ALL_DONE,
    FAILURE,
    FLAG_EVENTS,
    SUCCESS,
    Notifier,
    Way,
    choose,
    ended_notice,
    escape_sequence,
    notify_send_argv,
    parse_events,
    title_sequence,
    tmux_wrap,
)

ESC = "\x1b"


def nowhere(name: str) -> str | None:
    return None


def on_path(name: str) -> str | None:
    return f"/usr/bin/{name}"


@pytest.mark.parametrize(
    ("env", "way"),
    [
        ({"KITTY_WINDOW_ID": "1", "TERM": "xterm-256color"}, Way.OSC99),
        ({"TERM": "xterm-kitty"}, Way.OSC99),
        ({"TERM": "foot"}, Way.OSC777),
        ({"TERM": "foot-extra"}, Way.OSC777),
        ({"TERM": "rxvt-unicode-256color"}, Way.OSC777),
        ({"TERM_PROGRAM": "ghostty", "TERM": "xterm-ghostty"}, Way.OSC777),
        ({"TERM_PROGRAM": "iTerm.app"}, Way.OSC9),
        ({"TERM_PROGRAM": "WezTerm"}, Way.OSC9),
        ({"WT_SESSION": "abc", "TERM": "xterm-256color"}, Way.OSC9),
        ({"ConEmuANSI": "ON"}, Way.OSC9),
        # inside tmux TERM_PROGRAM says tmux; iTerm2's LC_TERMINAL still names it
        ({"TERM_PROGRAM": "tmux", "TMUX": "/tmp/t,1,0", "LC_TERMINAL": "iTerm2"}, Way.OSC9),
        ({"TERM": "xterm-256color"}, Way.NONE),
        ({"TERM_PROGRAM": "Apple_Terminal"}, Way.NONE),
    ],
)
def test_way_per_terminal(env: dict[str, str], way: Way) -> None:
    assert choose(env, tty=True, which=nowhere) is way


def test_notify_send_when_no_terminal_protocol_applies() -> None:
    assert choose({"TERM": "xterm-256color"}, tty=True, which=on_path) is Way.NOTIFY_SEND
    # not a terminal: never an escape sequence, even in kitty
    assert choose({"KITTY_WINDOW_ID": "1"}, tty=False, which=on_path) is Way.NOTIFY_SEND
    assert choose({"KITTY_WINDOW_ID": "1"}, tty=False, which=nowhere) is Way.NONE


def test_sequences_per_protocol() -> None:
    assert escape_sequence(Way.OSC9, "T", "b") == f"{ESC}]9;T: b\x07"
    assert escape_sequence(Way.OSC777, "T;x", "b;c") == f"{ESC}]777;notify;T x;b;c\x07"
    assert escape_sequence(Way.OSC99, "T", "b") == (
        f"{ESC}]99;i=1:d=0;T{ESC}\\{ESC}]99;i=1:p=body;b{ESC}\\"
    )
    # ConEmu reads "9;4;..." as a progress report
    assert escape_sequence(Way.OSC9, "4;3", "b").startswith(f"{ESC}]9; 4")
    with pytest.raises(ValueError, match="not a terminal escape sequence"):
        escape_sequence(Way.NOTIFY_SEND, "T", "b")


def test_tmux_passthrough_doubles_every_escape() -> None:
    inner = escape_sequence(Way.OSC99, "T", "b")
    wrapped = escape_sequence(Way.OSC99, "T", "b", tmux=True)
    assert wrapped == tmux_wrap(inner)
    assert wrapped.startswith(f"{ESC}Ptmux;{ESC}{ESC}]99;")
    assert wrapped.endswith(f"{ESC}{ESC}\\{ESC}\\")
    assert wrapped.count(ESC) == 2 * inner.count(ESC) + 2
    assert tmux_wrap(f"{ESC}]9;hi\x07") == f"{ESC}Ptmux;{ESC}{ESC}]9;hi\x07{ESC}\\"


def failed(reason: str, label: str = "") -> WatchedTask:
    task = WatchedTask("image_bad0000001", kind=TaskKind.IMAGE, label=label)
    task.state = TaskState("image_bad0000001", TaskStatus.FAILURE, "FAILURE", fail_reason=reason)
    return task


HOSTILE = f"boom {ESC}]0;pwned\x07{ESC}[2J{ESC}]52;c;ZXZpbA==\x07\x9b31m line\nsecond"


@pytest.mark.parametrize("way", [Way.OSC9, Way.OSC777, Way.OSC99])
def test_a_fail_reason_with_escapes_is_cleaned(way: Way) -> None:
    notice = ended_notice(failed(HOSTILE, label=f"lab{ESC}[1mel"))
    assert notice is not None
    event, title, body = notice
    assert event == FAILURE
    assert body == "label: boom  line"  # the sequences gone, the first line kept
    sequence = escape_sequence(way, title, body, tmux=True)
    own = escape_sequence(way, "T", "b", tmux=True).count(ESC)
    assert sequence.count(ESC) == own  # only the protocol's own escapes
    for bad in ("pwned", "52;", "\x9b", "\x07second", "\n"):
        assert bad not in sequence


def test_notify_send_argv_has_no_shell_and_no_options_from_the_server() -> None:
    argv = notify_send_argv("siray-tui: task failed", f"-x {ESC}[31mred\x00 {HOSTILE}")
    assert argv[:3] == ["notify-send", "--app-name=siray-tui", "--"]
    assert argv[3] == "siray-tui: task failed"
    assert argv[4].startswith("-x red")
    assert all(ESC not in part and "\x00" not in part for part in argv)


def test_notices() -> None:
    task = failed("")
    assert ended_notice(task) == (
        FAILURE,
        "siray-tui: task failed",
        "image_bad0000001: no reason given",
    )
    assert task.state is not None
    task.state = TaskState(task.task_id, TaskStatus.SUCCESS, "SUCCESS")
    assert ended_notice(task) == (SUCCESS, "siray-tui: task done", "image_bad0000001")
    task.state = TaskState(task.task_id, TaskStatus.IN_PROGRESS, "IN_PROGRESS")
    assert ended_notice(task) is None


class Capture:
    """What a notifier wrote to the terminal and which commands it ran."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.spawned: list[list[str]] = []

    def notifier(
        self,
        events: tuple[str, ...],
        env: dict[str, str],
        *,
        tty: bool = True,
        which: Callable[[str], str | None] = nowhere,
    ) -> Notifier:
        return Notifier(
            events,
            env=env,
            tty=tty,
            write=self.written.append,
            spawn=self.spawned.append,
            which=which,
        )


def test_nothing_when_the_output_is_not_a_terminal() -> None:
    capture = Capture()
    notifier = capture.notifier(("failure",), {"KITTY_WINDOW_ID": "1"}, tty=False)
    assert not notifier.send(FAILURE, "t", "b")
    assert capture.written == [] and capture.spawned == []


def test_only_events_opted_into() -> None:
    capture = Capture()
    notifier = capture.notifier(FLAG_EVENTS, {"TERM_PROGRAM": "WezTerm"})
    assert not notifier.send(SUCCESS, "t", "b")
    assert notifier.send(ALL_DONE, "t", "b")
    assert capture.written == [f"{ESC}]9;t: b\x07"]
    off = capture.notifier((), {"TERM_PROGRAM": "WezTerm"})
    assert off.way is Way.NONE and not off.send(FAILURE, "t", "b")


def test_focus_gating() -> None:
    capture = Capture()
    notifier = capture.notifier(("failure",), {"TERM_PROGRAM": "WezTerm", "TMUX": "x"})
    assert notifier.send(FAILURE, "t", "b")  # the terminal never said: always
    notifier.focus.set(True)
    assert not notifier.send(FAILURE, "t", "b")  # the user is looking at it
    notifier.focus.set(False)
    assert notifier.send(FAILURE, "t", "b")
    assert capture.written == [tmux_wrap(f"{ESC}]9;t: b\x07")] * 2


def test_notify_send_is_spawned_with_argv() -> None:
    capture = Capture()
    notifier = capture.notifier(("failure",), {"TERM": "xterm"}, which=on_path)
    assert notifier.send(FAILURE, "siray-tui: task failed", "x: y")
    assert capture.spawned == [notify_send_argv("siray-tui: task failed", "x: y")]
    assert capture.written == []


def test_title_sequence_is_cleaned() -> None:
    assert title_sequence(f"siray-tui · 2 running{ESC}]0;x\x07") == (
        f"{ESC}]2;siray-tui · 2 running\x07"
    )


def test_parse_events() -> None:
    assert parse_events(["failure", "all-done", "failure"], "notify") == ("failure", "all-done")
    assert parse_events([], "notify") == ()
    with pytest.raises(ValueError, match="unknown event 'loud'"):
        parse_events(["loud"], "notify")
    with pytest.raises(ValueError, match="expected a list"):
        parse_events("failure", "notify")


def test_config_and_flag(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('notify = ["success", "all-done"]\n')
    assert load_settings({"config": str(config)}, environ={}).notify == ("success", "all-done")
    flagged = load_settings({"config": str(config), "notify": FLAG_EVENTS}, environ={})
    assert flagged.notify == ("failure", "all-done")
    config.write_text('notify = ["failure", 3]\n')
    with pytest.raises(ConfigError, match=r"notify \(.*config.toml\): unknown event 3"):
        load_settings({"config": str(config)}, environ={})
    assert load_settings({}, environ={"SIRAY_TUI_CONFIG": ""}).notify == ()
