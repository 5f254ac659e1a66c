"""The conda envs in envs/ are pinned, agree with pyproject.toml and with the test interpreter,
and every rule's `conda:` directive names one of them.

Conda itself cannot run on the test machine, so these tests check the files, not a solve.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENVS = sorted((ROOT / "envs").glob("*.yaml"))
EXPECTED_ENVS = {"torch.yaml", "analysis.yaml", "latex.yaml"}

# conda package name -> PyPI distribution name, for conda-forge packages that are also
# pyproject dependencies under another name
CONDA_TO_PYPI = {"pytorch": "torch", "open-clip-torch": "open-clip-torch"}


def _pyproject_pins() -> dict[str, str | None]:
    """{canonical name: pinned version or None} of pyproject's [project] dependencies."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins: dict[str, str | None] = {}
    for dep in data["project"]["dependencies"]:
        req = Requirement(dep)
        version = None
        for spec in req.specifier:
            if spec.operator == "==":
                version = spec.version
        pins[canonicalize_name(req.name)] = version
    return pins


def _parse_conda_spec(spec: str) -> tuple[str, str | None]:
    """'name=1.2', 'name==1.2', 'name=1.2=build' -> (name, '1.2'); unpinned -> (name, None)."""
    spec = spec.strip()
    m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(==|=)\s*([^=\s]+)(=\S+)?$", spec)
    if not m:
        return spec.split()[0], None
    return m.group(1), m.group(3)


def _parse_pip_spec(spec: str) -> tuple[str, str | None]:
    req = Requirement(spec)
    for s in req.specifier:
        if s.operator == "==" and "*" not in s.version:
            return req.name, s.version
    return req.name, None


def _env_packages(path: Path) -> list[tuple[str, str, str | None]]:
    """[(source 'conda'|'pip', name, version or None)] of one env file."""
    data = yaml.safe_load(path.read_text())
    out = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict):
            for spec in dep.get("pip") or []:
                name, version = _parse_pip_spec(spec)
                out.append(("pip", name, version))
        else:
            name, version = _parse_conda_spec(str(dep))
            out.append(("conda", name, version))
    return out


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_expected_env_files_exist():
    assert EXPECTED_ENVS <= {p.name for p in ENVS}, f"envs/ has {[p.name for p in ENVS]}"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_parses(env):
    data = yaml.safe_load(env.read_text())
    assert isinstance(data, dict), f"{env} is not a YAML mapping"
    assert data.get("channels"), f"{env}: no channels"
    assert "defaults" not in data["channels"], f"{env}: use conda-forge, not defaults"
    assert isinstance(data.get("dependencies"), list) and data["dependencies"]
    for dep in data["dependencies"]:
        assert isinstance(dep, str | dict), f"{env}: odd dependency {dep!r}"
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{env}: only a `pip:` section may be a mapping"
            assert any(
                _parse_conda_spec(str(d))[0] == "pip"
                for d in data["dependencies"]
                if isinstance(d, str)
            ), f"{env}: a pip section needs `pip` itself"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_every_dependency_pinned(env):
    unpinned = [f"{src}:{name}" for src, name, version in _env_packages(env) if not version]
    assert not unpinned, (
        f"{env.name}: unpinned dependencies {unpinned} (use = for conda, == for pip)"
    )


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_pins_match_pyproject_and_installed(env):
    pins = _pyproject_pins()
    problems = []
    for src, name, version in _env_packages(env):
        pypi_name = CONDA_TO_PYPI.get(name, name) if src == "conda" else name
        key = canonicalize_name(pypi_name)
        if key == "python":
            want = f"{sys.version_info.major}.{sys.version_info.minor}"
            if not (version == want or (version or "").startswith(want + ".")):
                problems.append(f"python={version} but tests run Python {want}")
            continue
        if key not in pins:
            continue
        if pins[key] is not None and version != pins[key]:
            problems.append(f"{name}: env {version} != pyproject {pins[key]}")
        have = _installed(pypi_name)
        if have is None:
            problems.append(f"{name}: not installed in the test interpreter")
        elif have != version:
            problems.append(f"{name}: env {version} != installed {have}")
    assert not problems, f"{env.name}:\n  " + "\n  ".join(problems)


def test_python_envs_cover_library_imports():
    """The torch env has the model stack, the analysis env the plotting/NLP stack."""
    names = {env.name: {canonicalize_name(n) for _, n, _ in _env_packages(env)} for env in ENVS}
    torch_needs = {
        "torch",
        "torchvision",
        "timm",
        "open-clip-torch",
        "transformers",
        "huggingface-hub",
        "safetensors",
        "numpy",
        "pandas",
        "xarray",
        "netcdf4",
        "pillow",
        "tqdm",
        "psutil",
        "pyyaml",
    }
    analysis_needs = {
        "numpy",
        "pandas",
        "xarray",
        "netcdf4",
        "matplotlib",
        "pillow",
        "scikit-image",
        "nltk",
        "wordfreq",
        "pyyaml",
    }
    assert torch_needs <= names["torch.yaml"], torch_needs - names["torch.yaml"]
    assert analysis_needs <= names["analysis.yaml"], analysis_needs - names["analysis.yaml"]
    assert {"texlive-core", "latexmk"} <= names["latex.yaml"]


# ------------------------------------------------------------------ rules' conda directives

_RULE_RE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.M)
_CONDA_RE = re.compile(r"^\s+conda:\s*(?:\n\s*)?(?P<q>[\"'])(?P<path>[^\"']+)(?P=q)", re.M)
_EXEC_RE = re.compile(r"^\s+(shell|script|notebook|wrapper):", re.M)


def _rule_blocks(text: str):
    starts = [(m.start(), m.group(1)) for m in _RULE_RE.finditer(text)]
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        # a block ends at the next top-level statement
        block = text[start:end]
        lines = block.splitlines(keepends=True)
        kept = [lines[0]]
        for line in lines[1:]:
            if line.strip() and not line[0].isspace() and not line.lstrip().startswith("#"):
                break
            kept.append(line)
        yield name, "".join(kept)


def _smk_files():
    files = sorted((ROOT / "rules").glob("*.smk"))
    if (ROOT / "Snakefile").exists():
        files.append(ROOT / "Snakefile")
    return files


def test_rules_conda_directives_name_existing_envs():
    files = _smk_files()
    blocks = [(f, name, block) for f in files for name, block in _rule_blocks(f.read_text())]
    # the regex must find the workflow's rules: finding none means it no longer matches them
    assert len(blocks) >= 30, f"found {len(blocks)} rules in rules/*.smk and the Snakefile"
    missing_file, missing_directive = [], []
    for f, name, block in blocks:
        m = _CONDA_RE.search(block)
        if m is None:
            if _EXEC_RE.search(block):
                missing_directive.append(f"{f.name}:{name}")
            continue
        target = (f.parent / m.group("path")).resolve()
        if not target.is_file() or target.parent != (ROOT / "envs").resolve():
            missing_file.append(f"{f.name}:{name} -> {m.group('path')}")
    assert not missing_file, f"conda: directives naming no file in envs/: {missing_file}"
    assert not missing_directive, (
        f"rules with shell/script but no conda: directive: {missing_directive}"
    )
