"""experiments/grokking.py: the smoke run's code lengths are real files that decode, and the
committed full run is what experiments/grokking.md says it is."""

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import grokking
from mdl.compress.files import decode_compressed
from mdl.data.synthetic import load_modular_arithmetic
from mdl.params import split_params

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results" / "grokking"
RUN_KEYS = {"epochs_to_grok", "peak_model_bits", "final_model_bits", "final_test_error"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("grokking")
    return out, grokking.main(["--smoke", "--out", str(out)])


def test_smoke_summary_has_the_issue_keys_and_is_the_written_file(smoke):
    out, summary = smoke
    assert json.loads((out / "summary.json").read_text()) == summary
    assert set(summary["runs"]) == {"none", "weight_decay", "mdl", "mdl_beta_0.1"}
    for run in [*summary["runs"].values(), summary["compress_grokked"]]:
        assert RUN_KEYS <= set(run)
        assert run["epochs_to_grok"] is None or run["epochs_to_grok"] >= 0
        curve = run["curve"]
        assert run["final_model_bits"] == curve[-1]["model_bits"]
        assert run["final_test_error"] == curve[-1]["test_error"]
        kept = [point for point in curve if point["predictions_kept"]] or curve
        assert run["peak_model_bits"] == max(point["model_bits"] for point in kept)
    for name in ("complexity.png", "bound.png"):
        assert (out / name).stat().st_size > 0
    assert summary["provenance"]["wall_seconds"] < 60


def test_smoke_every_model_length_is_a_file_that_decodes(smoke):
    """Every checkpoint's file was decoded by the experiment (the decoded weights equal the
    hard weights, or it stops) and its predictions recorded; the final files on disk are
    decoded here again, from their bytes alone and a template, and give the recorded errors."""
    out, summary = smoke
    settings = grokking.Settings(**summary["settings"])
    data = load_modular_arithmetic(settings.p, settings.op, settings.train_fraction, settings.seed)
    template = grokking.build_model(settings)
    graphdef, _ = split_params(template)
    predict = grokking.make_predict(graphdef)
    runs = {**summary["runs"], "compress": summary["compress_grokked"]}
    for name, run in runs.items():
        for point in run["curve"]:
            assert point["model_bits"] % 8 == 0 and point["model_bits"] > 0
            # The two-part code is structure + that same file + the labels' file.
            parts = summary["structure_bits"] + point["model_bits"] + point["data_bits"]
            assert point["two_part_bits"] == pytest.approx(parts, rel=1e-12)
            assert point["bound_code_bits"] > point["model_bits"]
            assert 0 <= point["bound"] <= 1
            assert point["decoded_predictions_match"], (name, point["step"])
            if point["predictions_kept"]:
                assert point["file_train_error"] == point["train_error"]
        blob = (out / run["model_file"]).read_bytes()
        assert 8 * len(blob) == run["final_model_bits"], name
        _, weights = split_params(decode_compressed(blob, template))
        test_predictions = np.asarray(predict(weights, jnp.asarray(data.x_test, jnp.int32)))
        final = run["curve"][-1]
        assert np.mean(test_predictions != data.y_test) == pytest.approx(
            final["file_test_error"], abs=1e-12
        )
    assert all(p["bits_per_std"] is None for p in summary["runs"]["mdl"]["curve"])


def test_coarsest_quantization_is_the_smallest_grid_step_that_keeps_predictions():
    """On a small trained-at-random model the bisection's answer keeps the predictions and
    the next coarser grid step does not (the grid is searched, not assumed monotone, here
    checked on the answer's neighbour)."""
    settings = grokking.SMOKE
    model = grokking.build_model(settings)
    graphdef, params = split_params(model)
    predict = grokking.make_predict(graphdef)
    x = jnp.asarray(np.stack(np.meshgrid(range(23), range(23)), -1).reshape(-1, 2), jnp.int32)
    # Predictions of a model with large margins: logits scaled up so a coarse step keeps them.
    params = jax.tree.map(lambda w: 3.0 * w, params)
    wanted = np.asarray(predict(params, x))
    hard = jax.jit(grokking.quantizer(grokking._select_all).hard)

    def keeps(cstate):
        return bool(np.array_equal(np.asarray(predict(hard(params, cstate), x)), wanted))

    cstate, k, kept = grokking.coarsest_quantization(params, keeps)
    assert kept and keeps(cstate)
    index = grokking.BITS_PER_STD_GRID.index(k)
    if index > 0:
        coarser = grokking.quantizer(
            grokking._select_all, init_bits_per_std=grokking.BITS_PER_STD_GRID[index - 1]
        ).init(params)
        assert not keeps(coarser)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="multiple of block"):
        grokking.checkpoint_steps(105, 10, 5)
    with pytest.raises(ValueError, match="hidden"):
        grokking.GrokMLP(23, 8, 0, rngs=grokking.nnx.Rngs(0))


def _committed():
    path = RESULTS / "summary.json"
    if not path.exists():
        pytest.skip(f"{path} not committed yet")
    return json.loads(path.read_text())


def test_committed_run_is_the_full_size_and_the_markdown_prints_its_numbers():
    """experiments/grokking.md's table is the committed summary's, row for row, and its
    figures are the committed run's."""
    summary = _committed()
    assert not summary["smoke"]
    assert summary["settings"] == grokking.FULL.to_dict()
    assert "python -m experiments.grokking" in summary["provenance"]["command"]
    page = (ROOT / "experiments" / "grokking.md").read_text()
    for row in grokking.results_table(summary).splitlines():
        assert row in page, row
    wall = f"{summary['provenance']['wall_seconds']:,.0f} s"
    assert wall in page, wall
    assert summary["provenance"]["git_commit"][:7] in page
    for name in ("complexity", "bound"):
        figure = ROOT / "docs" / "figures" / f"grokking_{name}.png"
        assert figure.read_bytes() == (RESULTS / f"{name}.png").read_bytes()
        assert f"../docs/figures/grokking_{name}.png" in page
    for run in summary["runs"].values():
        assert run["all_decoded_predictions_match"]
        assert (RESULTS / run["model_file"]).stat().st_size * 8 == run["final_model_bits"]
    assert summary["uniform_bits"] == pytest.approx(summary["n_train"] * math.log2(97))


SUBTRACTION = ROOT / "experiments" / "results" / "grokking_subtraction"


def test_committed_subtraction_run_is_the_full_size_and_its_section_prints_its_numbers():
    """The "Subtraction" section of experiments/grokking.md prints the committed subtraction
    summary's table row for row, its wall time, commit and figure; the run is the full size
    with op "-" and every other setting the addition run's."""
    path = SUBTRACTION / "summary.json"
    if not path.exists():
        pytest.skip(f"{path} not committed yet")
    summary = json.loads(path.read_text())
    assert not summary["smoke"]
    assert summary["settings"]["op"] == "-"
    assert summary["settings"] == {**grokking.FULL.to_dict(), "op": "-"}
    assert "--op -" in summary["provenance"]["command"]
    page = (ROOT / "experiments" / "grokking.md").read_text()
    section = page.split("## Subtraction: a - b mod 97", 1)[1].split("\n## ", 1)[0]
    for row in grokking.results_table(summary).splitlines():
        assert row in section, row
    assert f"{summary['provenance']['wall_seconds']:,.0f} s" in section
    assert summary["provenance"]["git_commit"][:7] in section
    figure = ROOT / "docs" / "figures" / "grokking_subtraction_complexity.png"
    assert figure.read_bytes() == (SUBTRACTION / "complexity.png").read_bytes()
    assert "../docs/figures/grokking_subtraction_complexity.png" in section
    for run in [*summary["runs"].values(), summary["compress_grokked"]]:
        assert run["all_decoded_predictions_match"]
        assert (SUBTRACTION / run["model_file"]).stat().st_size * 8 == run["final_model_bits"]
    assert summary["uniform_bits"] == pytest.approx(summary["n_train"] * math.log2(97))
