"""The Dockerfile and pyproject agree: same package, same entry point, every package copied."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_dockerfile_runs_the_console_script_serve_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    scripts = _pyproject()["project"]["scripts"]
    assert scripts == {"retailgraph": "graph.cli:main"}
    cmd = re.search(r'^CMD \[(.*)\]$', dockerfile, re.M)
    assert cmd is not None
    assert cmd.group(1).split(", ")[:2] == ['"retailgraph"', '"serve"']


def test_dockerfile_copies_every_package_the_distribution_includes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    includes = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in includes}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M))
    assert packages == copied
    assert all((ROOT / name / "__init__.py").exists() for name in packages)


def test_dockerfile_installs_this_distribution_and_runs_in_production() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'pip wheel --no-cache-dir --wheel-dir /wheels ".[aiohttp]"' in dockerfile
    assert "aiohttp" in _pyproject()["project"]["optional-dependencies"]  # the extra it names
    assert "RETAILGRAPH_ENV=production" in dockerfile
    assert _pyproject()["project"]["name"] == "retailgraph"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.strip().splitlines()[-1]
    assert command in readme
