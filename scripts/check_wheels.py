"""Build every distribution's wheel and sdist, then prove them in fresh environments.

Called by `nox -s wheels`. Our distributions come only from the local wheelhouse; third-party
dependencies of the plugins come from the package index. Checks: core alone installs with no
index and brings nothing third-party; core + each plugin registers that backend;
`twat-cache[diskcache]` and `twat-cache[all]` resolve to our 3.x, never to the unrelated 2.7.5
on the index; an sdist builds and installs too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ["cachebox", "cachetools", "diskcache", "klepto", "joblib", "aiocache", "redis"]
VERSION = "3.0.0"

PROBE = """
import importlib.metadata as md, json, sys
import twat_cache
from twat_cache import registry
names = sorted(registry.discover())
dists = sorted(
    f"{d.metadata['Name']}=={d.version}" for d in md.distributions() if d.metadata["Name"]
)
@twat_cache.mcache
def f(x): return x
f(1); f(1)
print(json.dumps({"version": twat_cache.__version__, "backends": names, "dists": dists,
                  "hits": f.cache_info().hits, "file": twat_cache.__file__}))
"""


def run(*cmd: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return out.stdout


def fresh_env(uv: str, base: Path, name: str) -> Path:
    env = base / name
    run(uv, "venv", "--quiet", "--python", sys.executable, str(env))
    return env / ("Scripts" if os.name == "nt" else "bin") / "python"


def probe(python: Path, cache_dir: Path) -> dict[str, object]:
    env = {**os.environ, "TWAT_CACHE_DIR": str(cache_dir)}
    env.pop("PYTHONPATH", None)
    result: dict[str, object] = json.loads(run(str(python), "-c", PROBE, env=env))
    return result


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok  {message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uv", default="uv", help="the uv executable")
    args = parser.parse_args()
    uv = args.uv
    with tempfile.TemporaryDirectory(prefix="twat-wheels-") as tmp:
        base = Path(tmp)
        house = base / "wheelhouse"
        run(uv, "build", "--all-packages", "--quiet", "--out-dir", str(house), str(ROOT))
        wheels = sorted(p.name for p in house.glob("*.whl"))
        sdists = sorted(p.name for p in house.glob("*.tar.gz"))
        dists = ["twat_cache", "twat_cache_core", *(f"twat_cache_{p}" for p in PLUGINS)]
        for dist in dists:
            check(f"{dist}-{VERSION}-py3-none-any.whl" in wheels, f"wheel of {dist} built")
            check(f"{dist}-{VERSION}.tar.gz" in sdists, f"sdist of {dist} built")
        cache = base / "cache"
        local = ["--find-links", str(house)]

        py = fresh_env(uv, base, "core")
        run(
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(py),
            "--no-index",
            *local,
            "twat-cache-core",
        )
        got = probe(py, cache)
        check(got["version"] == VERSION, "core alone imports twat_cache 3.0.0")
        check(got["backends"] == ["functools"], "core alone registers only functools")
        check(
            got["dists"] == [f"twat-cache-core=={VERSION}"], "core alone brings nothing third-party"
        )
        check(got["hits"] == 1, "core alone caches")

        for plugin in PLUGINS:
            py = fresh_env(uv, base, f"core-{plugin}")
            run(
                uv, "pip", "install", "--quiet", "--python", str(py), *local, f"twat-cache-{plugin}"
            )
            got = probe(py, cache)
            check(
                set(got["backends"]) == {"functools", plugin}, f"core + {plugin} registers {plugin}"
            )

        for extra, want in (
            ("diskcache", {"functools", "diskcache"}),
            ("all", {"functools", *PLUGINS}),
        ):
            py = fresh_env(uv, base, f"meta-{extra}")
            run(
                uv, "pip", "install", "--quiet", "--python", str(py), *local, f"twat-cache[{extra}]"
            )
            got = probe(py, cache)
            dists_in = got["dists"]
            check(
                f"twat-cache=={VERSION}" in dists_in,
                f"twat-cache[{extra}] resolves to our {VERSION}",
            )
            check(
                not any(d.startswith("twat-cache==2.") for d in dists_in), "never the unrelated 2.x"
            )
            check(set(got["backends"]) == want, f"twat-cache[{extra}] registers {sorted(want)}")

        py = fresh_env(uv, base, "sdist")
        sdist = house / f"twat_cache_core-{VERSION}.tar.gz"
        run(uv, "pip", "install", "--quiet", "--python", str(py), str(sdist))  # index: hatchling
        check(probe(py, cache)["version"] == VERSION, "core builds and installs from its sdist")
    print("wheels: all checks passed")


if __name__ == "__main__":
    main()
