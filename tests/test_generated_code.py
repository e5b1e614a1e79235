"""The generated hit path shows its source: in tracebacks and to `inspect.getsource`."""

from __future__ import annotations

import inspect
import traceback

import pytest

import twat_cache as tc
from helpers import python, run_python


def test_a_traceback_through_the_hit_path_shows_its_lines():
    @tc.mcache
    def boom(x):
        raise ValueError(x)

    with pytest.raises(ValueError) as info:
        boom(1)
    with pytest.raises(ValueError) as again:  # now through the generated hit path
        boom(2)
    del info
    text = "".join(traceback.format_exception(again.value))
    assert "twat_cache-hit-path-" in text  # the generated code's frame
    assert "return _tc_slow(" in text  # with its source line, not a bare file name


def test_the_generated_source_is_there_for_inspect():
    @tc.mcache
    def f(a, b=2):
        return a + b

    f(1)
    source = inspect.getsource(f.__code__)
    assert source.startswith("def _tc_wrapper(a, b=_):")
    assert "_tc_map[" in source or "_tc_get(" in source


def test_the_source_shows_when_linecache_loads_after_the_first_call():
    """Without linecache loaded at the first call, a later traceback still finds the lines."""
    if "linecache" in python("-c", "import sys; print(sorted(sys.modules))").stdout:
        pytest.skip("this Python loads linecache at start-up (3.13): the case cannot arise")
    code = (
        "import sys, twat_cache as tc\n"
        # A named, always present backend: a fallback notice would load logging (and linecache).
        "@tc.mcache(preferred_engine='functools')\n"
        "def boom(x):\n"
        "    raise ValueError(x)\n"
        "try:\n"
        "    boom(1)\n"
        "except ValueError:\n"
        "    pass\n"
        "assert 'linecache' not in sys.modules, 'the test needs linecache unloaded here'\n"
        "import traceback\n"
        "try:\n"
        "    boom(2)\n"
        "except ValueError as exc:\n"
        "    print(''.join(traceback.format_exception(exc)))\n"
    )
    out = python("-c", code, timeout=60).stdout
    assert "return _tc_slow(" in out


def test_no_generated_code_goes_through_the_compile_builtin():
    # The builtin's first call in a process builds the ast module's node types (1-3 ms, as
    # much as decorating 50 functions): stubs and hit paths are made from `exec` of the text.
    out = run_python(
        """
        import builtins
        seen = []
        real = builtins.compile
        def spy(source, filename, *args, **kwargs):
            seen.append(str(filename))
            return real(source, filename, *args, **kwargs)
        builtins.compile = spy
        from twat_cache import acache, mcache
        @mcache
        def f(x, y=2, *, z=3): return x
        @mcache(maxsize=8)
        def g(*a, **k): return a
        @acache
        async def h(x): return x
        f(1); f(1, z=4); g(1, b=2); f(1)
        print([name for name in seen if name.startswith("twat_cache-")])  # generated code
        """
    )
    assert out.strip() == "[]"
