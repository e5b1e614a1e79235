"""Every decorator on every backend, as pytest params, for tests of behaviour all caches share.

A `Target` is one decorator on one backend (`mcache` on cachebox, `bcache` on klepto, `acache`
on aiocache, ...). `target.cache(**options)` is that decorator with `options`; `target.define`
makes a cached function of a plain body (an `async def` around it for the async targets), and
`call`/`control` call a cached function or one of its per-call controls and return the answer
whether it is a value or an awaitable. Targets whose plugin is not installed are skipped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

import twat_cache as tc
from conftest import has
from helpers import run


@dataclass(frozen=True)
class Target:
    """One decorator on one backend."""

    id: str
    decorator: str
    engine: str | None = None  # None: whatever the decorator's chain picks
    kind: str = "memory"  # memory, disk, file, async
    is_async: bool = False
    plugins: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def persistent(self) -> bool:
        return self.kind in ("disk", "file")

    @property
    def backend(self) -> str | None:
        """The backend `cache_backend` reports, when the target names one."""
        return self.engine

    def cache(self, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        """The decorator with `options` (and the target's own)."""
        options = {**self.options, **options}
        deco = getattr(tc, self.decorator)
        if self.engine is not None:
            if self.decorator == "acache":
                options.setdefault("backend", self.engine)
            else:
                options.setdefault("preferred_engine", self.engine)
        return deco(**options)  # type: ignore[no-any-return]

    def function(self, body: Callable[..., Any]) -> Callable[..., Any]:
        """`body` itself, or on async targets a coroutine function with `body`'s signature."""
        if not self.is_async or inspect.iscoroutinefunction(body):
            return body
        return coroutine_of(body)

    def define(self, body: Callable[..., Any], **options: Any) -> Any:
        """Cache `body` (made a coroutine function first on async targets)."""
        wrapper = self.cache(**options)(self.function(body))
        if self.engine is not None:
            assert wrapper.cache_backend == self.engine
        return wrapper

    def param(self) -> Any:
        missing = [p for p in self.plugins if not has(f"twat_cache_{p}")]
        marks = [pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")]
        return pytest.param(self, id=self.id, marks=marks)


def coroutine_of(body: Callable[..., Any]) -> Callable[..., Any]:
    """An `async def` with `body`'s parameters (names, kinds, defaults) that returns its result.

    Made with the parameters spelled out, so that what the decorators read from the code
    object (ignore=, keys, methods) is the same as for `body`.
    """
    signature = inspect.signature(body)
    params: list[str] = []
    args: list[str] = []
    namespace: dict[str, Any] = {"__body": body, "__name__": body.__module__}
    star = False
    kinds = inspect.Parameter
    for p in signature.parameters.values():
        text = p.name
        if p.default is not p.empty:
            namespace[f"__default_{p.name}"] = p.default
            text += f"=__default_{p.name}"
        if p.kind is kinds.VAR_POSITIONAL:
            text, star = f"*{p.name}", True
            args.append(f"*{p.name}")
        elif p.kind is kinds.VAR_KEYWORD:
            text = f"**{p.name}"
            args.append(f"**{p.name}")
        elif p.kind is kinds.KEYWORD_ONLY:
            if not star:
                params.append("*")
                star = True
            args.append(f"{p.name}={p.name}")
        else:
            args.append(p.name)
        params.append(text)
        if p.kind is kinds.POSITIONAL_ONLY and not any(
            q.kind is kinds.POSITIONAL_ONLY
            for q in list(signature.parameters.values())[len(params) :]
        ):
            params.append("/")
    name = body.__name__ if body.__name__.isidentifier() else "func"
    source = f"async def {name}({', '.join(params)}):\n    return __body({', '.join(args)})\n"
    exec(source, namespace)
    func: Callable[..., Any] = namespace[name]
    func.__name__ = body.__name__
    func.__qualname__ = body.__qualname__
    func.__module__ = body.__module__
    return func


def _async(target: Target) -> Target:
    return Target(
        id=f"async-{target.id}",
        decorator=target.decorator,
        engine=target.engine,
        kind=target.kind,
        is_async=True,
        plugins=target.plugins,
        options=target.options,
    )


MEMORY = [
    Target("mcache-cachebox", "mcache", "cachebox", plugins=("cachebox",)),
    Target("mcache-cachetools", "mcache", "cachetools", plugins=("cachetools",)),
    Target("mcache-functools", "mcache", "functools"),
    Target("ucache-memory", "ucache"),
]
PERSISTENT = [
    Target("bcache-diskcache", "bcache", "diskcache", "disk", plugins=("diskcache",)),
    Target("bcache-klepto", "bcache", "klepto", "disk", plugins=("klepto",)),
    Target("fcache-joblib", "fcache", "joblib", "file", plugins=("joblib",)),
    Target("fcache-klepto", "fcache", "klepto", "file", plugins=("klepto",)),
    Target(
        "ucache-disk",
        "ucache",
        None,
        "disk",
        plugins=("diskcache",),
        options={"folder_name": "ucache_disk"},
    ),
]
ASYNC = [
    Target("acache-aiocache", "acache", "aiocache", "async", True, ("aiocache",)),
    Target("acache-functools", "acache", "functools", "async", True),
    _async(MEMORY[0]),
    _async(PERSISTENT[0]),
    _async(PERSISTENT[1]),
    _async(PERSISTENT[2]),
]
SYNC = MEMORY + PERSISTENT
EVERY = SYNC + ASYNC
BY_ID = {t.id: t for t in EVERY}


def params(targets: Iterable[Target]) -> list[Any]:
    """The targets as pytest params (skipped when their plugin is absent)."""
    return [t.param() for t in targets]


def over(targets: Iterable[Target]) -> pytest.MarkDecorator:
    """Parametrize a test's `target` argument over `targets`."""
    return pytest.mark.parametrize("target", params(targets))


def call(f: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a cached function (sync or async) and return its answer."""
    return resolve(f(*args, **kwargs))


def control(method: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a per-call control (`f.cache_get`, ...) and return its answer (awaited if needed)."""
    return resolve(method(*args, **kwargs))


def resolve(answer: Any) -> Any:
    """A value as is; an awaitable run to completion on a fresh loop (20 s at most)."""
    if inspect.isawaitable(answer):
        return run(answer)
    return answer
