"""The documentation site: every public name has a docstring and a place in the API reference.

The full site (tutorials executed) is built by `make docs`; these tests build it with the
tutorials left unexecuted (MDL_DOCS_TUTORIALS=none) and a stand-in for KaTeX, in about ten
seconds. They need the docs extra (`pip install -c constraints.txt -e .[docs]`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed (make docs installs it)")
pytest.importorskip("mkdocstrings", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parent.parent


def _hooks():
    spec = importlib.util.spec_from_file_location("mdl_docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    katex = tmp_path_factory.mktemp("katex")
    for name in ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js"):
        (katex / name).parent.mkdir(parents=True, exist_ok=True)
        (katex / name).write_text("/* stand-in: the API reference needs no math engine */\n")
    out = tmp_path_factory.mktemp("site")
    env = os.environ | {
        "MDL_DOCS_TUTORIALS": "none",
        "MDL_KATEX_DIR": str(katex),
        "NO_MKDOCS_2_WARNING": "1",
    }
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return out


def test_every_public_name_has_a_docstring():
    assert _hooks().missing_docstrings() == []


def test_every_public_name_appears_in_the_api_reference(site):
    hooks = _hooks()
    names = [
        f"{module}.{name}"
        for modules in hooks.API_PAGES.values()
        for module in modules
        for name in hooks.public_names(module)
    ]
    assert len(names) > 150  # mdl.__all__ and every subpackage's and module's public names
    assert "mdl.categorical_bits" in names and "mdl.sweep.SweepConfig" in names
    assert hooks.missing_from_reference(site) == []
    # the check itself fails on a page that lacks a name
    codes = site / "api" / "codes.html"
    codes.write_text(codes.read_text().replace('id="mdl.codes.log_star_bits"', 'id="gone"'))
    assert hooks.missing_from_reference(site) == ["mdl.codes.log_star_bits"]


def test_every_module_with_public_names_is_on_a_page():
    hooks = _hooks()
    listed = {module for modules in hooks.API_PAGES.values() for module in modules}
    assert {
        "mdl",
        "mdl.codes",
        "mdl.codec",
        "mdl.compress",
        "mdl.estimators",
        "mdl.train",
        "mdl.sweep",
        "mdl.bounds",
        "mdl.data",
        "mdl.models",
        "mdl.testing",
    } <= listed


def test_the_build_refuses_a_broken_cross_reference(tmp_path):
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        f"site_name: broken\ndocs_dir: {tmp_path / 'pages'}\nsite_dir: {tmp_path / 'site'}\n"
        "plugins:\n  - autorefs\n"
    )
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "index.md").write_text("# Broken\n\nSee [x][mdl.no_such_name].\n")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)],
        cwd=tmp_path,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode != 0
    assert "mdl.no_such_name" in build.stdout + build.stderr
