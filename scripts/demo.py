"""The demo: every decorator on the installed backends, showing which backend each picked.

Run it with `bash scripts/demo.sh` (sets up uv and nox, installs every backend, runs this), or
`python scripts/demo.py` in any environment with twat-cache installed. It writes its caches to
a temporary folder, never to your real cache directory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time

os.environ.setdefault("TWAT_CACHE_DIR", tempfile.mkdtemp(prefix="twat-cache-demo-"))

import twat_cache as tc

logging.basicConfig(level=logging.WARNING, format="  (log) %(message)s", stream=sys.stdout)


def slow_square(x: int) -> int:
    time.sleep(0.2)
    return x * x


async def slow_fetch(x: int) -> str:
    await asyncio.sleep(0.2)
    return f"page {x}"


def timed(call):
    start = time.perf_counter()
    value = call()
    return value, (time.perf_counter() - start) * 1000


def show(label: str, cached, call) -> None:
    first, t1 = timed(call)
    second, t2 = timed(call)
    info = cached.cache_info()
    print(
        f"{label:<34} backend={cached.cache_backend:<10} "
        f"miss {t1:7.1f} ms -> hit {t2:6.3f} ms  result={second!r}  "
        f"(hits={info.hits} misses={info.misses} size={info.currsize})"
    )
    assert first == second


def main() -> None:
    print(f"twat-cache {tc.__version__}; cache root: {tc.get_cache_path()}")
    installed = tc.available_backends()
    print("installed backends:", ", ".join(sorted(installed["backends"])))
    print()
    cases = [
        ("@mcache", tc.mcache(slow_square)),
        ("@mcache(maxsize=128, policy='lfu')", tc.mcache(maxsize=128, policy="lfu")(slow_square)),
        ("@mcache(ttl=60)", tc.mcache(ttl=60)(slow_square)),
        ("@bcache('demo_db')", tc.bcache("demo_db")(slow_square)),
        ("@fcache('demo_files')", tc.fcache("demo_files")(slow_square)),
        ("@ucache", tc.ucache(slow_square)),
        ("@ucache(folder_name='demo_u')", tc.ucache(folder_name="demo_u")(slow_square)),
    ]
    for label, cached in cases:
        show(label, cached, lambda c=cached: c(12))
    for label, cached in [
        ("@acache", tc.acache(slow_fetch)),
        ("@ucache (async)", tc.ucache(slow_fetch)),
    ]:
        show(label, cached, lambda c=cached: asyncio.run(c(3)))
    print()
    print("caches in this process:")
    for name, stats in tc.get_stats().items():
        print(f"  {name:<28} {stats['backend']:<10} hits={stats['hits']} misses={stats['misses']}")
    tc.clear_cache()


if __name__ == "__main__":
    main()
