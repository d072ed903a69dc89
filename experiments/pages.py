"""The experiment pages, rendered from the committed results.

Every page ``experiments/NAME.md`` is generated from a template ``experiments/pages/NAME.md``:
Markdown in which each reported number is a placeholder read from a committed JSON file under
``experiments/results``. Nothing in a page is typed by hand except prose and the numbers its
template declares as literals (with a reason each).

    python -m experiments.pages            # render every template to experiments/NAME.md
    python -m experiments.pages --check    # exit 1, naming each page that differs

Placeholders
------------
``{{ DIR:EXPR }}`` or ``{{ DIR:EXPR|FORMAT }}``

- ``DIR`` is a folder under ``experiments/results``; the value is read from its
  ``summary.json``, or from another committed JSON there with ``DIR/FILE.json``
  (e.g. ``{{ text_compression/earlier_runs.json:online_prefix.best|.3f }}``).
- ``EXPR`` is a Python expression over that JSON: top-level keys are names, ``a.b`` and
  ``a["b"]`` index dictionaries (use brackets for keys that are not identifiers,
  ``runs["mdl_beta_0.1"]``), ``a[3]`` indexes lists. Available functions: ``min``, ``max``,
  ``len``, ``sum``, ``abs``, ``round``, ``sorted``, ``any``, ``all``, ``log2``, ``size(x)``
  (how many numbers a nested list or dict of lists holds) and ``at(LIST, key=value)``, the first
  element of a list of dicts whose fields equal the given values
  (``at(runs.none.curve, step=1700).model_bits``); ``json("DIR/FILE.json")`` reads another
  committed JSON, for a figure that combines two. Comprehensions work.
- ``FORMAT`` is a Python format spec (``,``, ``,.0f``, ``.3f``, ``+.2f``; none: ``format(v)``)
  or one of these transforms (``N`` = decimals):

  ============  ====================================  ====================
  ``pct:N``     100 x value, then ``%``                0.12345 -> 12.35%
  ``x:N``       a ratio, then ``x``                    270.14 -> 270.1x
  ``k:N``       value / 1,000 (kbits, KB)              637440 -> 637
  ``M:N``       value / 1,000,000 (million, MB)        3308018 -> 3.3
  ``min:N``     seconds as minutes                     540.2 -> 9
  ``int``       an integer with thousands commas       1944.0 -> 1,944
  ``sci:N``     scientific, short exponent             0.003 -> 3e-3
  ============  ====================================  ====================

- ``{{ table DIR:FUNCTION }}`` inserts ``FUNCTION(json)``, a Markdown block the function
  returns; ``{{ table DIR:FUNCTION("anbn", 2) }}`` passes literal arguments after the JSON.
  ``FUNCTION`` is a name in this module or ``MODULE.NAME`` in ``experiments.MODULE``
  (``{{ table grokking:grokking.results_table }}``): an experiment that already prints its
  table is reused, not copied.

Literals
--------
A number that no committed result holds (a machine's core count, a setting quoted from the
literature) is declared in an HTML comment in the template, each with its reason; the comment
is not copied to the page:

    <!-- literals: 2 (CPU cores), 60,000 (MNIST training images), 28x28 (image size) -->

``bare_numbers(template, literals)`` lists every number outside placeholders that is not
declared; the tests require none. What counts as a number: the text is cut into words at
whitespace and at ``()[]{}<>"'`;:*|$=!?``; a word's leading and trailing ``.,-+`` are
dropped. A word that is a number (``1,944``, ``0.25``, ``1e-3``, ``99%``, ``10x``, ``28x28``,
``1/4``) is one number, and so is one before a hyphen and a lowercase word (``40,128-bit``,
``15-minute``); any other word holding a letter is a name and holds none (``LeNet-5``,
``log2``, ``MNIST-1D``, ``float32``, ``x86_64``, ``a^n``); a word without letters is cut into
its digit runs (``1..100``, ``2026-12-01``, ``2^``). Skipped entirely: placeholders, fenced
code blocks, inline code spans, Markdown link targets, HTML comments and citation years
(a year 1900-2099 after a capitalized word or ``et al.``, optionally after ``(``:
``Hoeffding 1963``, ``Lan et al. (2024)``, ``ACL 2024``).

Example template line::

    The payload is {{ digits_label_code:codec_payload_bits|, }} bits
    ({{ digits_label_code:codec_payload_bits / test_examples|.3f }} per label).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

from mdl.records import write_bytes_atomic

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
TEMPLATES = EXPERIMENTS / "pages"
RESULTS = EXPERIMENTS / "results"

PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
LITERALS = re.compile(r"<!--\s*literals:(.*?)-->\n?", re.S)
LITERAL_ENTRY = re.compile(r"\s*(.+?)\s*\(([^()]*)\)\s*(?:,|$)", re.S)


# -- values -------------------------------------------------------------------------------


class _Node:
    """A JSON value seen from a template expression: ``a.b`` and ``a["b"]`` both index."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def __getattr__(self, name):
        try:
            return _wrap(self._value[name])
        except (KeyError, TypeError) as exc:
            raise AttributeError(name) from exc

    def __getitem__(self, key):
        return _wrap(self._value[key])

    def __iter__(self):
        return (_wrap(v) for v in self._value)

    def __len__(self):
        return len(self._value)

    def __eq__(self, other):
        return self._value == _unwrap(other)

    def __hash__(self):
        return hash(json.dumps(self._value, sort_keys=True))

    def keys(self):
        return self._value.keys()

    def items(self):
        return ((k, _wrap(v)) for k, v in self._value.items())


def _wrap(value):
    return _Node(value) if isinstance(value, (dict, list)) else value


def _unwrap(value):
    return value._value if isinstance(value, _Node) else value


def _at(items, **fields):
    for item in items:
        if all(_unwrap(item)[k] == v for k, v in fields.items()):
            return item
    raise LookupError(f"no element with {fields}")


def _size(value) -> int:
    """How many numbers a nested list (or dict of lists) holds."""
    value = _unwrap(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return sum(_size(v) for v in value)
    return 1


FUNCTIONS = {f.__name__: f for f in (min, max, len, sum, abs, round, sorted, any, all)} | {
    "at": _at,
    "size": _size,
    "log2": math.log2,
}


def evaluate(expr: str, data: dict, read: Callable[[str], dict] | None = None):
    """The value of a template expression over one JSON document (``read(SOURCE)``, given to
    the expression as ``json("DIR/FILE.json")``, reads another)."""
    names = {k: _wrap(v) for k, v in data.items()} | FUNCTIONS
    if read is not None:
        names["json"] = lambda source: _wrap(read(source))
    value = eval(expr, {"__builtins__": {}}, names)  # noqa: S307 - committed templates only
    return _unwrap(value)


def _fixed(value: float, decimals: str) -> str:
    return f"{value:,.{int(decimals or 0)}f}"


TRANSFORMS: dict[str, Callable[[float, str], str]] = {
    "pct": lambda v, n: f"{100 * v:.{int(n or 0)}f}%",
    "x": lambda v, n: f"{v:,.{int(n or 0)}f}x",
    "k": lambda v, n: _fixed(v / 1e3, n),
    "M": lambda v, n: _fixed(v / 1e6, n),
    "min": lambda v, n: _fixed(v / 60, n),
    "int": lambda v, n: f"{round(v):,}",
    "sci": lambda v, n: re.sub(r"\.?0*e([-+])0*(\d)", r"e\1\2", f"{v:.{int(n or 0)}e}").replace(
        "e+", "e"
    ),
}


def format_value(value, spec: str) -> str:
    """``value`` as ``spec`` (a Python format spec or one of `TRANSFORMS`) writes it."""
    name, _, decimals = spec.partition(":")
    if name in TRANSFORMS:
        return TRANSFORMS[name](value, decimals)
    return format(value, spec)


# -- rendering ------------------------------------------------------------------------------


def _load(source: str, results: Path, cache: dict) -> dict:
    folder, _, filename = source.partition("/")
    path = results / folder / (filename or "summary.json")
    if path not in cache:
        cache[path] = json.loads(path.read_text())
    return cache[path]


def _table(call: str, data: dict) -> str:
    """``NAME`` or ``NAME(literal, ...)``: the named function of ``data`` (and the arguments)."""
    name, _, args = call.partition("(")
    arguments = ast.literal_eval(f"({args[:-1]},)") if args else ()
    module, _, function = name.strip().rpartition(".")
    where = importlib.import_module(f"experiments.{module}") if module else sys.modules[__name__]
    return getattr(where, function)(data, *arguments)


def render(template: str, results: Path = RESULTS) -> str:
    """A template's page, its placeholders filled from the JSON files under ``results``."""
    cache: dict = {}

    def fill(match: re.Match) -> str:
        body = match.group(1)
        try:
            if body.startswith("table "):
                source, _, function = body[len("table ") :].strip().partition(":")
                return _table(function.strip(), _load(source.strip(), results, cache))
            source, _, rest = body.partition(":")
            expr, bar, spec = rest.rpartition("|")
            if not bar:
                expr, spec = rest, ""
            value = evaluate(
                expr.strip(),
                _load(source.strip(), results, cache),
                lambda other: _load(other, results, cache),
            )
            return format_value(value, spec.strip())
        except Exception as exc:
            raise ValueError(f"placeholder {{{{ {body} }}}}: {exc!r}") from exc

    return PLACEHOLDER.sub(fill, LITERALS.sub("", template))


def templates(directory: Path = TEMPLATES) -> dict[str, Path]:
    """Page name (``NAME`` of ``experiments/NAME.md``) -> its template."""
    return {path.stem: path for path in sorted(directory.glob("*.md"))}


def render_all(results: Path = RESULTS, directory: Path = TEMPLATES) -> dict[str, str]:
    return {name: render(path.read_text(), results) for name, path in templates(directory).items()}


def stale_pages(
    results: Path = RESULTS, directory: Path = TEMPLATES, pages: Path = EXPERIMENTS
) -> list[str]:
    """The pages whose file under ``pages`` differs from their rendering from ``results``."""
    stale = []
    for name, text in render_all(results, directory).items():
        page = pages / f"{name}.md"
        if not page.exists() or page.read_text() != text:
            stale.append(name)
    return stale


# -- literals ------------------------------------------------------------------------------


def declared_literals(template: str) -> dict[str, str]:
    """The template's declared literals: number -> reason."""
    found = {}
    for comment in LITERALS.findall(template):
        for number, reason in LITERAL_ENTRY.findall(comment):
            found[number.strip()] = reason.strip()
    return found


_SKIPPED = re.compile(
    r"```.*?```"  # fenced code blocks
    r"|<!--.*?-->"  # HTML comments (the literals declaration)
    r"|\{\{.*?\}\}"  # placeholders
    r"|`[^`\n]*`"  # inline code spans
    r"|\]\([^)\s]*\)",  # link targets
    re.S,
)
_CITATION_YEAR = re.compile(r"(?:\b[A-Z][A-Za-z]+|\bet al\.),?\s*\(?(?:19|20)\d\d\b")
_WORD = re.compile(r"[^\s()\[\]{}<>\"'`;:*|$=!?]+")
_NUMBER_WORD = re.compile(
    r"\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?(?:%|x)?|\d+x\d+(?:x\d+)*|\d+/\d+|\.\d+",
)
_NUMBER_UNIT = re.compile(r"(\d[\d,.]*)-[a-z]+")
_DIGITS = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def numbers(text: str) -> list[tuple[int, str]]:
    """Every number of a template outside what is skipped, as (line, number)."""

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    text = _SKIPPED.sub(blank, text)
    text = _CITATION_YEAR.sub(blank, text)
    found = []
    for line_number, line in enumerate(text.splitlines(), 1):
        for word in _WORD.findall(line):
            word = word.strip(".,-+")
            if not word or not any(c.isdigit() for c in word):
                continue
            unit = _NUMBER_UNIT.fullmatch(word)  # 40,128-bit, 4-bit: a number of units
            if unit:
                word = unit.group(1)
            if _NUMBER_WORD.fullmatch(word):
                found.append((line_number, word))
            elif not re.search(r"[A-Za-z_]", word):
                found.extend((line_number, d) for d in _DIGITS.findall(word))
    return found


def bare_numbers(template: str, literals=None) -> list[tuple[int, str]]:
    """The numbers of a template that are neither placeholders nor declared literals
    (``literals``: the template's own declaration unless given)."""
    declared = declared_literals(template) if literals is None else literals
    return [(line, n) for line, n in numbers(template) if n not in declared]


# -- tables ---------------------------------------------------------------------------------


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table (no trailing newline)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def transcribed_table(data: dict, name: str) -> str:
    """A table kept as the page printed it (``NAME_header``, ``NAME_rows`` of an
    ``earlier_runs.json``, whose provenance says so)."""
    return markdown_table(data[f"{name}_header"], data[f"{name}_rows"])


def digits_table(summary: dict) -> str:
    """experiments/digits_label_code.md: each code of the test labels, in bits and per label."""
    rows = [
        ("uniform (log2 10)", summary["uniform_bits"]),
        ("zlib -9 on the label bytes", summary["zlib_bits"]),
        ("bz2 -9", summary["bz2_bits"]),
        ("lzma -9e", summary["lzma_bits"]),
        ("mdl estimate, sum of -log2 p(label given model)", summary["estimate_bits"]),
        ("mdl codec, real file (decodes back exactly)", summary["codec_file_bits"]),
        ("of which rANS payload", summary["codec_payload_bits"]),
        (
            "of which container (magic, version, sizes, CRCs)",
            summary["codec_file_bits"] - summary["codec_payload_bits"],
        ),
    ]
    n = summary["test_examples"]
    return markdown_table(
        ["code", "bits", "bits per label"], [[c, f"{b:,.0f}", f"{b / n:.3f}"] for c, b in rows]
    )


def _yes_no(beyond: dict) -> str:
    return ", ".join(f"{n}: {'yes' if ok else 'no'}" for n, ok in beyond.items())


def formal_languages_table(summary: dict) -> str:
    """experiments/formal_languages.md: each language's selected MDL restart and baseline."""
    rows = []
    for name, result in summary["languages"].items():
        base = result["baseline"]
        rows.append([
            name,
            result["max_correct_n"],
            f"{result['two_part_bits']:,.0f}",
            f"{result['test_cross_entropy']:,.3f}",
            f"{result['optimal_cross_entropy']:,.3f}",
            base["max_correct_n"],
            f"{base['two_part_bits']:,.0f}",
            f"{base['test_cross_entropy']:,.3f}",
            f"{result['restarts_correct_to_max_n']}/{len(result['restarts'])}",
            f"{base['runs_correct_to_max_n']}/{len(base['runs'])}",
        ])  # fmt: skip
    max_n = f"{summary['config']['max_n']:,}"
    header = [
        "language", "MDL max_correct_n", "MDL two-part bits", "MDL test CE", "optimal CE",
        "baseline max_correct_n", "baseline two-part bits", "baseline test CE",
        f"MDL restarts correct to {max_n}", f"baseline runs correct to {max_n}",
    ]  # fmt: skip
    return markdown_table(header, rows)


def formal_languages_restarts(summary: dict, language: str) -> str:
    """experiments/formal_languages.md: every MDL restart of one language (the selected one
    and those tied with it marked)."""
    result = summary["languages"][language]
    rows = []
    for i, r in enumerate(result["restarts"]):
        two_part = f"{r['two_part_bits']:,.0f}"
        if i in result["tied_restarts"]:
            two_part += " (selected)" if i == result["tied_restarts"][0] else " (tied)"
        rows.append([
            r["seed"], r["initial_step"], f"{r['parts']['params']:,.0f}",
            f"{r['parts']['data']:,.0f}", two_part, r["max_correct_n"],
            _yes_no(r["correct_beyond"]), f"{r['test_cross_entropy']:,.3f}",
        ])  # fmt: skip
    header = [
        "seed", "initial step", "model file bits", "data file bits", "two-part bits",
        "max_correct_n", "beyond", "test CE",
    ]  # fmt: skip
    return markdown_table(header, rows)


def formal_languages_baselines(summary: dict, language: str) -> str:
    """experiments/formal_languages.md: every cross-entropy baseline run of one language."""
    rows = [
        [
            r["seed"],
            r["regularizer"],
            r["stopped_epoch"],
            f"{r['validation_bits']:.1f}",
            f"{r['two_part_bits']:,.0f}",
            r["max_correct_n"],
            f"{r['test_cross_entropy']:,.3f}",
        ]  # fmt: skip
        for r in summary["languages"][language]["baseline"]["runs"]
    ]
    header = [
        "seed", "regularizer", "stopped at epoch", "validation bits", "two-part bits",
        "max_correct_n", "test CE",
    ]  # fmt: skip
    return markdown_table(header, rows)


def weights_block(weights: dict) -> str:
    """A network's weights (a ``*_weights.json`` or the summary's golden network) as the
    text block of experiments/formal_languages.md: one tensor a line."""

    def number(x):
        return f"{x:g}" if isinstance(x, float) else str(x)

    def text(value):
        if isinstance(value, list):
            return "[" + ", ".join(text(v) for v in value) + "]"
        return number(value)

    width = max(len(k) for k in weights) + 2
    lines = [f"{k:<{width}}{text(v)}".rstrip() for k, v in weights.items()]
    return "```text\n" + "\n".join(lines) + "\n```"


def golden_weights_block(summary: dict) -> str:
    return weights_block(summary["golden_anbn"]["weights"])


def text_compression_table(summary: dict) -> str:
    """experiments/text_compression.md: bits per character and speed of every method."""
    names = {
        "gzip": "gzip -9",
        "zstd": "zstd -19",
        "xz": "xz -9e",
        "bzip2": "bzip2 -9",
        "online": "**mdl online** (GRU {hidden}, learns while coding, no weights sent)",
        "two_part": "**mdl two-part** (GRU {hidden} trained {epochs} epochs, quantized model sent)",
    }
    rows = []
    for name, label in names.items():
        method = summary["methods"][name]
        bpc = f"{method['bpc']:.4f}"
        decode = method.get("decode_chars_per_s")
        if "settings" in method:
            label, bpc = label.format(**method["settings"]), f"**{bpc}**"
        rows.append(
            [
                label,
                bpc,
                f"{method['encode_chars_per_s']:,.0f}",
                "-" if decode is None else f"{decode:,.0f}",
            ]
        )
    return markdown_table(
        ["method", "bits per character", "encode (chars/s)", "decode (chars/s)"], rows
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages()
        for name in stale:
            print(f"experiments/{name}.md differs from experiments/pages/{name}.md rendered")
        return 1 if stale else 0
    for name, text in render_all().items():
        write_bytes_atomic(EXPERIMENTS / f"{name}.md", text.encode())
        print(f"experiments/{name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
