"""Build every distribution's wheel and sdist into dist/, then prove them in fresh environments.

Called by `nox -s wheels`. Our distributions come only from the local wheelhouse (dist/ of the
checkout, or `--out-dir`); third-party dependencies of the plugins come from the package index.
Checks: every distribution's metadata has the project URLs; core alone installs with no index
and brings nothing third-party; core + each plugin registers that backend;
`twat-cache[diskcache]` and `twat-cache[all]` resolve to our 3.x, never to the unrelated 2.7.5
on the index; an sdist builds and installs too. Then the README's install lines run exactly as
written (see `check_readme`), each install in a fresh virtualenv of a copy of the checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from email.parser import HeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = [
    "cachebox",
    "cachetools",
    "diskcache",
    "klepto",
    "joblib",
    "aiocache",
    "redis",
    "memcached",
]
VERSION = "3.0.0"
URLS = ("Homepage", "Documentation", "Repository", "Issues")
REPOSITORY = "https://github.com/twardoch/twat-cache"

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


def run(*cmd: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=cwd)
    if out.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return out.stdout


def fresh_env(uv: str, base: Path, name: str) -> Path:
    env = base / name
    run(uv, "venv", "--quiet", "--python", sys.executable, str(env))
    return env / ("Scripts" if os.name == "nt" else "bin") / "python"


def probe(python: Path, cache_dir: Path, code: str = PROBE) -> dict[str, object]:
    env = {**os.environ, "TWAT_CACHE_DIR": str(cache_dir)}
    env.pop("PYTHONPATH", None)
    result: dict[str, object] = json.loads(run(str(python), "-c", code, env=env))
    return result


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok  {message}")


def wheel_metadata(wheel: Path) -> dict[str, list[str]]:
    """The METADATA headers of a wheel, each name with all its values."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = HeaderParser().parsestr(archive.read(name).decode())
    headers: dict[str, list[str]] = {}
    for key, value in message.items():
        headers.setdefault(key, []).append(value)
    return headers


def check_urls(house: Path) -> None:
    """Every wheel names the project's Homepage, Documentation, Repository and Issues URLs."""
    for wheel in sorted(house.glob(f"*-{VERSION}-py3-none-any.whl")):
        urls = dict(
            u.split(", ", 1) for u in wheel_metadata(wheel).get("Project-URL", []) if ", " in u
        )
        check(
            set(URLS) <= set(urls) and all(urls[k].startswith(REPOSITORY) for k in URLS),
            f"{wheel.name} names the project URLs {sorted(urls)}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uv", default="uv", help="the uv executable")
    parser.add_argument(
        "--out-dir", type=Path, default=ROOT / "dist", help="where the wheels go (dist/)"
    )
    parser.add_argument("--skip-readme", action="store_true", help="skip the README's lines")
    args = parser.parse_args()
    uv = args.uv
    house = args.out_dir.resolve()
    house.mkdir(parents=True, exist_ok=True)
    for old in house.glob("twat_cache*"):  # ours only: other files in dist/ stay
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="twat-wheels-") as tmp:
        base = Path(tmp)
        run(uv, "build", "--all-packages", "--quiet", "--out-dir", str(house), str(ROOT))
        wheels = sorted(p.name for p in house.glob("*.whl"))
        sdists = sorted(p.name for p in house.glob("*.tar.gz"))
        dists = ["twat_cache", "twat_cache_core", *(f"twat_cache_{p}" for p in PLUGINS)]
        for dist in dists:
            check(f"{dist}-{VERSION}-py3-none-any.whl" in wheels, f"wheel of {dist} built")
            check(f"{dist}-{VERSION}.tar.gz" in sdists, f"sdist of {dist} built")
        check_urls(house)
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
        if not args.skip_readme:
            check_readme(uv, base / "readme")
    print(f"wheels: all checks passed; the wheels and sdists are in {house}")


# ---------------------------------------------------------------------------------------------
# The README's install lines, run as written

README_PROBE = """
import importlib.metadata as md, json, twat_cache
print(json.dumps({
    "version": twat_cache.__version__,
    "backends": sorted(twat_cache.available_backends()["backends"]),
    "dists": sorted(f"{d.metadata['Name']}=={d.version}" for d in md.distributions()),
    "file": twat_cache.__file__,
}))
"""
NOT_INHERITED = {
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "UV_PYTHON",
    "UV_PROJECT_ENVIRONMENT",
    "UV_SYSTEM_PYTHON",
}
RUNNABLE = re.compile(r"^(pip install|uv pip install|uv build) ")


def readme_lines(readme: str) -> list[str]:
    """The commands of the ```bash blocks in the README's "## Install" section, in order.

    Only installs and builds run: `pip install ...`, `uv pip install ...`, `uv build ...`.
    A `python -m nox ...` line is not run here: it is what runs this script.
    """
    section = readme.split("\n## Install", 1)[1].split("\n## ", 1)[0]
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL):
        for raw in block.splitlines():
            line = raw.split(" #", 1)[0].strip()
            if RUNNABLE.match(line):
                lines.append(line)
    return lines


def expected(line: str) -> tuple[set[str], bool]:
    """The backends an install line should give (besides functools), and whether the meta-dist."""
    backends: set[str] = set()
    meta = False
    for word in shlex.split(line):
        folder = re.fullmatch(r"\./packages/twat-cache-(\w+)", word)
        if folder and folder.group(1) in PLUGINS:
            backends.add(folder.group(1))
        if word == "./packages/*":
            backends.update(PLUGINS)
        extras = re.fullmatch(r"(twat-cache|\.)(?:\[([\w,]+)\])?", word)
        if extras:
            meta = True
            for extra in (extras.group(2) or "").split(","):
                backends.update(PLUGINS if extra == "all" else {extra} & set(PLUGINS))
    return backends, meta


def check_readme(uv: str, base: Path) -> None:
    """Run the README's install lines exactly as written, in a copy of the checkout.

    Each install line gets a fresh virtualenv (with pip), first on PATH, and then must give
    twat-cache 3.0.0 with the backends the line names, from the wheels or folders it names.
    A `uv pip install` must print no warning (e.g. about an unknown extra).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from check_bootstrap import copy_checkout

    lines = readme_lines((ROOT / "README.md").read_text())
    check(len(lines) >= 5, f"the README's Install section has {len(lines)} lines to run")
    checkout = base / "checkout"
    copy_checkout(checkout)
    uv_dir = str(Path(shutil.which(uv) or uv).resolve().parent)
    for n, line in enumerate(lines, start=1):
        # As a user's shell would be: no virtualenv of ours, and none of the variables nox sets
        # for uv in its sessions (UV_PYTHON would send `uv pip install` to nox's venv).
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        venv = base / f"venv{n}"
        installs = not line.startswith("uv build")
        if installs:
            run(uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(venv))
            env["VIRTUAL_ENV"] = str(venv)
            env["PATH"] = os.pathsep.join([str(venv / "bin"), uv_dir, env.get("PATH", "")])
        else:
            env["PATH"] = os.pathsep.join([uv_dir, env.get("PATH", "")])
        start = time.perf_counter()
        proc = subprocess.run(
            ["bash", "-c", f"set -e; {line}"],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        took = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"FAILED: README line {line!r}\n{proc.stdout}\n{proc.stderr}")
        if line.startswith("uv "):
            check("warning" not in proc.stderr.lower(), f"no warning from {line!r}")
        if not installs:
            check(True, f"README: {line}  ({took:.1f} s)")
            continue
        got = probe(venv / "bin" / "python", base / "cache", README_PROBE)
        backends, meta = expected(line)
        where = str(got["file"])
        dists = got["dists"]
        assert isinstance(dists, list)
        ours = sorted(d for d in dists if d.startswith("twat-cache"))
        want = sorted(
            {f"twat-cache-core=={VERSION}"}
            | {f"twat-cache-{b}=={VERSION}" for b in backends}
            | ({f"twat-cache=={VERSION}"} if meta else set())
        )
        check(
            got["version"] == VERSION
            and set(got["backends"]) == {"functools", *backends}  # type: ignore[arg-type]
            and ours == want
            and where.startswith((str(venv), str(checkout))),
            f"README: {line}  ({took:.1f} s) -> {', '.join(ours)}",
        )


if __name__ == "__main__":
    main()
