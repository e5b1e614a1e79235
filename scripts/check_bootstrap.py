"""Prove the README's commands on a system Python that refuses `pip install` (PEP 668).

Builds an "externally managed" interpreter from the running one's base installation (its
binary copied, its standard library linked, an `EXTERNALLY-MANAGED` file added, only pip in its
site-packages), checks that it really refuses `pip install`, copies this checkout to a temporary
folder and runs `bash scripts/demo.sh` there with a PATH that has this interpreter and the
system's folders, but no uv and no nox. Then checks that the demo ran, that uv and nox went into
the checkout's `.tools/`, and that nothing was installed into the interpreter itself.

Variants (`--variant`, default `venv`; `all` runs each):
  venv          a complete interpreter: bootstrap.sh makes `.tools/` with `python -m venv`;
  no-ensurepip  no `ensurepip` (Debian without python3-venv): `venv --without-pip` + `pip --python`;
  no-venv       no `venv` module either: `pip install --target .tools/site`.
The demo runs in every variant; the first also proves that a second run reuses `.tools/`.

Run by `nox -s bootstrap`; standard library only, so any Python 3.10+ can run it directly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"venv": "venv", "no-ensurepip": "venv+pip", "no-venv": "target"}
LEFT_OUT = {"venv": set(), "no-ensurepip": {"ensurepip"}, "no-venv": {"ensurepip", "venv"}}
SYSTEM_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
DROP = re.compile(
    r"^(VIRTUAL_ENV|PYTHON.*|PYENV.*|UV_.*|NOX.*|CONDA.*|TWAT_.*|__PYVENV_LAUNCHER__)$"
)
MARKER = (
    "[externally-managed]\n"
    "Error=This Python is managed by scripts/check_bootstrap.py (a PEP 668 test interpreter).\n"
)


def check(condition: bool, message: str, detail: str = "") -> None:
    if not condition:
        raise SystemExit(f"FAILED: {message}\n{detail}")
    print(f"ok  {message}", flush=True)


def base_interpreter() -> tuple[Path, Path]:
    """The base installation's binary and its standard library folder."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    binary = Path(getattr(sys, "_base_executable", "") or sys.executable).resolve()
    if not binary.name.startswith("python"):
        binary = Path(sys.base_prefix) / "bin" / f"python{version}"
    return binary, Path(sysconfig.get_path("stdlib"))


def ask(python: Path, code: str) -> str:
    """What `python -I -c code` prints (isolated: no user site, no PYTHON* variables)."""
    return subprocess.run(
        [str(python), "-I", "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def base_pip(binary: Path) -> list[Path]:
    """The base installation's pip: the package and its dist-info, wherever it lives.

    pyenv's and python.org's builds keep it in site-packages; Debian's in dist-packages.
    """
    try:
        parent = Path(ask(binary, "import os, pip; print(os.path.dirname(pip.__path__[0]))"))
    except subprocess.CalledProcessError:
        return []
    return [
        p
        for p in parent.glob("pip*")
        if p.name == "pip" or (p.name.startswith("pip-") and p.name.endswith(".dist-info"))
    ]


def site_folder(python: Path, prefix: Path) -> Path:
    """The first site-packages folder of `python` inside `prefix` (created if missing)."""
    for folder in json.loads(
        ask(python, "import json, site; print(json.dumps(site.getsitepackages()))")
    ):
        if Path(folder).is_relative_to(prefix):
            Path(folder).mkdir(parents=True, exist_ok=True)
            return Path(folder)
    raise SystemExit(f"FAILED: no site-packages folder of {python} inside {prefix}")


def build_pep668_python(dest: Path, variant: str) -> Path:
    """A copy of the base interpreter whose environment is externally managed (PEP 668).

    The binary is copied (its folder decides the prefix), the standard library linked entry by
    entry (less what the variant leaves out), pip linked into its site-packages, and the
    `EXTERNALLY-MANAGED` marker written into its standard library folder, where pip looks.
    """
    binary, stdlib = base_interpreter()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    bindir = dest / "bin"
    libdir = dest / "lib" / f"python{version}"
    bindir.mkdir(parents=True)
    libdir.mkdir(parents=True)
    python = bindir / f"python{version}"
    shutil.copy2(binary, python)
    for alias in ("python3", "python"):
        (bindir / alias).symlink_to(python.name)
    for lib in Path(sys.base_prefix, "lib").glob("libpython*"):  # for an $ORIGIN run path
        (dest / "lib" / lib.name).symlink_to(lib)
    for entry in stdlib.iterdir():
        if entry.name in {"site-packages", "dist-packages", "EXTERNALLY-MANAGED"}:
            continue  # its own site-packages and marker come below, never the base's
        if entry.name in LEFT_OUT[variant]:
            continue
        (libdir / entry.name).symlink_to(entry)
    site = site_folder(python, dest)
    pips = base_pip(binary)
    if not pips:
        raise SystemExit(f"FAILED: {binary} has no pip to give the test interpreter")
    for entry in pips:
        (site / entry.name).symlink_to(entry)
    (libdir / "EXTERNALLY-MANAGED").write_text(MARKER)
    return python


def clean_env(python: Path) -> dict[str, str]:
    """This environment without any Python tool state; PATH = the test interpreter + system folders.

    The machine's own settings (certificates, proxies, pip's configuration) stay: they are part
    of "a machine with Python and pip". What would hand bootstrap.sh a ready uv or nox, or point
    it at another interpreter or environment, goes.
    """
    dirs = [str(python.parent)]
    for folder in SYSTEM_DIRS:
        if not Path(folder).is_dir() or folder in dirs:
            continue
        if any((Path(folder) / tool).exists() for tool in ("uv", "nox")):
            continue  # a system-wide uv or nox would hide what bootstrap.sh must install
        dirs.append(folder)
    env = {k: v for k, v in os.environ.items() if not DROP.match(k)}
    env["PATH"] = os.pathsep.join(dirs)
    return env


def copy_checkout(dest: Path) -> None:
    """The files of this checkout a clone would have (tracked and new, not ignored ones)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout.decode()
        names = [n for n in listed.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
    if not names:  # not a git checkout: everything but the usual generated folders
        skip = {".git", ".nox", ".tools", ".venv", "dist", "build", "site", "__pycache__"}
        names = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]
    for name in names:
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the work tree but still in the index
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout, time.perf_counter() - start


def site_entries(python: Path) -> set[str]:
    prefix = python.parent.parent
    return {str(p.relative_to(prefix)) for p in prefix.rglob("*-packages/*")}


def check_variant(variant: str, base: Path, timeout: float) -> None:
    print(f"--- variant {variant}", flush=True)
    python = build_pep668_python(base / "python", variant)
    env = clean_env(python)
    code, out, _ = run(
        [str(python), "-m", "pip", "install", "--no-index", "nox"], base, env, timeout=120
    )
    check(
        code != 0 and "externally-managed-environment" in out,
        f"the test interpreter refuses `pip install` (PEP 668): {python}",
        out,
    )
    for module in LEFT_OUT[variant]:
        code, _, _ = run([str(python), "-c", f"import {module}"], base, env, timeout=60)
        check(code != 0, f"the test interpreter has no `{module}` module")
    before = site_entries(python)
    checkout = base / "checkout"
    copy_checkout(checkout)
    code, out, took = run(["bash", "scripts/demo.sh"], checkout, env, timeout)
    tail = "\n".join(out.splitlines()[-40:])
    check(code == 0, f"bash scripts/demo.sh exits 0 ({took:.0f} s)", tail)
    way = VARIANTS[variant]
    check(f"bootstrap: uv and nox ready ({way}," in out, f"bootstrap.sh used the {way} way", tail)
    check("backend=" in out and "Session demo was successful" in out, "the demo ran", tail)
    check((checkout / ".tools").is_dir(), "uv and nox live in the checkout's .tools/")
    check(site_entries(python) == before, "nothing was installed into the interpreter itself")
    if variant == "venv":
        code, out, took = run(
            ["bash", "-c", "source scripts/bootstrap.sh && $NOX --version && uv --version"],
            checkout,
            env,
            timeout=300,
        )
        check(
            code == 0 and "(venv (reused)," in out,
            f"a second run reuses .tools/ ({took:.1f} s)",
            out,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=[*VARIANTS, "all"], default="venv")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds for one demo run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if os.name == "nt":
        raise SystemExit("check_bootstrap.py builds a POSIX interpreter layout; skipped on Windows")
    variants = list(VARIANTS) if args.variant == "all" else [args.variant]
    for variant in variants:
        base = Path(tempfile.mkdtemp(prefix=f"twat-bootstrap-{variant}-"))
        try:
            check_variant(variant, base, args.timeout)
        finally:
            if args.keep:
                print(f"kept {base}")
            else:
                shutil.rmtree(base, ignore_errors=True)
    print(f"bootstrap: all checks passed ({', '.join(variants)})")


if __name__ == "__main__":
    main()
