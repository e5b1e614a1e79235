"""CPU-heavy work of coroutine stores (sealing, unsealing) off the event loop, by size.

DESIGN §3: a coroutine function never blocks the event loop on storage. Stores that block
(`Store.blocking`) are called in a worker thread as a whole by the async wrapper; an
asyncio-native store (`AsyncStore`, e.g. Redis over redis.asyncio) does its I/O on the loop
but must not pickle, MAC or decrypt a large value there: 50 MB take ~100 ms, during which no
other task runs. Small values stay on the loop, because a hop to a thread costs about as
much as sealing 64 KiB (tens of microseconds) and a hit is benchmarked.

The rule, in one place:
- `run(nbytes, func, *args)` calls `func` inline when `nbytes` is known and under
  `OFFLOAD_BYTES`, else in a worker thread (`to_thread`);
- `size_hint(value)` is what `nbytes` is for a value about to be sealed: a cheap, bounded
  look at plain data (bytes, str, numbers, small containers of them); None, so a thread,
  for anything else (its pickling cost is unknown: a user's object may hold anything);
- a blob about to be unsealed has its length;
- `transfer_off_loop(nbytes)`: a blob of `TRANSFER_BYTES` or more is also sent or received
  in a worker thread (with the library's blocking client), because asyncio clients copy
  what they send and receive on the loop: redis.asyncio copies a 50 MB value twice to send
  it (`writelines` joins, the transport buffers the rest) and three times to read it, which
  held the loop 50-90 ms even with sealing off it. Under 1 MiB the copies take about a
  millisecond.

Nothing is imported at module level: `asyncio` only when a coroutine first needs a thread.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    _T = TypeVar("_T")

__all__ = [
    "OFFLOAD_BYTES",
    "TRANSFER_BYTES",
    "off_loop",
    "run",
    "size_hint",
    "to_thread",
    "transfer_off_loop",
]

#: From this many bytes on, sealing or unsealing runs in a worker thread.
OFFLOAD_BYTES = 1 << 16
#: From this many bytes on, an asyncio-native store sends or receives in a worker thread.
TRANSFER_BYTES = 1 << 20
#: `size_hint` looks at no more objects than this (then the size counts as unknown).
_WALK = 256
_NUMBERS = frozenset({int, float, bool, complex, type(None)})
_SEQUENCES = frozenset({tuple, list, set, frozenset})


def size_hint(value: Any) -> int | None:
    """About how many bytes pickling `value` makes, or None when that is not cheap to know.

    Exact types only (a subclass may pickle anything): bytes, bytearray and memoryview count
    their length, str its UTF-8 bound, numbers a few bytes (a huge int its digits), tuples,
    lists, sets, frozensets and dicts the sum of their items, for at most `_WALK` objects in
    all (which also bounds a self-referencing container). Stops counting at `OFFLOAD_BYTES`.
    """
    total = 0
    stack = [value]
    seen = 0
    while stack:
        obj = stack.pop()
        seen += 1
        if seen > _WALK:
            return None
        kind = type(obj)
        if kind in _NUMBERS:
            total += 8 + (obj.bit_length() >> 3 if kind is int else 0)
        elif kind is bytes or kind is bytearray:
            total += len(obj)
        elif kind is str:  # pickled as UTF-8: up to 4 bytes a character
            total += len(obj) if obj.isascii() else 4 * len(obj)
        elif kind is memoryview:
            total += obj.nbytes
        elif kind in _SEQUENCES:
            if len(obj) > _WALK:
                return None
            total += len(obj)
            stack.extend(obj)
        elif kind is dict:
            if len(obj) > _WALK:
                return None
            total += len(obj)
            stack.extend(obj.keys())
            stack.extend(obj.values())
        else:
            return None
        if total >= OFFLOAD_BYTES:
            return total  # enough to decide
    return total


def off_loop(nbytes: int | None) -> bool:
    """True when work on `nbytes` bytes (None: unknown) belongs in a worker thread."""
    return nbytes is None or nbytes >= OFFLOAD_BYTES


def transfer_off_loop(nbytes: int) -> bool:
    """True when sending or receiving `nbytes` bytes belongs in a worker thread (see above)."""
    return nbytes >= TRANSFER_BYTES


async def to_thread(func: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """`asyncio.to_thread`, with asyncio imported when a coroutine first needs a thread.

    The default executor of the running loop runs `func`; the context (contextvars) goes
    with it, as with `asyncio.to_thread`.
    """
    import asyncio  # noqa: PLC0415

    return await asyncio.to_thread(func, *args, **kwargs)


async def run(nbytes: int | None, func: Callable[..., _T], /, *args: Any) -> _T:
    """`func(*args)`: inline for fewer than `OFFLOAD_BYTES` bytes, else in a worker thread.

    `nbytes` is the size of the data `func` pickles, MACs or decrypts: a blob's length, or
    `size_hint(value)` for a value about to be sealed (None: unknown, so a thread).
    """
    if nbytes is None or nbytes >= OFFLOAD_BYTES:
        return await to_thread(func, *args)
    return func(*args)
