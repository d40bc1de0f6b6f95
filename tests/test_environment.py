"""The set-up files stay consistent: pyproject.toml is the single source of dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENV = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))

# what conda may install itself; everything else must come through pip from pyproject.toml
CONDA_ALLOWED = {"python", "pip", "pytorch"}


def _conda_specs() -> dict[str, str]:
    specs = {}
    for dep in ENV["dependencies"]:
        if isinstance(dep, str):
            name, _, version = dep.partition("=")
            specs[name.strip()] = version.strip()
    return specs


def _pip_lines() -> list[str]:
    for dep in ENV["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return dep["pip"]
    return []


def test_conda_installs_only_the_allowed_packages():
    assert set(_conda_specs()) <= CONDA_ALLOWED, set(_conda_specs()) - CONDA_ALLOWED
    assert "conda-forge" in ENV["channels"]


def test_python_pin_satisfies_requires_python():
    conda_python = _conda_specs()["python"]  # e.g. "3.11"
    lower = re.search(r">=\s*(\d+\.\d+)", PYPROJECT["project"]["requires-python"]).group(1)
    upper = re.search(r"<\s*(\d+\.\d+)", PYPROJECT["project"]["requires-python"]).group(1)
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    assert as_tuple(lower) <= as_tuple(conda_python) < as_tuple(upper)


def test_pip_section_installs_this_package_with_existing_extras():
    lines = _pip_lines()
    editable = [line for line in lines if line.startswith("-e .")]
    assert editable, "environment.yml must install the package itself with `-e .[...]`"
    extras = re.search(r"\[(.*)\]", editable[0]).group(1).split(",")
    declared = PYPROJECT["project"]["optional-dependencies"]
    assert extras and all(extra in declared for extra in extras), extras
    # nothing else: a second list of pins would drift from pyproject.toml
    assert len(lines) == 1, lines


def test_torch_pin_used_by_make_satisfies_the_dependency():
    pinned = PYPROJECT["tool"]["ernie3-lite"]["torch"]
    torch_req = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("torch"))
    lower = re.search(r">=\s*([\d.]+)", torch_req).group(1)
    assert tuple(map(int, pinned.split("."))) >= tuple(map(int, lower.split(".")))
    conda_major = _conda_specs()["pytorch"].split(".")[0]
    assert pinned.split(".")[0] == conda_major


def test_makefile_reads_the_torch_pin_from_pyproject():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert 'torch==$(TORCH_VERSION)' in makefile
    assert "pyproject.toml" in makefile


BANNED = re.compile(r"^\s*(import|from)\s+pytorch_lightning", re.M)


def test_one_lightning_namespace():
    """`lightning` and `pytorch_lightning` are separate class trees: mixing them is a TypeError."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("ernie3_lite", "tests", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if BANNED.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders
