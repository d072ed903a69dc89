"""experiments.probing's smoke run (600 images): the issue's acceptance in small. A trained
network's layers code the digit in fewer bits than the same layers at random initialization,
the shared input layer codes it identically, and every control code is longer than its real
one (selectivity > 0)."""

import pytest


def test_trained_layers_code_the_digit_shorter_and_control_tasks_longer(tmp_path, mnist_dir):
    from experiments.probing import LAYERS, main

    summary = main(["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path)])
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
