"""Sweeps: records, real files, resume after SIGKILL, sharding over 8 emulated devices."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mdl.bounds import binary_kl_bits
from mdl.compress import load_compressed
from mdl.data import load
from mdl.estimators.two_part import structure_bits
from mdl.inference import evaluate
from mdl.models.catalog import reference_model
from mdl.params import split_params
from mdl.records import read_records
from mdl.sweep import RECORD_KEYS, ConfigMismatchError, SetupError, SweepConfig, run

from .conftest import REPO

# Small and quick: 3 betas x 2 seeds of a 64-16-10 MLP on 512 digits, 3 epochs.
CONFIG = dict(
    model={"name": "MLP", "hidden": [16]},
    betas=[0.01, 0.3, 3.0],
    seeds=[0, 1],
    epochs=3,
    max_train=512,
)


def numeric_part(record: dict) -> dict:
    """The record without its timings (which differ between runs)."""
    return {k: v for k, v in record.items() if "seconds" not in k}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    config = SweepConfig(**CONFIG, points_per_chunk=2)
    return out, config, run(config, out, progress=False)


def test_every_point_has_one_complete_record_and_a_real_file(finished):
    out, config, records = finished
    assert [(r["beta"], r["seed"]) for r in records] == [
        (p["beta"], p["seed"]) for p in config.points()
    ]
    assert len(read_records(out)) == len(config.points())
    data = load("digits")
    template = reference_model(config.model, data, seed=0)
    for record in records:
        assert set(RECORD_KEYS) <= set(record)
        path = out / record["model_file"]
        assert record["model_file_bits"] == 8 * path.stat().st_size
        # The model code is a real two-part code: the architecture's structure code plus the
        # compact file, whose decoder knows the architecture from the structure part.
        assert record["structure_bits"] == pytest.approx(structure_bits(template))
        assert record["model_code_bits"] == record["structure_bits"] + record["model_file_bits"]
        assert record["total_bits"] == record["model_code_bits"] + record["train_data_bits"]
        # Independent check of the recorded errors: decode the file and evaluate it afresh.
        model = load_compressed(path, template)
        graphdef, weights = split_params(model)
        test_bits, test_error = evaluate(graphdef, weights, data.x_test, data.y_test)
        train_bits, train_error = evaluate(
            graphdef, weights, data.x_train[:512], data.y_train[:512]
        )
        assert test_error == pytest.approx(record["test_error"], abs=1e-9)
        assert test_bits == pytest.approx(record["test_data_bits"], rel=1e-4)
        assert train_error == pytest.approx(record["train_error"], abs=1e-9)
        assert train_bits == pytest.approx(record["train_data_bits"], rel=1e-4)
        assert 0 <= record["sparsity"] <= 1
        # The bound is the kl inverse: kl(train error || bound) = complexity / m (in bits).
        complexity = (record["bound_code_bits"] + np.log2(1 / config.delta)) / record["n_train"]
        assert record["bound_code_bits"] == record["model_code_bits"] + np.log2(6)
        if record["error_bound"] < 1 - 1e-6:
            kl = float(binary_kl_bits(record["train_error"], record["error_bound"]))
            assert kl == pytest.approx(complexity, rel=1e-3)
        assert record["error_bound"] >= record["train_error"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"] == config.to_dict()
    assert {"mdl", "jax", "flax"} <= set(manifest["versions"]) and manifest["devices"]


def test_more_weight_on_model_bits_gives_smaller_models(finished):
    _, _, records = finished
    for seed in (0, 1):
        bits = [r["model_file_bits"] for r in records if r["seed"] == seed]
        assert bits[0] > bits[-1]  # beta 0.01 against beta 3


def test_rerun_resumes_without_training_or_duplicating(finished, monkeypatch):
    out, config, records = finished
    import mdl.sweep.runner

    def no_training(*args, **kwargs):
        raise AssertionError("a finished sweep must not load data or train again")

    monkeypatch.setattr(mdl.sweep.runner, "load", no_training)
    again = run(config, out, progress=False)
    assert again == records
    assert len(read_records(out)) == len(records)


def test_a_folder_from_another_config_is_refused(finished):
    out, config, _ = finished
    with pytest.raises(ConfigMismatchError, match="epochs: folder has 3, config has 4"):
        run(SweepConfig(**(CONFIG | {"epochs": 4}), points_per_chunk=2), out, progress=False)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"betas": []}, "betas is empty"),
        ({"seeds": []}, "seeds is empty"),
        ({"betas": [-1.0]}, "betas must be finite and >= 0"),
        ({"betas": [float("nan")]}, "betas must be finite"),
        ({"data": "imagenet"}, "unknown data set 'imagenet'"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"compressor": [{"name": "quantizer", "prior": "cauchy"}]}, "prior must be one of"),
        ({"compressor": [{"name": "zip"}]}, "unknown compressor 'zip'"),
        ({"compressor": [{"name": "quantizer", "bits": 4}]}, r"takes no option\(s\) \['bits'\]"),
        ({"compressor": []}, "compressor is empty"),
        ({"model": {"name": "ResNet"}}, "unknown model 'ResNet'"),
        ({"data_code": "poisson"}, "unknown data code 'poisson'"),
        ({"label_noise": [1.5]}, r"label_noise fractions must lie in \[0, 1\]"),
        ({"train_sizes": [0]}, "train_sizes must be >= 1"),
        ({"widths": [16, 16]}, "widths must not repeat"),
        ({"delta": 1.5}, r"delta must be in \(0, 1\)"),
        ({"betas": "0.1"}, "betas must be a list"),
    ],
)
def test_bad_configs_are_refused_with_the_option_named(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SweepConfig(**options)


def test_toml_config_and_unknown_options(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        "[sweep]\nbetas = [0.1, 1.0]\nseeds = [3]\nlabel_noise = [0.0, 0.5]\n"
        'model = {name = "ConvNet", channels = [4, 8]}\n'
        'compressor = [{name = "hard_concrete", structured = true}, {name = "quantizer"}]\n'
    )
    config = SweepConfig.from_toml(path, epochs=2)
    assert config.betas == (0.1, 1.0) and config.seeds == (3,) and config.label_noise == (0, 0.5)
    assert config.model == {"name": "ConvNet", "channels": [4, 8]}
    assert [c["name"] for c in config.compressor] == ["hard_concrete", "quantizer"]
    assert config.epochs == 2
    path.write_text("betas = [0.1]\nlearning_rat = 0.1\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['learning_rat'\]"):
        SweepConfig.from_toml(path)


def sweep_process(out, config: dict, env_extra=None) -> subprocess.Popen:
    code = (
        "import sys, json; from mdl.sweep import SweepConfig, run; "
        "run(SweepConfig(**json.loads(sys.argv[1])), sys.argv[2], progress=False)"
    )
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(config), str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sharded_over_8_devices_gives_the_same_records(finished, tmp_path):
    out, config, records = finished
    process = sweep_process(
        tmp_path,
        config.to_dict() | {"points_per_chunk": 8},
        {
            # this process's flags (tests/conftest.py) plus 8 host devices
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")
            + " --xla_force_host_platform_device_count=8",
            "JAX_PLATFORMS": "cpu",
        },
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["devices"]) == 8
    sharded = read_records(tmp_path)
    assert [r["point"] for r in sharded] == [r["point"] for r in records]
    for ours, theirs in zip(sharded, records, strict=True):
        for key in ("model_bits", "model_file_bits", "train_data_bits", "test_data_bits"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-3, abs=2.0), key
        for key in ("train_error", "test_error", "sparsity"):
            assert ours[key] == pytest.approx(theirs[key], abs=0.01), key


def test_a_sweep_killed_mid_run_resumes_to_exactly_the_uninterrupted_records(finished, tmp_path):
    out, config, _ = finished
    # One point per chunk and 24 points: once compiled, a chunk takes ~0.1 s on 2 cores, so
    # the kill after the second record lands with ~2 s of points left, not a few polls' worth.
    settings = config.to_dict() | {"points_per_chunk": 1, "epochs": 12, "seeds": list(range(8))}
    reference = run(SweepConfig(**settings), tmp_path / "reference", progress=False)

    target = tmp_path / "killed"
    process = sweep_process(target, settings)
    deadline = time.monotonic() + 240
    while len(read_records(target)) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "the sweep wrote no records in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the sweep finished before it was killed"
    assert 2 <= len(read_records(target)) < len(reference)

    resumed = run(SweepConfig(**settings), target, progress=False)
    lines = (target / "records.jsonl").read_text().splitlines()
    assert len(lines) == len(reference)
    assert sorted(json.loads(line)["point"] for line in lines) == sorted(
        r["point"] for r in reference
    )
    assert [numeric_part(r) for r in resumed] == [numeric_part(r) for r in reference]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"data": "anbn"}, r"needs logits of shape \[T, V\]"),
        ({"max_train": 100}, "batch_size 128 exceeds the 100 training examples"),
        ({"data_code": "next_token"}, "the next_token code needs token sequences"),
        ({"data": "anbn", "model": {"name": "CharRNN"}, "label_noise": [0.5]}, "label_noise"),
        ({"model": {"name": "LeNet5"}}, "LeNet5 takes 28 x 28 images"),
        ({"model": {"name": "MLP", "depth": 3}}, r"takes no option\(s\) \['depth'\]"),
        ({"compressor": [{"name": "quantizer", "select": "nothing"}]}, "matches no parameter"),
        ({"train_sizes": [5000]}, "exceed the"),
    ],
)
def test_a_failed_start_is_refused_before_training_and_leaves_no_manifest(
    options, message, tmp_path
):
    with pytest.raises(SetupError, match=message):
        run(SweepConfig.smoke(**options), tmp_path, progress=False)
    assert not (tmp_path / "manifest.json").exists()


def test_axes_group_by_shape_and_records_carry_axis_values(tmp_path):
    config = SweepConfig.smoke(
        betas=[0.1], seeds=[0], widths=[8, 16], train_sizes=[256, 512], label_noise=[0.0, 1.0]
    )
    records = run(config, tmp_path, progress=False)
    assert len(records) == 8
    assert {(r["width"], r["train_size"], r["label_noise"]) for r in records} == {
        (w, n, f) for w in (8, 16) for n in (256, 512) for f in (0.0, 1.0)
    }
    by = {(r["width"], r["train_size"], r["label_noise"]): r for r in records}
    assert by[(16, 512, 0.0)]["num_params"] > by[(8, 512, 0.0)]["num_params"]
    # Random labels cannot be predicted: about 90% test error, near the uniform train code.
    for width in (8, 16):
        assert by[(width, 512, 1.0)]["test_error"] > 0.75
        assert by[(width, 512, 1.0)]["train_data_bits"] > 0.8 * 512 * np.log2(10)


def test_label_noise_is_nested_across_fractions_and_replaces_about_the_fraction():
    from mdl.sweep import noisy_labels

    labels = np.arange(20_000) % 10
    previous = np.zeros(len(labels), bool)
    for fraction in (0.0, 0.25, 0.5, 1.0):
        noisy = noisy_labels(labels, fraction, seed=3, num_classes=10)
        changed = noisy != labels
        # A draw equals the true label one time in ten, so P(changed) = 0.9 f.
        assert abs(changed.mean() - 0.9 * fraction) < 0.015
        assert not (previous & ~changed).any()  # once replaced, replaced at every larger f
        previous = changed
    assert (noisy_labels(labels, 0.5, 3, 10) != noisy_labels(labels, 0.5, 4, 10)).any()


def test_chunk_size_is_the_configs_else_one_per_device_for_convolutions_on_cpu_else_memory():
    from mdl.sweep.runner import chunk_size

    config = SweepConfig(**CONFIG)
    # Memory-bound: a 1 KB point fits many times over, capped at the number of points.
    assert chunk_size(config, 7, 1024, 1) == 7
    assert chunk_size(config, 7, 1024, 4) == 8  # rounded up to a multiple of the devices
    assert chunk_size(config, 7, 1024, 2, one_point_per_device=True) == 2
    explicit = SweepConfig(**CONFIG, points_per_chunk=3)
    assert chunk_size(explicit, 7, 1024, 1, one_point_per_device=True) == 3
    assert chunk_size(explicit, 7, 1024, 2) == 4
