"""Discovery through entry points: lazy loading, broken plugins skipped, our own distribution."""

from __future__ import annotations

import importlib.metadata as md
import json
import textwrap
from pathlib import Path

import pytest

import twat_cache as tc
from conftest import has
from helpers import run_python
from twat_cache import registry

BACKEND_LIBRARIES = [
    "cachebox",
    "cachetools",
    "diskcache",
    "klepto",
    "joblib",
    "aiocache",
    "redis",
    "pymemcache",
]


def test_import_twat_cache_imports_no_backend_library():
    out = run_python(
        f"""
        import sys, json
        import twat_cache
        libs = {BACKEND_LIBRARIES!r}
        heavy = libs + ["asyncio", "importlib.metadata"]
        print(json.dumps([m for m in sys.modules if m.split(".")[0] in heavy]))
        """
    )
    assert json.loads(out) == []


def test_decorating_loads_plugin_specs_but_only_the_chosen_library():
    out = run_python(
        f"""
        import sys, json
        import twat_cache
        @twat_cache.mcache
        def f(x): return x
        f(1)
        libs = {BACKEND_LIBRARIES!r}
        loaded = {{m.split(".")[0] for m in sys.modules}} & set(libs)
        print(json.dumps([f.cache_backend, sorted(loaded)]))
        """
    )
    backend, imported = json.loads(out)
    assert imported == ([backend] if backend != "functools" else [])


def test_loading_plugin_specs_imports_no_heavy_module():
    # Specs load while a program starts: `importlib.import_module` would load the importlib
    # package (and `warnings` with it: ~0.4 ms), a spec importing `typing` a few ms more.
    # (`warnings` itself may come with a fallback notice: logging imports it.)
    out = run_python(
        """
        import sys
        before = set(sys.modules)
        from twat_cache import acache, bcache, fcache, mcache, registry
        @mcache
        def f(x): return x
        @bcache
        def b(x): return x
        @fcache
        def c(x): return x
        @acache
        async def a(x): return x
        registry.discover()
        print(sorted({"importlib", "typing"} & (set(sys.modules) - before)))
        """
    )
    assert out.strip() == "[]"


def test_resolve_names_a_module_or_an_attribute_path():
    assert registry.resolve("twat_cache.registry") is registry
    assert registry.resolve(" twat_cache.registry : Registry.spec ") is registry.Registry.spec
    with pytest.raises(ModuleNotFoundError):
        registry.resolve("twat_cache_no_such_plugin:BACKEND")
    with pytest.raises(AttributeError):
        registry.resolve("twat_cache.registry:NoSuchSpec")


def test_functools_is_registered_through_the_same_entry_point_group():
    eps = {ep.name: ep for ep in md.entry_points(group=registry.GROUP)}
    assert eps["functools"].value == "twat_cache.backends.functools:BACKEND"
    spec = registry.discover()["functools"]
    assert spec.distribution == "twat-cache-core"
    for name in registry.discover():
        assert name in eps


def make_fake_plugins(tmp_path: Path) -> Path:
    """A fake distribution with a broken plugin, a non-spec one and a working one."""
    site = tmp_path / "site"
    dist = site / "fake_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[twat_cache.backends]\n"
        "broken = fake_broken:BACKEND\n"
        "notaspec = fake_good:NOT_A_SPEC\n"
        "fakegood = fake_good:BACKEND\n"
        "fakefails = fake_good:FAILS\n"
    )
    (site / "fake_broken.py").write_text("raise ImportError('this plugin is broken')\n")
    (site / "fake_good.py").write_text(
        textwrap.dedent(
            """
            from twat_cache.spec import BackendSpec
            from twat_cache.backends.functools import FunctoolsStore
            NOT_A_SPEC = object()
            BACKEND = BackendSpec(name="fakegood", kinds=frozenset({"memory"}),
                policies=frozenset({"lru"}), persistent=False, opener="fake_good:open_store")
            FAILS = BackendSpec(name="fakefails", kinds=frozenset({"memory"}),
                policies=frozenset({"lru"}), persistent=False, opener="fake_good:fail")
            def open_store(config, context):
                return FunctoolsStore(config.maxsize, config.policy)
            def fail(config, context):
                raise RuntimeError("cannot open")
            """
        )
    )
    return site


def test_broken_plugins_are_logged_and_skipped(tmp_path):
    site = make_fake_plugins(tmp_path)
    out = run_python(
        """
        import json, logging
        records = []
        class H(logging.Handler):
            def emit(self, r): records.append(r.getMessage())
        logging.getLogger("twat_cache").addHandler(H())
        import twat_cache
        from twat_cache import registry
        names = sorted(registry.discover())
        @twat_cache.ucache(preferred_engine="fakegood")
        def f(x): return x
        f(1); f(1)
        @twat_cache.ucache(preferred_engine="fakefails")
        def g(x): return x
        g(1)
        print(json.dumps({"names": names, "f": f.cache_backend, "hits": f.cache_info().hits,
                          "g": g.cache_backend, "records": records}))
        """,
        pythonpath=site,
    )
    result = json.loads(out)
    assert "broken" not in result["names"]
    assert "notaspec" not in result["names"]
    assert {"fakegood", "fakefails", "functools"} <= set(result["names"])
    assert result["f"] == "fakegood"
    assert result["hits"] == 1
    assert result["g"] != "fakefails"
    text = "\n".join(result["records"])
    assert "broken" in text
    assert "notaspec" in text
    assert "fakefails" in text


def test_the_imported_twat_cache_is_ours():
    """An unrelated `twat-cache` 2.7.5 on the index ships the same import name: guard against it."""
    owners = md.packages_distributions().get("twat_cache", [])
    assert set(owners) <= {"twat-cache-core"}, owners
    core = md.distribution("twat-cache-core")
    imported = Path(tc.__file__).resolve()
    files = [Path(str(core.locate_file(f))).resolve() for f in core.files or []]
    direct_url = core.read_text("direct_url.json")
    if imported in files:
        pass  # a regular install: the file is in core's own RECORD
    else:  # an editable install: the source tree core points to
        assert direct_url is not None, "twat_cache is not from twat-cache-core"
        url = json.loads(direct_url)["url"]
        source = Path(url.removeprefix("file://")).resolve()
        assert imported.is_relative_to(source), (imported, source)
    assert tc.__version__ == md.version("twat-cache-core") == "3.0.0"
    assert int(md.version("twat-cache").split(".")[0]) >= 3
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name and name.startswith("twat-cache"):
            assert dist.version == "3.0.0", (name, dist.version)


def test_a_spec_declares_its_url_schemes_lowercase_without_a_separator():
    from twat_cache.spec import BackendSpec

    def spec(schemes):
        return BackendSpec("x", {"disk"}, {"lru"}, True, "m:f", schemes=schemes)

    assert spec(("x", "x+cluster")).schemes == ("x", "x+cluster")
    assert spec(()).schemes == ()
    assert BackendSpec("y", {"disk"}, {"lru"}, True, "m:f").schemes == ()  # the default
    for bad in ("redis", ("Redis",), ("redis://",), ("",), (1,), ("a/b",)):
        with pytest.raises(ValueError, match=r"schemes"):
            spec(bad)


def test_url_schemes_loads_specs_only_when_a_url_is_given():
    """Decorating without url= imports no spec beyond the chosen one; url= looks them up."""
    out = run_python(
        """
        import json, sys
        import twat_cache
        before = sorted(m for m in sys.modules if m.startswith("twat_cache_"))
        @twat_cache.mcache
        def f(x): return x
        plain = sorted(m for m in sys.modules if m.startswith("twat_cache_"))
        try:
            twat_cache.ucache(url="nosuch://h")
        except ValueError as exc:
            said = str(exc)
        print(json.dumps([before, plain, said]))
        """
    )
    before, plain, said = json.loads(out)
    assert before == []
    if has("twat_cache_cachebox"):  # the chain's lead: found without loading other specs
        assert len(plain) <= 1
    assert said.startswith("url: no network store serves nosuch://")
