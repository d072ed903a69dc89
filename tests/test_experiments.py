"""Smoke runs of the experiments, end to end: the figures they report are checked again."""

import json
import math
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

ROOT = Path(__file__).resolve().parents[1]


def test_demo_smoke_codes_labels_for_real(tmp_path):
    from experiments.digits_label_code import main

    summary = main(["--smoke", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["uniform_bits"] == summary["test_examples"] * math.log2(10)
    # The file holds at least the ideal payload and costs at most that plus the coder's state
    # and sentinel (96 bits) and the container and metadata (48 bytes).
    assert summary["codec_payload_bits"] >= summary["estimate_bits"] - 64
    assert summary["codec_file_bits"] <= summary["estimate_bits"] * 1.001 + 96 + 8 * 48


@pytest.fixture(scope="module")
def bound_smoke(tmp_path_factory, mnist_dir):
    """One smoke run of the bound experiment (its folder and summary), shared by the tests."""
    from experiments.mnist_bound import main

    out = tmp_path_factory.mktemp("bound") / "real"
    return out, main(["--smoke", "--data-root", str(mnist_dir), "--out", str(out)])


def test_mnist_bound_smoke_is_non_vacuous_and_vacuous_on_random_labels(
    tmp_path, mnist_dir, bound_smoke
):
    """The same pipeline gives a bound below chance on MNIST and at least the true error
    (about 90%) of a model of randomly permuted labels."""
    from experiments.mnist_bound import main

    _, real = bound_smoke
    assert real["train_error"] <= real["error_bound"] < 0.9
    assert real["test_error"] <= real["error_bound"]
    assert real["code_bits"] > 8 * real["file_bytes"]  # the file plus its length's code
    shuffled = main(
        [
            "--smoke",
            "--shuffle-labels",
            "--data-root",
            str(mnist_dir),
            "--out",
            str(tmp_path / "shuffled"),
        ]
    )
    assert shuffled["error_bound"] >= 0.85
    assert shuffled["test_error"] >= 0.85


def test_mnist_bound_charges_a_code_fixed_in_advance_for_every_configuration(bound_smoke):
    """The code length is the four parts of the docstring: the index among every configuration
    trained on the bound's data (the smoke run that tests make and this run's grid among them),
    the structure code, the log* length and the file on disk; the bound is the kl-form Occam
    bound of that length, recomputed here with scipy's root finder."""
    from scipy.optimize import brentq

    from experiments.mnist_bound import CONFIGURATIONS, EARLIER, GRID, SMOKE, configuration_name

    tmp_path, summary = bound_smoke
    assert len(EARLIER) == 29  # the configurations experiments/mnist_bound.md listed
    listed = set(CONFIGURATIONS)
    assert len(listed) == len(CONFIGURATIONS)
    assert {configuration_name(c) for c in (*GRID, SMOKE)} <= listed
    assert [c["configuration"] for c in summary["candidates"]] == [configuration_name(SMOKE)]
    parts = summary["code_parts"]
    assert parts["configuration_index"] == pytest.approx(math.log2(len(listed)))
    assert parts["file"] == 8 * (tmp_path / "model.mdl").stat().st_size
    assert 20 < parts["structure"] < 100 and 8 < parts["file_length"] < 40
    assert summary["code_bits"] == pytest.approx(sum(parts.values()), rel=1e-12)
    # kl(train || bound) = (L ln 2 + ln(1 / delta)) / m, Bernoulli kl in nats (Langford 2005)
    m, q = summary["m"], summary["train_error"]
    budget = (summary["code_bits"] * math.log(2) + math.log(1 / 0.05)) / m

    def kl(p):
        return q * math.log(q / p) + (1 - q) * math.log((1 - q) / (1 - p))

    bound = brentq(lambda p: kl(p) - budget, q, 1 - 1e-12)
    assert summary["error_bound"] == pytest.approx(bound, abs=1e-5)


def test_lenet_compression_smoke_files_give_the_reported_numbers(tmp_path, mnist_dir):
    """Each reported figure is measured again from the model file alone: its size on disk, a
    float32 file of the decoded weights, their zeros, and their errors on the test images."""
    from experiments.lenet_compression import main
    from mdl.compress import float32_baseline, load_compressed, save_compressed
    from mdl.data import load

    summary = main(["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path)])
    test = load("mnist", root=mnist_dir)
    x, y = test.x_test[:1000], test.y_test[:1000]  # the smoke run's test images
    for name, count in (("lenet_300_100", 266_610), ("lenet5", 431_080)):
        row = summary[name]
        size = (tmp_path / row["model_file"]).stat().st_size
        assert size == row["file_bytes"]
        model = load_compressed(tmp_path / row["model_file"])
        weights = [np.asarray(w) for w in jax.tree.leaves(nnx.state(model, nnx.Param))]
        assert sum(w.size for w in weights) == count
        # The ratio is float32 bytes (a real float32 file of the decoded weights holds 4 bytes
        # a weight, less its header) over the compressed file's size on disk.
        plain = float32_baseline()
        float32_bytes = save_compressed(
            tmp_path / f"{name}.float32", model, plain, plain.init(nnx.state(model, nnx.Param))
        )
        assert 4 * count < float32_bytes <= 4 * count + 4096
        assert row["ratio"] * size == pytest.approx(4 * count, rel=1e-12)
        assert row["ratio"] > 1
        assert row["sparsity"] == pytest.approx(
            np.mean(np.concatenate([w.ravel() for w in weights]) == 0)
        )
        # Test error of the decoded model, by its own forward pass (not the experiment's evaluate)
        predictions = np.asarray(model(jnp.asarray(x, jnp.float32))).argmax(-1)
        assert row["test_error"] == pytest.approx(np.mean(predictions != y), abs=1e-9)
        # the reported file is the chosen grid point's, chosen by the declared rule
        chosen = [c for c in row["candidates"] if c["beta"] == row["beta"]]
        assert len(chosen) == 1 and chosen[0]["file_bytes"] == size
        reaching = [c for c in row["candidates"] if c["validation_error"] <= row["error_target"]]
        pool = reaching or row["candidates"]
        key = "file_bytes" if reaching else "validation_error"
        assert chosen[0][key] == min(c[key] for c in pool)
        assert (row["train_examples"], row["validation_examples"]) == (1800, 200)


def test_lenet_compression_choice_never_reads_the_test_set(tmp_path, mnist_dir, monkeypatch):
    """The validation protocol in action: with the test labels scrambled, every grid point and
    the choice are the same to the bit; only the one test read after the choice changes."""
    import mdl.data
    from experiments import lenet_compression

    runs = {}
    for scramble in (False, True):
        real_load = mdl.data.load

        def load(name, scramble=scramble, real_load=real_load, **options):
            data = real_load(name, **options)
            if scramble:
                labels = np.random.default_rng(1).permutation(data.y_test)
                data = replace(data, y_test=(labels + 1) % 10)
            return data

        monkeypatch.setattr(lenet_compression, "load", load)
        out = tmp_path / str(scramble)
        argv = ["--smoke", "--models", "lenet_300_100", "--data-root", str(mnist_dir)]
        runs[scramble] = lenet_compression.main([*argv, "--out", str(out)])["lenet_300_100"]
    plain, scrambled = runs[False], runs[True]
    for field in ("file_bytes", "beta", "validation_error", "train_error"):
        assert plain[field] == scrambled[field], field
    drop = ("seconds", "history")
    strip = [
        [{k: v for k, v in c.items() if k not in drop} for c in r["candidates"]]
        for r in runs.values()
    ]
    assert strip[0] == strip[1]
    assert plain["test_error"] != scrambled["test_error"]


def test_codelength_table_smoke_parts_are_real_and_the_codes_ordered(tmp_path, mnist_dir):
    """Each code's parts add up to the total the summary reports; the two-part parts are real
    files (whole bytes, never below their ideal lengths, float32 exactly 32 bits a parameter);
    and the orders that must hold do. The experiment decodes its prequential file itself (it
    raises if the labels do not come back); the file it leaves has the reported length."""
    from experiments import codelength_table
    from mdl.estimators import DescriptionLength

    summary = codelength_table.main(
        ["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path)]
    )
    saved = json.loads((tmp_path / "reports.json").read_text())
    reports = {name: DescriptionLength.from_json(report) for name, report in saved.items()}
    n = 3000
    assert summary["n"] == n and summary["uniform_bits"] == pytest.approx(n * np.log2(10))
    assert summary["prequential_decoded"] is True
    assert 8 * (tmp_path / "prequential.preq").stat().st_size == pytest.approx(
        summary["prequential_bits"]
    )
    seconds = summary["seconds"]
    ratio = seconds["prequential_decode"] / seconds["prequential"]
    assert summary["prequential_decode_over_encode"] == pytest.approx(ratio)
    parts = {
        "float32_two_part": {"structure", "params", "data"},
        "two_part": {"structure", "params", "data"},
        "variational": {"kl", "prior_scales", "data"},
        "prequential": {"first_chunk", "model_chunks", "file_overhead"},
    }
    assert set(reports) == set(parts)
    for name, report in reports.items():
        assert set(report.parts) == parts[name] and report.num_examples == n
        assert min(report.parts.values()) >= 0
        assert summary[f"{name}_bits"] == pytest.approx(sum(report.parts.values()), rel=1e-12)
        assert 0 <= summary[f"{name}_test_accuracy"] <= 1

    float32, compressed = reports["float32_two_part"], reports["two_part"]
    float32_count = 784 * 100 + 100 + 100 * 10 + 10  # MLP 784-100-10
    # the width chosen by two-part length among the declared ones, the shortest of them
    choice = summary["two_part_choice"]
    hidden = choice["hidden"]
    assert set(choice["by_hidden"]) == {"16", "24", "32"}
    assert choice["by_hidden"][str(hidden)] == min(choice["by_hidden"].values())
    assert summary["two_part_bits"] == pytest.approx(choice["by_hidden"][str(hidden)], rel=1e-12)
    compressed_count = 196 * hidden + hidden + hidden * 10 + 10  # MLP 196-H-10, pooled 2x2
    assert float32.details["num_params"] == float32_count
    assert compressed.details["num_params"] == compressed_count
    assert 32 * float32_count <= float32.parts["params"] <= 32 * float32_count + 8 * 64
    assert compressed.parts["params"] < 32 * compressed_count
    for report in (float32, compressed):
        assert report.parts["params"] % 8 == 0 and report.parts["data"] % 8 == 0
        ideal = report.details["data_estimate_bits"]
        assert ideal <= report.parts["data"] <= ideal * 1.01 + 500
    assert reports["variational"].parts["prior_scales"] == 32 * 4  # a float32 per tensor

    preq = reports["prequential"]
    assert preq.parts["first_chunk"] == pytest.approx(8 * np.log2(10))
    assert preq.details["ideal_bits"] == pytest.approx(
        preq.parts["first_chunk"] + preq.parts["model_chunks"]
    )
    file_bits = preq.details["file_bits"]
    assert file_bits % 8 == 0 and file_bits == pytest.approx(summary["prequential_bits"])
    assert preq.details["ideal_bits"] <= file_bits <= preq.details["ideal_bits"] + 1000

    # Orders that hold by construction: the float32 parameters alone (2.5 Mbits) outweigh the
    # uniform code (10 kbits) and any compressed code of a 4,978-parameter model.
    assert summary["uniform_bits"] < 32 * float32_count < summary["float32_two_part_bits"]
    assert summary["two_part_bits"] < summary["float32_two_part_bits"]
    # On a learnable task the online code beats uniform.
    assert summary["prequential_bits"] < 0.5 * summary["uniform_bits"]


def test_text_compression_smoke_archives_decode_and_sizes_are_the_files(tmp_path, kjv_path):
    from experiments.text_compression import main

    summary = main(["--smoke", "--text", str(kjv_path), "--out", str(tmp_path)])
    chars = summary["chars"]
    assert set(summary["bpc"]) == {"online", "two_part", "gzip", "bzip2", "xz", "zstd"}
    for method, name in (("online", "online"), ("two_part", "two-part")):
        result = summary["methods"][method]
        assert result["decoded_exactly"]
        archive = (tmp_path / f"{name}.mdlt").read_bytes()
        assert summary["bpc"][method] == 8 * len(archive) / chars
    # The online code must beat a uniform code over the smoke text's alphabet.
    alphabet = len(set(kjv_path.read_bytes()[:chars]))
    assert summary["bpc"]["online"] < math.log2(alphabet)
    two_part = summary["methods"]["two_part"]
    assert summary["model_bits"] == two_part["model_bits"] > 0
    assert two_part["model_bits"] + two_part["data_bits"] + two_part["header_bits"] == (
        8 * two_part["bytes"]
    )
    assert (tmp_path / "cumulative_bpc.png").stat().st_size > 0
    transfer = summary["transfer"]
    assert transfer["old_chars"] + transfer["new_chars"] == chars
    assert set(summary["nt_given_ot_bpc"]) == {"fixed", "fine_tuned_online", "online_from_scratch"}
    bound = transfer["bound"]
    assert bound["train_bpc"] <= bound["bound_bpc"] <= bound["max_bits"]
    assert bound["m"] == transfer["old_chars"]


def test_auto_compress_smoke_reports_its_winners_files(tmp_path, mnist_dir):
    """experiments.auto_compress: the labels' two-part total is the winner's code plus its
    charge, and the winner's file is the one in its folder."""
    from experiments.auto_compress import main

    argv = ["--smoke", "--targets", "labels", "--data-root", str(mnist_dir)]
    summary = main([*argv, "--out", str(tmp_path)])
    target = json.loads((tmp_path / "labels" / "summary.json").read_text())
    assert summary["two_part_bits"] == target["total_bits"]
    assert target["total_bits"] == pytest.approx(target["two_part_bits"] + target["search_bits"])
    assert summary["search_bits"]["labels"] == pytest.approx(1.0)  # a 1-bit smoke space
    size = (tmp_path / "labels" / "model.mdl").stat().st_size
    assert size == summary["labels"]["file_bytes"] == target["file_bytes"]
    assert summary["labels"]["ratio"] == pytest.approx(4 * target["parameters"] / size)


def test_auto_compress_error_space_must_have_the_target(tmp_path, capsys):
    """--error-space names written-down spaces per target: one without a space for a requested
    target exits 2 before any data is read; every space is a space of the target's search."""
    from experiments.auto_compress import ERROR_TARGET_SEARCHES, main
    from mdl.search import SearchSpace
    from mdl.search.bisection import BisectionSampler
    from mdl.search.study import SAMPLERS

    with pytest.raises(SystemExit) as exit_info:
        main(["--error-targets", "--error-space", "long", "--targets", "lenet_300_100",
              "--out", str(tmp_path)])  # fmt: skip
    assert exit_info.value.code == 2
    assert "--error-space long has no space for lenet_300_100" in capsys.readouterr().err
    for searches in ERROR_TARGET_SEARCHES.values():
        for space, sampler, first in searches.values():
            assert isinstance(space, SearchSpace) and sampler in SAMPLERS
            if sampler == "bisect":
                BisectionSampler(space)  # one free, ordered setting: a space it can bisect
            assert all(space.bits(point) >= 0 for point in first)  # points of the space


def test_auto_compress_error_target_smoke_trains_on_shifted_images(tmp_path, mnist_dir):
    """experiments.auto_compress --error-targets: the smoke space's shift reaches every trial,
    and the reported validation error is the winner's file's on the held-out tenth."""
    from experiments.auto_compress import main
    from experiments.harness import smoke_subset
    from mdl.compress import load_compressed
    from mdl.data import load, validation_split
    from mdl.inference import evaluate
    from mdl.params import split_params

    argv = ["--smoke", "--error-targets", "--targets", "lenet_300_100"]
    summary = main([*argv, "--data-root", str(mnist_dir), "--out", str(tmp_path)])
    search = json.loads((tmp_path / "lenet_300_100" / "summary.json").read_text())
    assert {t["config"]["augment"] for t in search["trials"]} == {1}
    result = summary["lenet_300_100"]
    assert result["max_error"] == 0.016 and result["config"]["augment"] == 1
    split = validation_split(smoke_subset(load("mnist", root=mnist_dir)), 0.1, seed=0)
    graphdef, weights = split_params(load_compressed(tmp_path / "lenet_300_100" / "model.mdl"))
    assert evaluate(graphdef, weights, split.x_test, split.y_test)[1] == result["validation_error"]


def test_the_committed_labels_search_meets_its_target_and_its_file_is_the_winner(mnist_dir):
    """The committed auto_compress run (labels target): at most 17 kbits with the search's
    charge; the winner's file is its best trial's, and it decodes to the reported training
    error on the 60,000 training images; the charge is the default space's 10-bit codeword."""
    from mdl.compress import load_compressed
    from mdl.data import load
    from mdl.inference import evaluate
    from mdl.params import split_params
    from mdl.search import default_space

    folder = ROOT / "experiments" / "results" / "auto_compress"
    summary = json.loads((folder / "summary.json").read_text())
    target = json.loads((folder / "labels" / "summary.json").read_text())
    assert summary["two_part_bits"] <= 17_000 and not summary["smoke"]
    best = min(target["trials"], key=lambda t: t["total_bits"])
    assert best["total_bits"] == summary["two_part_bits"] == target["total_bits"]
    assert summary["search_bits"]["labels"] == pytest.approx(default_space().bits(best["config"]))
    path = folder / "labels" / "model.mdl"
    assert path.stat().st_size == best["info"]["file_bytes"] == summary["labels"]["file_bytes"]
    data = load("mnist", root=mnist_dir)
    graphdef, weights = split_params(load_compressed(path))
    _, train_error = evaluate(graphdef, weights, data.x_train, data.y_train)
    assert train_error == summary["labels"]["train_error"]


def test_the_committed_lenet_300_100_search_is_its_file(mnist_dir):
    """The committed LeNet-300-100 search: the winner is the shortest trial, its file is the
    reported size and ratio (against 266,610 float32 parameters), and it decodes to the
    reported training error."""
    from mdl.compress import load_compressed
    from mdl.data import load
    from mdl.inference import evaluate
    from mdl.params import split_params

    folder = ROOT / "experiments" / "results" / "auto_compress_lenet_300_100"
    summary = json.loads((folder / "summary.json").read_text())["lenet_300_100"]
    target = json.loads((folder / "lenet_300_100" / "summary.json").read_text())
    best = min(target["trials"], key=lambda t: t["total_bits"])
    path = folder / "lenet_300_100" / "model.mdl"
    assert path.stat().st_size == best["info"]["file_bytes"] == summary["file_bytes"]
    assert summary["ratio"] == pytest.approx(4 * 266_610 / summary["file_bytes"])
    data = load("mnist", root=mnist_dir, flatten=True)
    graphdef, weights = split_params(load_compressed(path))
    _, train_error = evaluate(graphdef, weights, data.x_train, data.y_train)
    assert train_error == summary["train_error"]


def test_auto_compress_prequential_smoke_decodes_its_winner(tmp_path, mnist_dir):
    """experiments.auto_compress's prequential target: the reported total is the winner's
    file plus the 1-bit charge of the smoke space, the winner is the shortest file of the
    trials, and the copied file decodes to the labels in their transmission order."""
    import numpy as np

    from experiments.auto_compress import chunk_model_fn, main
    from experiments.harness import smoke_subset
    from mdl.data import load
    from mdl.estimators import decode_prequential

    argv = ["--smoke", "--targets", "prequential", "--data-root", str(mnist_dir)]
    summary = main([*argv, "--out", str(tmp_path)])
    preq = summary["prequential"]
    path = tmp_path / "prequential" / "prequential.preq"
    assert preq["file_bits"] == 8 * path.stat().st_size
    assert summary["prequential_bits"] == preq["file_bits"] + 1.0
    trials = json.loads((tmp_path / "prequential" / "summary.json").read_text())["trials"]
    assert len(trials) == 2 and preq["file_bits"] == min(t["objective_bits"] for t in trials)
    data = smoke_subset(load("mnist", root=mnist_dir))  # the smoke run's 2,000 images
    order = np.random.default_rng(0).permutation(len(data.y_train))[:500]
    x = data.x_train[order].reshape(500, -1)
    decoded = decode_prequential(path.read_bytes(), chunk_model_fn("8", smoke=True), x)
    assert np.array_equal(decoded, data.y_train[order])


LENETS = {"lenet_300_100": (266_610, 0.016, True), "lenet5": (431_080, 0.010, False)}
ERROR_TARGET_RUNS = [
    (run, target, *LENETS[target])
    for run, targets in (
        ("auto_compress_target", LENETS),
        ("auto_compress_shift", LENETS),
        ("auto_compress_long", ("lenet5",)),
        ("auto_compress_between", ("lenet5",)),
        ("auto_compress_bisect", ("lenet5",)),
        ("auto_compress_live_block", ("lenet5",)),
        ("auto_compress_widths", ("lenet_300_100",)),
    )
    for target in targets
]


@pytest.mark.parametrize(("run", "target", "parameters", "max_error", "flatten"), ERROR_TARGET_RUNS)
def test_the_committed_error_target_search_reports_its_winner(
    mnist_dir, run, target, parameters, max_error, flatten
):
    """Every committed error-target search (without, then with shifted images; LeNet-5 trained
    longer, then at one beta between two of that grid's, then by bisection of beta, then that
    bisection with the live-block code; LeNet-300-100 over its widths): the
    winner is the shortest model code (structure + file) among the trials whose validation
    error met the issue's target or, when none did, the trial that missed by least (recomputed
    here from every trial); its file gives the reported validation error on the held-out tenth
    of the training images, the reported size, and the ratio against the full network's
    float32 parameters."""
    from mdl.compress import load_compressed
    from mdl.data import load, validation_split
    from mdl.inference import evaluate
    from mdl.params import split_params

    folder = ROOT / "experiments" / "results" / f"{run}_{target}"
    summary = json.loads((folder / "summary.json").read_text())[target]
    search = json.loads((folder / target / "summary.json").read_text())
    assert summary["max_error"] == max_error
    met = [t for t in search["trials"] if t["info"]["validation_error"] <= max_error]
    assert summary["feasible"] == bool(met)
    assert all((t["violation"] == 0) == (t in met) for t in search["trials"])
    if met:
        winner = min(met, key=lambda t: t["info"]["structure_bits"] + 8 * t["info"]["file_bytes"])
    else:
        winner = min(search["trials"], key=lambda t: t["violation"])
    assert winner["info"]["validation_error"] == summary["validation_error"]
    path = folder / target / "model.mdl"
    assert path.stat().st_size == winner["info"]["file_bytes"] == summary["file_bytes"]
    assert summary["ratio"] == pytest.approx(4 * parameters / summary["file_bytes"])
    split = validation_split(load("mnist", root=mnist_dir, flatten=flatten), 0.1, seed=0)
    graphdef, weights = split_params(load_compressed(path))
    assert evaluate(graphdef, weights, split.x_test, split.y_test)[1] == summary["validation_error"]


@pytest.mark.parametrize(
    ("run", "space_name"),
    [
        ("auto_compress_bisect_lenet5", "LENET5_BISECT_SPACE"),
        ("auto_compress_live_block_lenet5", "LENET5_LIVE_BLOCK_SPACE"),
    ],
)
def test_the_committed_bisection_search_followed_the_bisection_within_the_budget(run, space_name):
    """The LeNet-5 bisection searches chose every trial themselves: each trial's beta is the
    point `bisection_index` gives from the trials before it (recomputed here from their
    recorded betas and validation errors, against the issue's 1.0%), every trial's other
    settings are the space's, and the whole search, last trial included, took at most the
    issue's 90 minutes."""
    import experiments.auto_compress
    from mdl.search.bisection import bisection_index

    space = getattr(experiments.auto_compress, space_name)
    folder = ROOT / "experiments" / "results" / run
    summary = json.loads((folder / "summary.json").read_text())
    trials = sorted(
        json.loads((folder / "lenet5" / "summary.json").read_text())["trials"],
        key=lambda t: t["number"],
    )
    fixed = {d.name: d.values()[0] for d in space.dimensions[1:]}
    assert all({k: t["config"][k] for k in fixed} == fixed for t in trials)
    points = space.dimensions[0].values()
    evaluated = []
    for trial in trials:
        index = bisection_index(evaluated, len(points))
        assert trial["config"]["beta"] == pytest.approx(points[index], rel=1e-12)
        evaluated.append((index, trial["info"]["validation_error"] <= 0.010))
    assert summary["seconds"]["lenet5"] <= 90 * 60
    assert summary["provenance"]["wall_seconds"] <= 90 * 60
