"""The README's Python snippets run as written and give the numbers the README says they give
(documentation that cannot rot silently)."""

import ast
import re
from pathlib import Path

import numpy as np

from mdl.codec import container

README = Path(__file__).resolve().parents[1] / "README.md"

# README lines whose trailing comment states what the line evaluates to: the line's code, and
# how many numbers of its comment are its value (printed rounded to the digits shown).
NUMBERS = {
    "mdl.categorical_bits(logits, jnp.array([0, 2]))": 2,  # [0.25, 1.58] bits per example
    "mdl.elias_delta_bits(jnp.arange(1, 5))": 4,  # [1, 4, 4, 5]
    "mdl.log_star_bits(1000)": 1,  # 17.3 bits
    "print(rate, 8 * len(data))": 2,  # 13,576 estimated; 13,968 in the file, 300-odd ...
    "parameter_count(lenet_300_100())": 1,  # 266,610
    "occam_bound(train_error=0.04, code_bits=25_000, m=60_000, delta=0.05)": 1,  # 0.351
}
# 1,234.5 or 0.25 or 17; thousands separated by commas ("[1, 4]" is two numbers).
NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")


def stated_numbers(comment: str) -> list[str]:
    return NUMBER.findall(comment)


def agrees(value: float, printed: str) -> bool:
    """``value`` rounds to ``printed`` at the number of decimals ``printed`` shows."""
    decimals = len(printed.partition(".")[2])
    return abs(float(value) - float(printed.replace(",", ""))) <= 0.5 * 10.0**-decimals + 1e-9


def comment_at(lines: list[str], index: int) -> str:
    """The comment ending line ``index`` and the comment-only lines continuing it."""
    text = [lines[index].partition("#")[2]]
    for line in lines[index + 1 :]:
        if not line.lstrip().startswith("#"):
            break
        text.append(line.lstrip()[1:])
    return " ".join(text)


def run_snippet(source: str, namespace: dict) -> list[tuple[str, str, object, dict]]:
    """Run a snippet statement by statement; for each top-level expression statement, its code
    line, its comment, its value (a print's arguments as a tuple) and the namespace then."""
    lines = source.splitlines()
    results = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.Expr):
            exec(compile(ast.Module([node], []), str(README), "exec"), namespace)
            continue
        expr = node.value
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Name)
            and expr.func.id == "print"
        ):
            expr = ast.Tuple(expr.args, ast.Load())
        expression = ast.fix_missing_locations(ast.Expression(expr))
        value = eval(compile(expression, str(README), "eval"), namespace)
        code = lines[node.lineno - 1].partition("#")[0].strip()
        results.append((code, comment_at(lines, node.end_lineno - 1), value, dict(namespace)))
    return results


def test_readme_snippets_run_and_give_the_numbers_it_states(tmp_path):
    # The snippets write to /tmp/...; here to a fresh folder, so runs never share files.
    text = README.read_text().replace('"/tmp/', f'"{tmp_path}/')
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    checked = set()
    for block in blocks:
        for code, comment, value, names in run_snippet(
            block.replace("    ...", "    pass"), namespace
        ):
            if (
                isinstance(value, bool | np.bool_)
                or np.dtype(getattr(value, "dtype", "O")).kind == "b"
            ):
                assert bool(value), f"README claims `{code}` (# {comment.strip()})"
            if code in NUMBERS:
                checked.add(code)
                stated = stated_numbers(comment)[: NUMBERS[code]]
                got = np.ravel(np.asarray(value, dtype=np.float64))
                assert len(got) == len(stated) == NUMBERS[code], (code, stated, got)
                assert all(map(agrees, got, stated)), (
                    f"README says `{code}` gives {stated}; it gives {got.tolist()}"
                )
            if code == "print(rate, 8 * len(data))":
                # "... 300-odd of them header and checksums": the file less its rANS words.
                odd = int(re.search(r"(\d+)-odd", comment).group(1))
                words = container.unpack(names["data"], "SYMS")["RANS"]
                header = value[1] - 8 * len(words)
                assert odd <= header < odd + 100, f"README: {odd}-odd header bits; {header}"
            if code == 'result.history[-1]["model_bits"], 8 * size':
                # "the estimate and the file agree": the file adds its header, a few hundred bits.
                estimate, file_bits = value
                checked.add(code)
                assert estimate <= file_bits <= estimate + 8 * 256, (estimate, file_bits)
    assert checked == set(NUMBERS) | {'result.history[-1]["model_bits"], 8 * size'}
