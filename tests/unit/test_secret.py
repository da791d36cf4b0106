"""Secret: the token cannot leak by being printed, logged, formatted or pickled."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest

from siray_tui.core.secret import Secret

VALUE = "sk-live-0123456789abcdef"


@pytest.fixture
def secret() -> Secret:
    return Secret(VALUE)


def test_repr_str_and_formatting_hide_the_value(secret: Secret) -> None:
    shown = [
        repr(secret),
        str(secret),
        format(secret),
        format(secret, ">40"),
        format(secret, "s"),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        f"{secret!a}",
        f"{secret:^50}",
        "%s" % secret,  # noqa: UP031 (the old form must hide it too)
        "%r" % secret,  # noqa: UP031
        "{}".format(secret),  # noqa: UP032
        repr([secret]),
        repr({"token": secret}),
        str((secret,)),
    ]
    for text in shown:
        assert VALUE not in text
        assert "sk-live" not in text
    assert repr(secret) == "Secret('********')"


def test_logging_hides_the_value(secret: Secret, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("siray-test").debug("token is %s / %r", secret, secret)
    assert caplog.records
    assert VALUE not in caplog.text


def test_reveal_gives_the_value(secret: Secret) -> None:
    assert secret.reveal() == VALUE


def test_no_instance_dict_to_dump(secret: Secret) -> None:
    assert not hasattr(secret, "__dict__")
    with pytest.raises(TypeError):
        vars(secret)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_not_picklable(secret: Secret, protocol: int) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(secret, protocol=protocol)


def test_not_copied_by_pickling_machinery(secret: Secret) -> None:
    with pytest.raises(TypeError):
        copy.deepcopy(secret)


def test_equality_and_hash() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert "a" != Secret("a")  # noqa: SIM300 (the reflected comparison too)
    assert hash(Secret("a")) == hash(Secret("a"))
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2


def test_truthiness() -> None:
    assert Secret("x")
    assert not Secret("")
