"""The command's pieces in-process: numbers for people, `backends` on a core-only install, help.

The command itself runs in subprocesses in test_cli.py (slow); these run in every session.
"""

from __future__ import annotations

import json

import pytest

from twat_cache import available_backends, cli, registry
from twat_cache.backends.functools import BACKEND as FUNCTOOLS


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (int(3.2 * 2**20), "3.2 MiB"),
        (5 * 2**30, "5.0 GiB"),
        (2**50, "1024.0 TiB"),
    ],
)
def test_human_bytes(n: int, text: str) -> None:
    assert cli.human_bytes(n) == text


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (0.2, "just now"),
        (12.7, "12 s ago"),
        (300, "5 min ago"),
        (3599, "59 min ago"),
        (2 * 3600 + 5, "2 h ago"),
        (3 * 86400, "3 d ago"),
        (-30, "just now"),  # a clock a little behind the files' own
    ],
)
def test_human_age(ago: float, text: str) -> None:
    now = 1_000_000.0
    assert cli.human_age(now - ago, now) == text
    assert cli.human_age(None, now) == "-"


def test_bare_command_returns_0_with_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: twat-cache")
    assert "verify" in out
    assert err == ""


@pytest.fixture
def core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as a core-only install has it: functools, and the family's names."""
    only = {"functools": FUNCTOOLS}
    monkeypatch.setattr(registry, "discover", lambda *, refresh=False: dict(only))
    monkeypatch.setattr(registry, "installed", lambda: dict(only))


def test_backends_on_a_core_only_install_says_how_to_install_the_rest(
    core_only: None, capsys: pytest.CaptureFixture[str]
) -> None:
    info = available_backends()
    assert set(info["missing"]) == set(registry.family())
    assert info["missing"]["diskcache"] == "pip install 'twat-cache[diskcache]'"
    assert info["backends"]["functools"]["install"] == ""  # built in: nothing to install
    assert cli.main(["backends"]) == 0
    text = capsys.readouterr().out
    for name, hint in info["missing"].items():
        assert f"{name}  " in text
        assert hint in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "diskcache (missing) | then memory: functools*" in lines["bcache"]
    assert "cachebox (missing) > functools*" in lines["mcache"]


def test_backends_lists_each_chain_best_first(capsys: pytest.CaptureFixture[str]) -> None:
    info = available_backends()
    assert cli.main(["backends"]) == 0
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    for label, pick in info["picks"].items():
        line = lines[label]
        assert line.split()[1] == pick
        assert f"{pick}*" in line
    chain = info["chains"]["mcache"]
    where = [lines["mcache"].index(name) for name in chain]
    assert where == sorted(where)


def test_backends_json_is_available_backends(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backends", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(available_backends()))


def test_backends_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backends", "--markdown"]) == 0
    text = capsys.readouterr().out
    assert text == cli.backends_markdown(available_backends()) + "\n"
    assert "| functools | twat-cache-core | built in |" in text
