"""The paper is generated from the committed results: its figures and tables are drawn from
the summaries, every macro the text uses is defined by the generated ``numbers.tex``, the text
holds no hand-typed result, and a changed summary changes the paper (traceability). The LaTeX
build itself is `make paper`'s; nothing here needs TeX."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from paper import figures, tables

REPO = Path(__file__).resolve().parent.parent
MAIN = REPO / "paper" / "main.tex"
RESULTS = REPO / "experiments" / "results"

# Digits main.tex may hold outside macros and generated tables, each with its reason.
ALLOWED_LITERALS = {
    "LeNet-300-100": "an architecture's name",
    "LeNet-5": "an architecture's name",
    "CIFAR-10": "a data set's name",
    "Dyck-1": "a language's name",
    "MNIST-1D": "a data set's name",
    "float32": "a number format's name",
    "float64": "a number format's name",
    "bzip2": "a compressor's name",
    "SHA-256": "a hash function's name",
    "$L_0$": "the name of a norm (L0 gates)",
    "$L_1$": "the name of a norm",
    "$L_2$": "the name of a norm",
    r"\log_2": "the base of the logarithm: code lengths are in bits",
    r"2^{-L(h)}": "the Kraft prior of a code",
    r"\ln 2": "bits to nats",
    r"1-\delta": "a confidence level",
    r"\ln(1/\delta)": "the confidence term of the bound",
}
# Commands whose arguments are names, not prose: labels, citations, files, layout.
NAME_ARGUMENTS = [
    "ref",
    "eqref",
    "label",
    "cite",
    "citep",
    "citet",
    "input",
    "includegraphics",
    "summary",
    "records",
    "bibliography",
    "bibliographystyle",
    "begin",
    "end",
]
# LaTeX's own commands that main.tex uses (anything else must be defined by main.tex itself
# or by the generated numbers.tex).
LATEX_COMMANDS = set(
    """
documentclass usepackage captionsetup renewcommand setcounter setlength graphicspath input
newcommand url texttt mathrm title textbf author date begin end maketitle section subsection
paragraph label ref eqref cite citep citet emph code bits summary records centering small
footnotesize caption includegraphics hfill linewidth log sum mid mathcal beta alpha theta delta
big bigl bigr hat le ln frac mathbb mathrm mathbb FloatBarrier bibliographystyle bibliography
topfraction bottomfraction textfraction floatpagefraction bibfont bibsep quad times psi tau
footnote typeout
""".split()
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    return out, tables.write_tables(out)


def body(tex: str) -> str:
    """The text between \\begin{document} and \\end{document}, comments removed."""
    tex = re.sub(r"(?<!\\)%.*", "", tex)
    return tex.split(r"\begin{document}", 1)[1].split(r"\end{document}", 1)[0]


def assert_columns(table: str, name: str) -> None:
    """Every row of a generated tabular has as many cells as its column spec."""
    columns = len(re.search(r"\\begin\{tabular\}\{([a-z]+)\}", table).group(1))
    for line in table.splitlines():
        if line.endswith(r"\\") and r"\multicolumn" not in line:
            assert len(re.findall(r"(?<!\\)&", line)) + 1 == columns, (name, line)


def copy_results(tmp_path: Path) -> Path:
    """The committed results tree's summaries and records, copied under ``tmp_path``."""
    results = tmp_path / "results"
    for path in RESULTS.rglob("*"):  # nested too: auto_compress/labels/summary.json
        if path.name in {"summary.json", "records.jsonl", "manifest.json"}:
            target = results / path.relative_to(RESULTS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return results


def test_tables_and_numbers_are_written(generated):
    out, written = generated
    names = {path.name for path in written}
    for name in [
        "numbers.tex",
        "codelength_table.tex",
        "lenet_compression.tex",
        "mnist_bound.tex",
        "digits_label_code.tex",
        "generalization_measures.tex",
        "text_compression.tex",
        "formal_languages.tex",
        "grokking.tex",
        "sweeps.tex",
        "label_noise.tex",
    ]:
        assert name in names
    for path in written:
        text = path.read_text()
        assert "experiments/results/" in text, f"{path.name} does not name its source"
        if path.name != "numbers.tex":
            assert r"\toprule" in text and text.count(r"\\") >= 3, path.name
            assert_columns(text, path.name)
    numbers = (out / "numbers.tex").read_text()
    # Every macro carries the summary and key it came from, on the line above.
    lines = numbers.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(r"\newcommand"):
            assert lines[i - 1].startswith("% experiments/results/"), line
    assert numbers.count(r"\newcommand") > 50


def test_every_input_of_main_is_generated(generated):
    out, _ = generated
    for name in re.findall(r"\\input\{build/generated/([^}]+)\}", MAIN.read_text()):
        assert (out / name).is_file(), name
    for name in re.findall(r"\\includegraphics(?:\[[^]]*\])?\{([^}]+)\}", MAIN.read_text()):
        assert Path(name).stem in figures.FIGURES, name


def test_every_macro_of_main_is_defined(generated):
    out, _ = generated
    tex = MAIN.read_text()
    defined = set(re.findall(r"\\newcommand\{\\([A-Za-z]+)\}", (out / "numbers.tex").read_text()))
    own = set(re.findall(r"\\newcommand\{\\([A-Za-z]+)\}", tex))
    used = set(re.findall(r"\\([A-Za-z]+)", re.sub(r"(?<!\\)%.*", "", tex)))
    unknown = used - defined - own - LATEX_COMMANDS
    assert not unknown, f"main.tex uses undefined macros: {sorted(unknown)}"
    assert len(used & defined) > 40  # the prose does take its numbers from numbers.tex


def test_main_has_no_hand_typed_numbers():
    tex = MAIN.read_text()
    preamble = re.sub(r"(?<!\\)%.*", "", tex.split(r"\begin{document}", 1)[0])
    for definition in re.findall(r"\\newcommand\{\\[A-Za-z]+\}(?:\[\d\])?\{(.*)\}", preamble):
        assert not re.search(r"\d", re.sub(r"#\d", "", definition)), definition
    text = body(tex)
    for command in NAME_ARGUMENTS:
        text = re.sub(rf"\\{command}\*?(\[[^]]*\])?\{{[^}}]*\}}", " ", text)
    text = re.sub(r"\\begin\s*\{minipage\}\[[a-z]\]\{[\d.]+\\linewidth\}", " ", text)
    text = re.sub(r"\{[\d.]+\\linewidth\}", " ", text)  # layout widths
    for literal in sorted(ALLOWED_LITERALS, key=len, reverse=True):
        text = text.replace(literal, " ")
    offending = [line.strip() for line in text.splitlines() if re.search(r"\d", line)]
    assert not offending, f"hand-typed numbers in main.tex: {offending}"


def test_a_changed_summary_changes_the_paper(tmp_path, generated):
    out, _ = generated
    results = copy_results(tmp_path)
    # The same results give the same files, byte for byte.
    again = tables.write_tables(tmp_path / "same", results)
    for path in again:
        assert path.read_text() == (out / path.name).read_text(), path.name
    # One value changed: its macro and its table row change, nothing else.
    summary_path = results / "digits_label_code" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["estimate_bits"] = summary["estimate_bits"] + 1000
    # New keys (a rerun's "selection" entry) are tolerated; a missing key prints n/a.
    summary["selection"] = {"rule": "validation"}
    del summary["lzma_bits"]
    summary_path.write_text(json.dumps(summary))
    changed = tmp_path / "changed"
    tables.write_tables(changed, results)
    macro = re.compile(r"\\newcommand\{\\digitsEstimate\}\{(.*)\}$", re.M)
    before = macro.search((out / "numbers.tex").read_text()).group(1)
    after = macro.search((changed / "numbers.tex").read_text()).group(1)
    assert before != after
    assert tables.integer(summary["estimate_bits"]) == after
    assert (changed / "digits_label_code.tex").read_text() != (
        out / "digits_label_code.tex"
    ).read_text()
    assert "lzma" in (changed / "digits_label_code.tex").read_text()
    assert (changed / "grokking.tex").read_text() == (out / "grokking.tex").read_text()


def test_a_rerun_with_new_keys_is_read(tmp_path, generated):
    """The validation-protocol reruns add a selection statement and a validation error: the
    table grows a column, the selection macro says what the summary says."""
    out, _ = generated
    results = copy_results(tmp_path)
    summary_path = results / "lenet_compression" / "summary.json"
    summary = json.loads(summary_path.read_text())
    for model in ("lenet_300_100", "lenet5"):
        summary[model]["validation_error"] = 0.0123
        summary[model]["selection"] = "smallest file with validation error <= 1.0%"
    summary_path.write_text(json.dumps(summary))
    tables.write_tables(tmp_path / "new", results)
    table = (tmp_path / "new" / "lenet_compression.tex").read_text()
    assert "val. error" in table and "1.23\\%" in table
    assert_columns(table, "lenet_compression.tex")
    numbers = (tmp_path / "new" / "numbers.tex").read_text()
    assert r"\newcommand{\lenetFiveSelection}{smallest file with validation error $\le$ 1.0\%}" in (
        numbers
    )
    # the committed rerun records its own selection, and the committed paper says it
    committed = (out / "numbers.tex").read_text()
    assert r"\newcommand{\lenetFiveSelection}{smallest file with validation error" in committed


def test_figures_are_drawn(tmp_path):
    written = figures.write_figures(tmp_path / "pdf", gallery=tmp_path / "gallery")
    pdfs = [p for p in written if p.suffix == ".pdf"]
    pngs = [p for p in written if p.suffix == ".png"]
    assert {p.stem for p in pdfs} == set(figures.FIGURES)
    assert {p.name for p in pngs} == {f"paper_{n}.png" for n in figures.GALLERY_FIGURES}
    for path in pdfs:
        assert path.read_bytes()[:5] == b"%PDF-" and path.stat().st_size > 5_000, path.name
    for path in pngs:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_readme_gallery_is_the_papers():
    readme = (REPO / "README.md").read_text()
    shown = re.findall(r"\(docs/figures/(paper_[a-z_]+)\.png\)", readme)
    assert sorted(shown) == sorted(f"paper_{n}" for n in figures.GALLERY_FIGURES)
    for name in shown:
        assert (REPO / "docs" / "figures" / f"{name}.png").is_file()
