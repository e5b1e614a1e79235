"""`twat_cache.offload`: which work of coroutine stores runs in a worker thread (DESIGN §3 Async).

Sealing and unsealing a large value on the event loop stalls every other task (a 50 MB value:
~100 ms); a small one is cheaper than the hop to a thread. The rule is by size, and a value
whose size is not cheap to know goes to the thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from typing import Any

import pytest

from twat_cache import offload

BIG = offload.OFFLOAD_BYTES


class Thing:
    pass


class Bytes(bytes):
    pass


@pytest.mark.parametrize(
    ("value", "small"),
    [
        (None, True),
        (12345, True),
        (1.5, True),
        (True, True),
        (b"x" * 100, True),
        ("x" * 100, True),
        ((1, "a", b"b", None), True),
        ({"a": [1, 2, 3], "b": {"c": (4.0, 5j)}}, True),
        ({1, 2, 3}, True),
        (b"x" * BIG, False),
        (bytearray(BIG), False),
        (memoryview(b"x" * BIG), False),
        ("x" * BIG, False),
        ("é" * (BIG // 4), False),  # pickled as UTF-8: two bytes a character, counted as four
        (1 << (8 * BIG), False),  # a huge int: its digits count
        ([b"x" * (BIG // 2), b"y" * (BIG // 2)], False),  # the sum of the items
        ((0.0, b"x" * BIG), False),  # a core TTL stamp (deadline, value) around a large value
        (list(range(1000)), False),  # too many objects to look at: unknown
        ({i: i for i in range(1000)}, False),
        (Thing(), False),  # a user's object: anything could hang off it
        (Bytes(b"x"), False),  # a subclass may pickle differently
        (OrderedDict(a=1), False),
    ],
    ids=lambda v: type(v).__name__,  # repr of a huge int raises (int max str digits)
)
def test_only_small_plain_values_are_small(value: Any, small: bool) -> None:
    hint = offload.size_hint(value)
    assert offload.off_loop(hint) is not small
    if small:
        assert hint is not None
        assert hint < BIG


def test_self_referencing_containers_end() -> None:
    a: list[Any] = [1]
    a.append(a)
    d: dict[str, Any] = {}
    d["d"] = d
    assert offload.off_loop(offload.size_hint(a))  # bounded walk: unknown, so a thread
    assert offload.off_loop(offload.size_hint(d))


def test_the_thresholds() -> None:
    assert not offload.off_loop(0)
    assert not offload.off_loop(BIG - 1)
    assert offload.off_loop(BIG)
    assert offload.off_loop(None)
    # transfers by asyncio clients: copies on the loop, cheap until a larger size
    assert offload.TRANSFER_BYTES > BIG
    assert not offload.transfer_off_loop(offload.TRANSFER_BYTES - 1)
    assert offload.transfer_off_loop(offload.TRANSFER_BYTES)


@pytest.mark.timeout(30)
def test_run_calls_inline_below_the_threshold_and_in_a_thread_above() -> None:
    def where(tag: str) -> tuple[str, bool]:
        return tag, threading.current_thread() is threading.main_thread()

    async def main() -> list[tuple[str, bool]]:
        return [
            await offload.run(10, where, "small"),
            await offload.run(BIG, where, "big"),
            await offload.run(None, where, "unknown"),
        ]

    assert asyncio.run(main()) == [("small", True), ("big", False), ("unknown", False)]


@pytest.mark.timeout(30)
def test_run_raises_what_the_function_raises() -> None:
    def boom() -> None:
        raise ValueError("no")

    for size in (0, BIG):
        with pytest.raises(ValueError, match="no"):
            asyncio.run(offload.run(size, boom))
