"""MDL probing: Voita and Titov's schedule, control labels, and the online code on features
that hold the property against features that do not (and against the control task)."""

import importlib

import numpy as np
import pytest

from mdl.probe import control_labels, probe_code, voita_schedule


def test_voita_schedule_is_their_percentages():
    # 10,000 examples: 0.1% = 10, 0.2% = 20, ..., 6.25% = 625, ..., 100%
    assert voita_schedule(10_000) == (10, 20, 40, 80, 160, 320, 625, 1250, 2500, 5000, 10_000)
    assert voita_schedule(100) == (2, 3, 6, 12, 25, 50, 100)  # repeats dropped, first >= 2
    with pytest.raises(ValueError, match="at least 4"):
        voita_schedule(3)
    with pytest.raises(ValueError, match="increase"):
        voita_schedule(100, (1.0, 1.0, 50.0))


def test_control_labels_are_a_function_of_the_type():
    types = np.array(["a", "b", "a", "c", "b", "a"])
    labels = control_labels(types, 5, seed=3)
    assert labels[0] == labels[2] == labels[5] and labels[1] == labels[4]
    assert labels.dtype == np.int32 and labels.min() >= 0 and labels.max() < 5
    again = control_labels(types, 5, seed=3)
    assert np.array_equal(labels, again)


@pytest.fixture(scope="module")
def codes():
    """A property linear in the informative features, absent from noise features, and a
    control task of random labels per type (40 types), 1,200 examples."""
    rng = np.random.default_rng(0)
    n = 1200
    informative = rng.normal(size=(n, 8)).astype(np.float32)
    labels = (informative[:, 0] + informative[:, 1] > 0).astype(np.int32)
    noise = rng.normal(size=(n, 8)).astype(np.float32)
    types = rng.integers(0, 40, size=n)
    control = control_labels(types, 2, seed=0)
    options = dict(
        num_classes=2, learning_rate=3e-2, max_epochs=50, min_steps=50, eval_every=10, patience=5
    )
    return {
        "real": probe_code(informative, labels, **options),
        "noise": probe_code(noise, labels, **options),
        "control": probe_code(informative, control, **options),
        "n": n,
        "features": informative,
        "labels": labels,
        "options": options,
    }


def test_features_that_hold_the_property_code_it_shorter(codes):
    """Compared as Voita and Titov do, on the online codes' lengths (the files add the same
    fixed settings and framing to each)."""
    real, noise, control = (codes[k].details["ideal_bits"] for k in ("real", "noise", "control"))
    assert real < 0.5 * noise  # an informative layer against an uninformative one
    assert control > 2 * real  # selectivity > 0
    assert noise > 0.9 * codes["n"]  # about a bit a label: nothing to learn
    assert codes["real"].details["compression"] == pytest.approx(codes["n"] / real)
    for report in (codes["real"], codes["noise"], codes["control"]):
        assert report.total_bits >= report.details["ideal_bits"]


def test_the_probe_code_is_a_file_that_decodes(codes, tmp_path):
    prequential = importlib.import_module("mdl.estimators.prequential")
    path = tmp_path / "probe.preq"
    report = probe_code(codes["features"], codes["labels"], file=path, **codes["options"])
    assert 8 * path.stat().st_size == report.total_bits
    from mdl.models import MLP

    decoded = prequential.decode_prequential(
        path.read_bytes(), lambda rngs: MLP([8, 2], rngs=rngs), codes["features"]
    )
    assert np.array_equal(decoded, codes["labels"])
