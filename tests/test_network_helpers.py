"""`twat_cache.network`, what the network stores share, without any server or client library.

Host lists (IPv6, percent-decoding, bad entries named), seconds from text and from the
environment, the environment's URL, the circuit breaker (open -> probe -> close, one WARNING
and one INFO per outage, the probe thread ends) and the per-process memo (its fork reset).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable

import pytest

from helpers import in_child, logged, run_python, warnings_of
from twat_cache import network
from twat_cache.network import Breaker, PerProcess, env_seconds, env_url, parse_hosts, seconds


def until(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `condition()` until it is true; fail after `timeout` s (a hang bound, not a bar)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.01)


# --- host lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("netloc", "hosts"),
    [
        ("a", (("a", 6379),)),
        ("a:1", (("a", 1),)),
        (" a:1 , b ", (("a", 1), ("b", 6379))),
        ("[::1]", (("::1", 6379),)),
        ("[::1]:7000,10.0.0.1:7001", (("::1", 7000), ("10.0.0.1", 7001))),
        ("[fe80::1%25eth0]:1", (("fe80::1%eth0", 1),)),  # a zone, percent-encoded
        ("a:1,a:1", (("a", 1), ("a", 1))),  # repeats are the caller's business
        ("h:65535", (("h", 65535),)),
    ],
)
def test_parse_hosts(netloc: str, hosts: tuple[tuple[str, int], ...]) -> None:
    assert parse_hosts(netloc, 6379) == hosts


@pytest.mark.parametrize(
    ("netloc", "said"),
    [
        ("", "an empty host in the host list"),
        ("a,,b", "an empty host in the host list"),
        ("a,", "an empty host in the host list"),
        ("::1", r"'::1': put an IPv6 address in brackets, \[::1\]:11211"),
        ("[::1", r"'\[::1': expected \[address\] or \[address\]:port"),
        ("[::1]7000", r"expected \[address\] or \[address\]:port"),
        (":1", "':1' has no host"),
        ("[]:1", r"'\[\]:1' has no host"),
        ("a:x", "'a:x': the port is not a number"),
        ("a:", None),  # an empty port is the default port
        ("a:0", "'a:0': the port is out of range"),
        ("a:65536", "the port is out of range"),
    ],
)
def test_parse_hosts_names_the_bad_entry(netloc: str, said: str | None) -> None:
    if said is None:
        assert parse_hosts(netloc, 11211) == (("a", 11211),)
        return
    with pytest.raises(ValueError, match=said):
        parse_hosts(netloc, 11211)


# --- seconds -------------------------------------------------------------------------------------


def test_seconds() -> None:
    assert seconds("timeout", "2.5") == 2.5
    assert seconds("timeout", "1e-3") == 0.001
    for bad in ("0", "-1", "nan", "inf", "-inf", "soon", ""):
        with pytest.raises(ValueError, match=r"^timeout: expected seconds > 0, got ") as info:
            seconds("timeout", bad)
        assert repr(bad) in str(info.value)


def test_env_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWAT_CACHE_TEST_SECONDS", raising=False)
    assert env_seconds("TWAT_CACHE_TEST_SECONDS", 7.0) == 7.0
    monkeypatch.setenv("TWAT_CACHE_TEST_SECONDS", "")
    assert env_seconds("TWAT_CACHE_TEST_SECONDS", 7.0) == 7.0  # empty: unset
    monkeypatch.setenv("TWAT_CACHE_TEST_SECONDS", "0.25")
    assert env_seconds("TWAT_CACHE_TEST_SECONDS", 7.0) == 0.25
    monkeypatch.setenv("TWAT_CACHE_TEST_SECONDS", "never")
    with pytest.raises(ValueError, match=r"^\$TWAT_CACHE_TEST_SECONDS: expected seconds > 0"):
        env_seconds("TWAT_CACHE_TEST_SECONDS", 7.0)


# --- the URL in the environment ------------------------------------------------------------------


def test_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("TWAT_CACHE_TEST_OWN_URL", "TWAT_CACHE_TEST_URL")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    assert env_url(names, ("x",)) is None
    monkeypatch.setenv("TWAT_CACHE_TEST_URL", "  ")
    assert env_url(names, ("x",)) is None  # blank: unset
    monkeypatch.setenv("TWAT_CACHE_TEST_URL", "X://generic")
    assert env_url(names, ("x",)) == ("$TWAT_CACHE_TEST_URL", "X://generic")  # any case
    monkeypatch.setenv("TWAT_CACHE_TEST_OWN_URL", "x://own")
    assert env_url(names, ("x",)) == ("$TWAT_CACHE_TEST_OWN_URL", "x://own")  # the own one first
    monkeypatch.setenv("TWAT_CACHE_TEST_OWN_URL", "y://other")
    assert env_url(names, ("x",)) == ("$TWAT_CACHE_TEST_URL", "X://generic")  # passed over
    monkeypatch.setenv("TWAT_CACHE_TEST_URL", "z://neither")
    # none names this kind of server: the first one, so that parsing it says what is wrong
    assert env_url(names, ("x",)) == ("$TWAT_CACHE_TEST_OWN_URL", "y://other")


# --- the circuit breaker -------------------------------------------------------------------------


class FakeServer:
    """A probe target: down until `up` is set; counts the probes."""

    def __init__(self) -> None:
        self.up = threading.Event()
        self.probes = 0

    def ping(self) -> None:
        self.probes += 1
        if not self.up.is_set():
            raise ConnectionRefusedError("refused")


@pytest.fixture
def quick_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probe every 10 ms: the one place every breaker reads the interval from."""
    monkeypatch.setattr(network, "RETRY_INTERVAL", 0.01)


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("quick_probes")
def test_breaker_opens_probes_and_closes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="twat_cache")
    server = FakeServer()
    breaker = Breaker("Thing", "thing://h:1", server.ping, effect="its keys are misses")
    assert breaker.closed
    breaker.failed(TimeoutError("timed out"), "mod.f")
    breaker.failed(TimeoutError("again"), "mod.g")  # the same outage: no second warning
    assert not breaker.closed
    until(lambda: server.probes >= 3, what="the probe thread retries")
    assert not breaker.closed
    assert [m for m in warnings_of(caplog) if "thing://" in m] == [
        "mod.f: Thing at thing://h:1 does not answer (TimeoutError: timed out); its keys are "
        "misses until it is back (probed every 0.0 s)"
    ]
    server.up.set()
    until(lambda: breaker.closed, what="the probe closes the breaker")
    thread = breaker.thread
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive()  # one probe thread per outage, gone once it is over
    infos = logged(caplog, logging.INFO, exact=True, logger=None, containing="thing://")
    assert infos == ["Thing at thing://h:1 answers again; caching resumes"]

    # the next outage warns again (once), with the default effect and no caller named
    other = Breaker("Thing", "thing://h:2", server.ping)
    server.up.clear()
    other.failed(OSError("reset"))
    assert [m for m in warnings_of(caplog) if "thing://h:2" in m] == [
        "Thing at thing://h:2 does not answer (OSError: reset); calls run uncached until it "
        "is back (probed every 0.0 s)"
    ]
    server.up.set()
    until(lambda: other.closed, what="the second breaker closes")


@pytest.mark.timeout(30)
def test_breaker_probe_once_and_recovered_without_a_thread() -> None:
    server = FakeServer()
    breaker = Breaker("Thing", "t", server.ping)
    breaker.closed = False  # opened elsewhere; no thread needed to test one probe
    assert breaker.probe_once() is False
    assert not breaker.closed
    server.up.set()
    assert breaker.probe_once() is True
    assert breaker.closed
    breaker.recovered()  # already closed: nothing to say, nothing changes
    assert breaker.closed


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("quick_probes")
def test_a_dropped_breaker_ends_its_probe_thread() -> None:
    server = FakeServer()  # never comes back
    breaker = Breaker("Thing", "t", server.ping)
    breaker.failed(OSError("down"))
    thread = breaker.thread
    assert thread is not None
    until(lambda: server.probes >= 1, what="a first probe")
    del breaker  # its stores are gone: the thread holds it weakly
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


# --- one object per key in this process ----------------------------------------------------------


def test_per_process_makes_one_object_per_key_and_forgets() -> None:
    made: list[str] = []

    def make(key: str) -> list[str]:
        made.append(key)
        return [key]

    memo = PerProcess()
    first = memo.get("a", make)
    assert memo.get("a", make) is first
    assert memo.get("b", make) == ["b"]
    assert made == ["a", "b"]
    memo.forget()
    assert memo.get("a", make) is not first  # a fresh one after forgetting
    assert made == ["a", "b", "a"]


@pytest.mark.timeout(30)
def test_per_process_makes_each_object_once_under_threads() -> None:
    made: list[int] = []
    start = threading.Barrier(8)

    def make(key: str) -> object:
        made.append(1)
        time.sleep(0.01)  # widen the window a second maker would slip into
        return object()

    memo = PerProcess()
    got: list[object] = []

    def worker() -> None:
        start.wait()
        got.append(memo.get("k", make))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(made) == 1
    assert len({id(o) for o in got}) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.timeout(60)
def test_per_process_forgets_in_a_forked_child() -> None:
    memo = PerProcess()
    parents = memo.get("k", lambda key: object())
    assert in_child(lambda: memo.get("k", lambda key: object()) is not parents) == 0  # its own
    assert memo.get("k", lambda key: object()) is parents  # the parent keeps its own


# --- import cost ---------------------------------------------------------------------------------


def test_import_and_decoration_do_not_import_the_network_module() -> None:
    out = run_python(
        """
        import sys, twat_cache
        @twat_cache.ucache
        def f(x): return x
        @twat_cache.mcache
        def g(x): return x
        g(1)
        print("twat_cache.network" in sys.modules)
        """
    )
    assert out.strip() == "False"
