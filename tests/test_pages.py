"""experiments/pages.py: every experiment page is its template rendered from committed results,
no template types a number it does not declare, and a changed summary changes the page."""

import json
import shutil
from pathlib import Path

import pytest

from experiments import pages

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"

# Pages not yet generated from a template: their experiments are being rerun, and whoever
# converts each one (a template in experiments/pages/) removes its name here. Nothing else
# may be skipped; empty this set when they are done.
PENDING: set[str] = set()


def page_names() -> list[str]:
    return sorted(path.stem for path in EXPERIMENTS.glob("*.md"))


@pytest.mark.parametrize("name", page_names())
def test_every_page_is_its_template_rendered_from_committed_results(name):
    template = pages.TEMPLATES / f"{name}.md"
    if name in PENDING:
        pytest.skip(f"experiments/{name}.md is pending conversion (PENDING)")
    assert template.exists(), f"experiments/{name}.md has no template experiments/pages/{name}.md"
    rendered = pages.render(template.read_text())
    assert (EXPERIMENTS / f"{name}.md").read_text() == rendered, (
        f"experiments/{name}.md is stale: run python -m experiments.pages"
    )


def test_pending_pages_exist_and_have_no_template():
    """PENDING names real pages, and a converted page leaves it (so it is checked)."""
    for name in PENDING:
        assert (EXPERIMENTS / f"{name}.md").exists(), name
        assert not (pages.TEMPLATES / f"{name}.md").exists(), f"{name}: remove it from PENDING"


def test_check_finds_no_stale_page():
    assert pages.stale_pages() == []
    assert pages.main(["--check"]) == 0


@pytest.mark.parametrize("name", sorted(pages.templates()))
def test_no_template_types_an_undeclared_number(name):
    text = pages.templates()[name].read_text()
    assert pages.bare_numbers(text) == [], f"undeclared numbers in experiments/pages/{name}.md"
    used = {number for _, number in pages.numbers(text)}
    unused = set(pages.declared_literals(text)) - used
    assert not unused, f"declared literals that {name}'s template does not use: {unused}"


def _copy_results(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    shutil.copytree(pages.RESULTS, results, ignore=_not_json)
    return results


def _not_json(folder, names):
    return [n for n in names if "." in n and not n.endswith(".json")]


# (page, JSON file under experiments/results, path to one number the page reports)
DRIFTS = [
    ("digits_label_code", "digits_label_code/summary.json", ["test_accuracy"]),
    (
        "formal_languages",
        "formal_languages/summary.json",
        ["languages", "anbn", "test_cross_entropy"],
    ),
]


@pytest.mark.parametrize(("page", "file", "path"), DRIFTS)
def test_a_changed_summary_makes_its_page_stale(tmp_path, page, file, path):
    """The deliberate change: one reported number x 1.5 in a copy of the committed results.
    The page rendered from the copy differs from the committed page, and the check names it
    (so a summary that drifted from its page fails test_check_finds_no_stale_page)."""
    results = _copy_results(tmp_path)
    assert pages.stale_pages(results) == []
    data = json.loads((results / file).read_text())
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] *= 1.5
    (results / file).write_text(json.dumps(data))
    template = (pages.TEMPLATES / f"{page}.md").read_text()
    assert pages.render(template, results) != (EXPERIMENTS / f"{page}.md").read_text()
    assert pages.stale_pages(results) == [page]


# -- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "spec", "text"),
    [
        (1944.0, ",.0f", "1,944"),
        (1944, ",", "1,944"),
        (0.2012, ".3f", "0.201"),
        (0.052, "+.3f", "+0.052"),
        (0.12345, "pct:2", "12.35%"),
        (0.954, "pct:1", "95.4%"),
        (270.14, "x:1", "270.1x"),
        (637440, "k:0", "637"),
        (3308018, "M:1", "3.3"),
        (540.2, "min:0", "9"),
        (1943.6, "int", "1,944"),
        (0.003, "sci", "3e-3"),
        (0.0001, "sci", "1e-4"),
        (0.00125, "sci:2", "1.25e-3"),
        (2000.0, "sci", "2e3"),
        ("never", "", "never"),
    ],
)
def test_formats(value, spec, text):
    assert pages.format_value(value, spec) == text


def test_placeholders_read_paths_expressions_and_other_files(tmp_path):
    (tmp_path / "run").mkdir()
    summary = {
        "bits": 1234.5,
        "runs": {"a b": {"curve": [{"step": 0, "e": 0.5}, {"step": 10, "e": 0.25}]}},
        "n": [3, 4],
    }
    (tmp_path / "run" / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "run" / "earlier.json").write_text(json.dumps({"x": 7}))
    template = (
        "<!-- literals: 9 (a reason) -->\n"
        "{{ run:bits|,.0f }} {{run:n[1]}} {{ run:at(runs['a b'].curve, step=10).e|pct:0 }} "
        "{{ run:max(p.e for p in runs['a b'].curve)|.2f }} {{ run/earlier.json:x }} 9 "
        "{{ run:n[0] * json('run/earlier.json').x }}\n"
    )
    assert pages.render(template, tmp_path) == "1,234 4 25% 0.50 7 9 21\n"
    with pytest.raises(ValueError, match="no_such_key"):
        pages.render("{{ run:no_such_key }}", tmp_path)


def test_tables_come_from_named_functions():
    """An unqualified name is a function of experiments/pages.py, MODULE.NAME one of
    experiments.MODULE; either gets the JSON and returns the Markdown."""
    here = pages.render("{{ table digits_label_code:digits_table }}")
    there = pages.render("{{ table digits_label_code:pages.digits_table }}")
    assert here == there
    assert "| uniform (log2 10) | 1,791 | 3.322 |" in here.splitlines()
    assert pages.markdown_table(["a", "b"], [[1, "x"]]) == "| a | b |\n|---|---|\n| 1 | x |"


# -- bare numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Trained 500 steps on 1,258 images.", ["500", "1,258"]),
        ("LeNet-5 and LeNet-300-100 on MNIST-1D, log2 of float32, a^n b^n, Dyck-1.", []),
        ("x86_64 with 2 cores", ["2"]),
        ("a 40,128-bit file, 32-bit words, 2-D", ["40,128", "32"]),
        (
            "lr 1e-3, 99% accuracy, 10x faster, 28x28 images, 270.1x",
            [
                "1e-3",
                "99%",
                "10x",
                "28x28",
                "270.1x",
            ],
        ),
        ("as Jiang et al. (2020) and Hoeffding 1963 and (Lan et al. 2024) found in 2016", ["2016"]),
        ("ACL 2024, Power et al. 2022", []),
        ("`code 12` and {{ run:x|.1f }} and [link](../a/b3.md) but 7.", ["7"]),
        ("```\nfenced 5\n```\nafter 6", ["6"]),
        ("n = 1..100 on 2026-12-01, -0.25.", ["1", "100", "2026", "12", "01", "0.25"]),
        ("<!-- literals: 3 (x) -->3 and 4", ["3", "4"]),
    ],
)
def test_numbers(text, expected):
    assert [n for _, n in pages.numbers(text)] == expected


def test_bare_numbers_are_the_undeclared_ones():
    text = "<!-- literals: 2 (CPU cores), 60,000 (MNIST training images) -->\n"
    text += "2 cores, 60,000 and 7\n"
    assert pages.declared_literals(text) == {"2": "CPU cores", "60,000": "MNIST training images"}
    assert pages.bare_numbers(text) == [(2, "7")]
    assert pages.bare_numbers(text, literals={}) == [(2, "2"), (2, "60,000"), (2, "7")]
    assert pages.bare_numbers("{{ x:y }} 7", literals={"7": "why"}) == []
