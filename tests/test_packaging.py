"""The package metadata, the conda environment and the public API stay in step."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

import technic_nb

REPO_ROOT = Path(__file__).resolve().parents[1]

CONDA_NAMES = {"ta-lib": "ta-lib"}  # the same names on PyPI and conda-forge


def _requirements() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {re.split(r"[<>=!~ ]", s, maxsplit=1)[0].lower(): s for s in specs}


def _environment() -> dict[str, str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    out = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower(): d for d in deps}
    out.pop("python", None)
    out.pop("pip", None)
    return out


def test_environment_yml_matches_pyproject():
    requirements = _requirements()
    environment = _environment()
    assert set(environment) == {CONDA_NAMES.get(n, n) for n in requirements}
    for name, spec in requirements.items():
        conda_spec = environment[CONDA_NAMES.get(name, name)]
        assert conda_spec.replace(" ", "") == spec.replace(" ", ""), (name, spec, conda_spec)


def test_console_script_declared():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["technic-nb"] == "technic_nb.cli:main"


@pytest.mark.parametrize("name", technic_nb.__all__)
def test_public_names_exist_and_are_documented(name):
    obj = getattr(technic_nb, name)
    if callable(obj):
        assert obj.__doc__, f"{name} has no docstring"


def test_scan_error_subclasses_exception():
    assert issubclass(technic_nb.ScanError, Exception)
    assert issubclass(technic_nb.ScanCancelled, technic_nb.ScanError)


def _readme_commands() -> tuple[str, str]:
    """The README's install and test commands (the two lines of its first shell block)."""
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    install, test = (line.split("#")[0].strip() for line in block.strip().splitlines()[:2])
    return install, test


def test_ci_installs_with_the_readme_command_into_a_fresh_venv_and_runs_its_tests():
    install, test = _readme_commands()
    assert install == 'pip install -e ".[dev]"'
    assert test == "python -m pytest"
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in ci.splitlines() if line.strip() and line[0] != "#"]
    venv = next(i for i, line in enumerate(lines) if "-m venv" in line)
    assert "--clear" in lines[venv] and "--system-site-packages" not in ci
    activate = next(
        i for i, line in enumerate(lines) if line.startswith("source") and "activate" in line
    )
    installs = [i for i, line in enumerate(lines) if line.startswith(install)]
    assert venv < activate < installs[0], "the install must run inside the fresh environment"
    assert lines[-1] == test, "the README's test command is the last thing CI runs"


def test_code_is_formatted_and_lint_free():
    import shutil
    import subprocess

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]' installs it)")
    paths = ["technic_nb", "tests", "bench"]
    check = subprocess.run([ruff, "check", *paths], cwd=REPO_ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [ruff, "format", "--check", *paths], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout


def test_the_package_type_checks_clean():
    import shutil
    import subprocess

    mypy = shutil.which("mypy")
    if mypy is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]' installs it)")
    check = subprocess.run([mypy], cwd=REPO_ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_package_ships_its_type_marker():
    assert (REPO_ROOT / "technic_nb" / "py.typed").is_file()
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["technic_nb"]
