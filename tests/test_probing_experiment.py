"""experiments.probing's smoke run (600 images): the issue's acceptance in small. A trained
network's layers code the digit in fewer bits than the same layers at random initialization,
the shared input layer codes it identically, and every control code is longer than its real
one (selectivity > 0)."""

import pytest


def test_trained_layers_code_the_digit_shorter_and_control_tasks_longer(
    tmp_path, mnist_dir, kjv_path
):
    from experiments.probing import LAYERS, main

    argv = ["--smoke", "--data-root", str(mnist_dir), "--text", str(kjv_path)]
    summary = main([*argv, "--out", str(tmp_path)])
    layers = summary["layers"]
    input_codes = [layers["input"][net]["real"]["ideal_bits"] for net in ("trained", "random")]
    assert input_codes[0] == pytest.approx(input_codes[1])  # the same pixels, the same code
    for name in LAYERS[1:]:
        trained, random = layers[name]["trained"], layers[name]["random"]
        assert trained["real"]["ideal_bits"] < random["real"]["ideal_bits"], name
    for name in LAYERS:
        for net in ("trained", "random"):
            row = layers[name][net]
            assert row["control"]["ideal_bits"] > row["real"]["ideal_bits"], (name, net)
            assert summary["selectivity"][name][net] == pytest.approx(
                row["control"]["ideal_bits"] - row["real"]["ideal_bits"]
            )
    # the character model's word-prefix control is longer than the word boundary, too
    for layer, networks in summary["char_model"]["selectivity"].items():
        for net, selectivity in networks.items():
            assert selectivity > 0, (layer, net)


def test_the_committed_run_meets_the_acceptance():
    """The committed full run: trained layers (convnet blocks and the character GRU) code
    their property shorter than at initialization, and every control code (the convnet's
    random labels per image, the character model's per word prefix) is longer than the real
    one: selectivity > 0. The per-character control, kept for the record, is not."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    summary = json.loads((root / "experiments/results/probing/summary.json").read_text())
    for name in ("conv1", "conv2", "logits"):
        row = summary["layers"][name]
        assert row["trained"]["real"]["ideal_bits"] < row["random"]["real"]["ideal_bits"]
        for net in ("trained", "random"):
            assert row[net]["control"]["ideal_bits"] > row[net]["real"]["ideal_bits"]
    gru = summary["char_model"]["layers"]["gru"]
    assert gru["trained"]["real"]["ideal_bits"] < gru["random"]["real"]["ideal_bits"]
    assert gru["trained"]["control_character"]["ideal_bits"] < gru["trained"]["real"]["ideal_bits"]
    for layer, networks in summary["char_model"]["layers"].items():
        for net, row in networks.items():
            selectivity = summary["char_model"]["selectivity"][layer][net]
            assert selectivity == pytest.approx(
                row["control"]["ideal_bits"] - row["real"]["ideal_bits"]
            )
            assert selectivity > 0, (layer, net)
