"""`instrument()`: hits, misses and compute time of every cache, through OpenTelemetry.

This module is `twat_cache.otel`, not `twat_cache.instrument`: a submodule of that name would
replace the function `twat_cache.instrument` as an attribute of the package once imported.

Counters `twat_cache.hits` and `twat_cache.misses` are observable counters read from the
caches' own exact counters when the SDK collects (so the hit path does no extra work), and
`twat_cache.compute.duration` is a histogram (seconds) recorded after each computation. Every
point carries `cache.name` and `cache.backend`. Without `opentelemetry-api` installed
(`pip install 'twat-cache[otel]'`), `instrument()` does nothing and returns False.
"""

from __future__ import annotations

import threading

from twat_cache import stats
from twat_cache.state import COMPUTE_HOOKS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from twat_cache.state import CacheState

__all__ = ["instrument"]

_lock = threading.Lock()
_installed: list[Any] = []


def _attributes(state: CacheState) -> dict[str, str]:
    return {"cache.name": state.name, "cache.backend": state.record.backend}


def instrument(meter_provider: Any = None) -> bool:
    """Report every cache's hits, misses and compute time through OpenTelemetry metrics.

    May be called at any time: caches made before and after are covered. `meter_provider`
    defaults to OpenTelemetry's global one. Returns True when instrumented (again calls are
    no-ops), False when `opentelemetry-api` is not installed.
    """
    try:
        from opentelemetry import metrics  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError:
        return False
    with _lock:
        if _installed:
            return True
        from twat_cache._version import __version__  # noqa: PLC0415

        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter("twat_cache", __version__)

        def observe(counter: str) -> Any:
            def callback(options: Any) -> Iterator[Any]:
                for state in stats.live_states():
                    value = getattr(state, counter).value()
                    yield metrics.Observation(value, _attributes(state))

            return callback

        meter.create_observable_counter(
            "twat_cache.hits",
            callbacks=[observe("hits")],
            unit="{call}",
            description="calls answered from the cache",
        )
        meter.create_observable_counter(
            "twat_cache.misses",
            callbacks=[observe("misses")],
            unit="{call}",
            description="calls that computed",
        )
        duration = meter.create_histogram(
            "twat_cache.compute.duration", unit="s", description="time spent computing results"
        )

        def record(state: CacheState, seconds: float) -> None:
            duration.record(seconds, _attributes(state))

        COMPUTE_HOOKS.append(record)
        _installed.append(record)
        return True


def uninstrument() -> None:
    """Stop reporting compute durations (the observable counters stay with their provider)."""
    with _lock:
        for hook in _installed:
            if hook in COMPUTE_HOOKS:
                COMPUTE_HOOKS.remove(hook)
        _installed.clear()
