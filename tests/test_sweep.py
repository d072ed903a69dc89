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
from mdl.compress.files import split_params
from mdl.data import load
from mdl.records import read_records
from mdl.sweep import RECORD_KEYS, ConfigMismatchError, SweepConfig, run
from mdl.train import evaluate

from .conftest import REPO

# Small and quick: 3 betas x 2 seeds of a 64-16-10 MLP on 512 digits, 3 epochs.
CONFIG = dict(hidden=[16], betas=[0.01, 0.3, 3.0], seeds=[0, 1], epochs=3, max_train=512)


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
    assert [(r["beta"], r["seed"]) for r in records] == config.points()
    assert len(read_records(out)) == len(config.points())
    data = load("digits")
    for record in records:
        assert set(RECORD_KEYS) <= set(record)
        path = out / record["model_file"]
        assert record["model_file_bits"] == 8 * path.stat().st_size
        # Independent check of the recorded errors: decode the file and evaluate it afresh.
        model = load_compressed(path)
        graphdef, weights = split_params(model)
        test_bits, test_error = evaluate(graphdef, weights, data.x_test, data.y_test)
        assert test_error == pytest.approx(record["test_error"], abs=1e-9)
        assert test_bits == pytest.approx(record["test_data_bits"], rel=1e-4)
        assert record["gap"] == pytest.approx(record["test_error"] - record["train_error"])
        assert 0 <= record["sparsity"] <= 1
        # The bound is the kl inverse: kl(train error || bound) = complexity / m (in bits).
        complexity = (record["bound_code_bits"] + np.log2(1 / config.delta)) / record["n_train"]
        assert record["bound_code_bits"] == record["model_file_bits"] + np.log2(6)
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
    import mdl.sweep

    def no_training(*args, **kwargs):
        raise AssertionError("a finished sweep must not load data or train again")

    monkeypatch.setattr(mdl.sweep, "load", no_training)
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
        ({"prior": "cauchy"}, "prior must be one of"),
        ({"delta": 1.5}, r"delta must be in \(0, 1\)"),
        ({"betas": "0.1"}, "betas must be a list"),
    ],
)
def test_bad_configs_are_refused_with_the_option_named(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SweepConfig(**options)


def test_toml_config_and_unknown_options(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text("[sweep]\nbetas = [0.1, 1.0]\nseeds = [3]\nhidden = [8, 8]\n")
    config = SweepConfig.from_toml(path, epochs=2)
    assert config.betas == (0.1, 1.0) and config.seeds == (3,) and config.hidden == (8, 8)
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
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"},
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
    # One point per chunk, more epochs: the sweep is killed while points remain.
    settings = config.to_dict() | {"points_per_chunk": 1, "epochs": 12}
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


def test_a_failed_start_leaves_no_manifest_to_block_the_corrected_config(tmp_path):
    with pytest.raises(ValueError, match="sweeps train classifiers"):
        run(SweepConfig.smoke(data="anbn"), tmp_path, progress=False)
    assert not (tmp_path / "manifest.json").exists()
    with pytest.raises(ValueError, match="batch_size 128 exceeds the 100 training examples"):
        run(SweepConfig.smoke(max_train=100), tmp_path, progress=False)
    assert not (tmp_path / "manifest.json").exists()
