"""The developer tooling agrees with itself: hatch's matrix is nox's, pins match, docs exist.

What the tools do when run is proven elsewhere: `nox -s wheels` installs the README's lines and
checks the project URLs of every wheel, `nox -s bootstrap` runs the demo command on a Python
that refuses `pip install`. These tests keep the configuration from drifting between runs.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the 3.10 session skips these


def pyproject(path: Path = ROOT / "pyproject.toml") -> dict:
    return tomllib.loads(path.read_text())


def nox_backends() -> list[str]:
    """BACKENDS of noxfile.py, read without importing nox."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "BACKENDS":
            return list(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py has no BACKENDS")


def covering() -> dict[str, tuple[str, ...]]:
    """nox's covering set (noxfile._covering): core, all, each alone, all but each."""
    backends = nox_backends()
    combos: dict[str, tuple[str, ...]] = {"core": (), "all": tuple(backends)}
    combos.update({b: (b,) for b in backends})
    combos.update({f"all-but-{b}": tuple(x for x in backends if x != b) for b in backends})
    return combos


def resolve_hatch_test_env(combo: str) -> tuple[set[str], dict[str, str]]:
    """The features and env-vars hatch gives the hatch-test environment of one matrix entry."""
    env = pyproject()["tool"]["hatch"]["envs"]["hatch-test"]
    features = set(env.get("features", []))
    variables: dict[str, str] = {}
    overrides = env["overrides"]["matrix"]["backends"]
    for entry in overrides["features"]:
        if combo in entry["if"]:
            features.add(entry["value"])
    for entry in overrides["env-vars"]:
        if combo in entry["if"]:
            variables[entry["key"]] = entry["value"]
    return features, variables


def test_the_hatch_test_matrix_is_noxs_covering_set():
    matrix = pyproject()["tool"]["hatch"]["envs"]["hatch-test"]["matrix"]
    assert [entry["backends"] for entry in matrix] == [list(covering())]
    assert matrix[0]["backends"][0] == "core"  # `hatch test` alone runs the core-only suite


@pytest.mark.parametrize("combo", list(covering()))
def test_each_hatch_environment_installs_its_combination(combo):
    backends = covering()[combo]
    features, variables = resolve_hatch_test_env(combo)
    assert features == {"dev", "test", *backends}
    assert variables["TWAT_CACHE_EXPECT_BACKENDS"] == (",".join(backends) or "none")
    quick = len(backends) == len(nox_backends()) - 1  # as noxfile.tests: slow tests skipped
    assert ("PYTEST_ADDOPTS" in variables) == quick
    if quick:
        assert variables["PYTEST_ADDOPTS"] == "-m 'not slow'"


def test_the_extras_and_the_dev_group():
    project = pyproject()
    extras = project["project"]["optional-dependencies"]
    assert {"dev", "test"} <= set(extras)
    assert project["dependency-groups"]["dev"] == ["twat-cache[dev,test]"]
    for extra in ("all", "dev", "test"):
        assert extra in project["tool"]["hatch"]["envs"]["types"]["features"]


def test_hatch_lint_uses_the_pinned_ruff():
    project = pyproject()
    pins = {re.split(r"[=<>]", d)[0]: d for d in project["project"]["optional-dependencies"]["dev"]}
    lint = project["tool"]["hatch"]["envs"]["lint"]
    assert lint["dependencies"] == [pins["ruff"]]
    assert "==" in pins["ruff"]
    assert "==" in pins["mypy"]
    lock = (ROOT / "uv.lock").read_text()
    for name, pin in pins.items():  # the same versions nox installs from the lock
        version = pin.split("==")[1]
        assert f'name = "{name}"\nversion = "{version}"' in lock


def test_hatch_types_checks_every_package():
    script = pyproject()["tool"]["hatch"]["envs"]["types"]["scripts"]["check"]
    sources = sorted(f"packages/{p.name}/src" for p in (ROOT / "packages").iterdir() if p.is_dir())
    assert script == "mypy {args:" + " ".join(sources) + "}"


def test_every_distribution_names_the_project_urls():
    paths = [ROOT / "pyproject.toml", *sorted((ROOT / "packages").glob("*/pyproject.toml"))]
    assert len(paths) == 10
    for path in paths:
        urls = pyproject(path)["project"]["urls"]
        assert set(urls) >= {"Homepage", "Documentation", "Repository", "Issues"}, path
        assert all(u.startswith("https://github.com/twardoch/twat-cache") for u in urls.values())


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.sh")))
def test_the_shell_scripts_parse(script):
    proc = subprocess.run(
        ["bash", "-n", str(ROOT / "scripts" / script)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_docs_pages_of_issue_18():
    testing = (ROOT / "docs" / "testing.md").read_text()
    for topic in ("TWAT_CACHE_DIR", "clear_cache()", "cache_clear()", "__wrapped__"):
        assert topic in testing
    migrating = (ROOT / "docs" / "migrating.md").read_text()
    for path in ("cache", "utils", "type_defs", "exceptions", "decorators", "config"):
        assert f"`twat_cache.{path}`" in migrating
    for option in ("use_sql", "secure", "backend", "cache_type", "serializer"):
        assert f"`{option}`" in migrating


def test_the_readme_install_section_is_what_check_wheels_runs():
    readme = (ROOT / "README.md").read_text()
    install = readme.split("\n## Install", 1)[1].split("\n## ", 1)[0]
    for line in (
        "pip install ./packages/twat-cache-core",
        "uv build --all-packages --out-dir dist",
        "pip install --no-index --find-links dist twat-cache",
        'pip install --find-links dist "twat-cache[diskcache]"',
        'uv pip install -e ".[all,dev,test]"',
    ):
        assert line in install
    assert "bash scripts/demo.sh" in readme
    assert "bash scripts/test.sh" in readme
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("exec bash scripts/test.sh")
