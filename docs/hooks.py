"""MkDocs hooks for mdl's documentation site (named in mkdocs.yml, run by `make docs`).

- Refuse to build when a public name has no docstring (``public_names`` is the list of public
  names; ``tests/test_docs.py`` checks that each one appears in the API reference).
- Add the pages that live outside ``docs/pages``: the README (the landing page), ARCHITECTURE,
  ``theory/``, ``experiments/*.md``, ``docs/tutorials/`` and ``docs/figures/``, with the
  README's repository-relative links rewritten to the site's paths.
- Serve KaTeX from the site itself (``assets/katex/``), from the directory ``make docs``
  unpacks the pinned npm package into (``$MDL_KATEX_DIR``).
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent

# The modules whose public names make up the API reference, grouped as the site groups them
# (the four concepts of ARCHITECTURE.md first, then what consumes them). A module with
# ``__all__`` exports exactly that list; one without exports the names it defines that do
# not start with an underscore.
API_PAGES: dict[str, tuple[str, ...]] = {
    "api/mdl.md": ("mdl",),
    "api/codes.md": ("mdl.codes",),
    "api/codec.md": ("mdl.codec",),
    "api/compress.md": ("mdl.compress",),
    "api/estimators.md": ("mdl.estimators",),
    "api/train.md": ("mdl.train", "mdl.inference", "mdl.distill"),
    "api/probe.md": ("mdl.probe",),
    "api/adapt.md": ("mdl.adapt",),
    "api/sweep.md": ("mdl.sweep",),
    "api/search.md": ("mdl.search",),
    "api/textcode.md": ("mdl.textcode",),
    "api/bounds.md": ("mdl.bounds",),
    "api/data.md": ("mdl.data",),
    "api/models.md": ("mdl.models",),
    "api/testing.md": ("mdl.testing",),
}

# Repository files shown as site pages: (source relative to the root, page path in the site).
PAGES = [
    ("README.md", "index.md"),
    ("ARCHITECTURE.md", "architecture.md"),
    ("theory/README.md", "theory/index.md"),
    *[(f"theory/{p.name}", f"theory/{p.name}") for p in sorted((ROOT / "theory").glob("*.md"))
      if p.name != "README.md"],
    *[(f"experiments/{p.name}", f"experiments/{p.name}")
      for p in sorted((ROOT / "experiments").glob("*.md"))],
]

# README links are relative to the repository root; on the site they are relative to index.md.
LINK_REWRITES = {
    "index.md": {
        "](docs/figures/": "](figures/",
        "](ARCHITECTURE.md)": "](architecture.md)",
    },
    "theory/index.md": {},
    # Experiment pages link figures as ../docs/figures/ (right on GitHub, from experiments/).
    **{
        f"experiments/{p.name}": {"](../docs/figures/": "](../figures/"}
        for p in sorted((ROOT / "experiments").glob("*.md"))
    },
}


def public_names(module_name: str) -> list[str]:
    """The public names of one module: its ``__all__``, or the names it defines."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module_name
    ]


def missing_docstrings() -> list[str]:
    """Every public name (``module.name``), and every public method or property of a public
    class, whose object, as griffe reads the source, has no docstring; constants count as
    documented by a string literal right after them."""
    import griffe

    package = griffe.load("mdl", search_paths=[str(ROOT)], resolve_aliases=True)
    missing = []
    for modules in API_PAGES.values():
        for module_name in modules:
            module = package if module_name == "mdl" else package[module_name[len("mdl."):]]
            for name in public_names(module_name):
                if name == "__version__":
                    continue
                obj = module[name]
                target = obj.final_target if obj.is_alias else obj
                if target.is_module:
                    continue  # a subpackage: documented on its own page
                if target.docstring is None or not target.docstring.value.strip():
                    missing.append(f"{module_name}.{name}")
                if target.is_class:  # its public methods and properties, defined on it
                    for member_name, member in target.members.items():
                        if member_name.startswith("_") or member.is_alias:
                            continue
                        documented = member.docstring is not None and member.docstring.value
                        if not documented and (
                            member.is_function
                            or (member.is_attribute and "property" in member.labels)
                        ):
                            missing.append(f"{module_name}.{name}.{member_name}")
    return missing


def missing_from_reference(site_dir: str | Path) -> list[str]:
    """Every public name (``module.name``) with no anchor ``id="module.name"`` on its API page
    of the built site in ``site_dir`` (a subpackage counts when its own page documents it)."""
    site = Path(site_dir)
    missing = []
    for page, modules in API_PAGES.items():
        html_path = site / page.replace(".md", ".html")
        html = html_path.read_text(encoding="utf-8") if html_path.is_file() else ""
        for module_name in modules:
            for name in public_names(module_name):
                if name == "__version__":
                    continue
                qualified = f"{module_name}.{name}"
                if inspect.ismodule(getattr(importlib.import_module(module_name), name)):
                    continue  # a subpackage, documented on its own page
                obj = getattr(importlib.import_module(module_name), name)
                # A function named like its own submodule (``mdl.estimators.prequential``) is
                # documented under its defining path, ``mdl.estimators.prequential.prequential``.
                canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
                if f'id="{qualified}"' not in html and f'id="{canonical}"' not in html:
                    missing.append(qualified)
    return missing


def on_post_build(config, **kwargs):
    missing = missing_from_reference(config["site_dir"])
    if missing:
        raise PluginError("public names missing from the API reference: " + ", ".join(missing))


def on_config(config, **kwargs):
    missing = missing_docstrings()
    if missing:
        raise PluginError(
            "public names without a docstring (every public name needs one, with its unit, "
            "math and reference): " + ", ".join(missing)
        )
    return config


def _katex_dir() -> Path:
    katex = Path(os.environ.get("MDL_KATEX_DIR", "")).resolve() if os.environ.get(
        "MDL_KATEX_DIR") else None
    if katex is None or not (katex / "katex.min.js").is_file():
        raise PluginError(
            "KaTeX not found: set MDL_KATEX_DIR to an unpacked katex/dist directory, or build "
            "with `make docs`, which fetches the pinned npm package into build/"
        )
    return katex


def on_files(files, config, **kwargs):
    for source, page in PAGES:
        text = (ROOT / source).read_text(encoding="utf-8")
        for old, new in LINK_REWRITES.get(page, {}).items():
            text = text.replace(old, new)
        files.append(File.generated(config, page, content=text))
    # MDL_DOCS_TUTORIALS=none (or a comma-separated list of name prefixes such as "01,04")
    # builds the other tutorials as stubs, unexecuted: for tests of the API reference and for
    # working on one tutorial. `make docs` runs them all.
    only = os.environ.get("MDL_DOCS_TUTORIALS", "all")
    for path in sorted((ROOT / "docs" / "tutorials").glob("*.md")):
        uri = f"tutorials/{path.name}"
        if only == "all" or any(path.name.startswith(p) for p in only.split(",") if p):
            files.append(File.generated(config, uri, abs_src_path=str(path)))
        else:
            title = path.read_text(encoding="utf-8").splitlines()[0]
            stub = f"{title}\n\nNot executed in this build (MDL_DOCS_TUTORIALS={only}).\n"
            files.append(File.generated(config, uri, content=stub))
    for path in sorted((ROOT / "docs" / "figures").iterdir()):
        files.append(File.generated(config, f"figures/{path.name}", abs_src_path=str(path)))
    katex = _katex_dir()
    for path in sorted(katex.rglob("*")):
        relative = path.relative_to(katex).as_posix()
        if path.is_file() and (
            relative in ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
            or (relative.startswith("fonts/") and relative.endswith(".woff2"))
        ):
            files.append(
                File.generated(config, f"assets/katex/{relative}", abs_src_path=str(path))
            )
    return files
