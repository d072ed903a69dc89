"""MDL probing of a trained convnet's and a character model's layers, against the same
networks at random initialization.

    python -m experiments.probing [--smoke] [--examples N] [--text PATH] [--out DIR]
        [--data-root DIR]

The character-model part (`probe_char_model`): a `CharRNN` trained on the start of the King
James Bible (``TEXT``) and probed, at each position of held-out windows, for "the next
character is a space", with a random label per word prefix as its control (and, kept for
the record, one per current character: ``control_character``).

The network is the MNIST bound experiment's committed model
(``experiments/results/mnist_bound/model.mdl``, a `mdl.models.ConvNet([8, 16], input_pool=2)`
trained on its two-part code), decoded from its file; the random network is the same
architecture at its seed-0 initialization. For each layer (`ConvNet.layer_outputs`: the pooled
input, the two convolution blocks, the logits) and each network, `mdl.probe.probe_code` gives
the online code length of

* the **real task**: the digit, given the layer's features;
* the **control task** (Hewitt and Liang 2019): a random label per input *type*. An image has
  no type shared with other images, so each image is its own type and the control labels are
  random: learnable only by memorizing, which an online code cannot do. Selectivity is the
  control code minus the real one.

The probed examples are the first ``--examples`` MNIST training images (never the test set;
the trained network saw them, which is what probing a trained network's representation
means). The probe is linear, trained on each block with Adam (settings in ``PROBE``, fixed in
advance). ``summary.json``: ``layers`` (name -> network -> task -> ``bits``, ``ideal_bits``,
``compression``), ``selectivity`` (name -> network -> control minus real, ideal bits), and
``char_model`` (the same for the character model, with ``symbols``, ``positions`` and
``space_share``).

Voita and Titov, "Information-theoretic probing with minimum description length", EMNLP 2020.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from experiments.harness import experiment_parser, write_summary
from mdl.compress import load_compressed
from mdl.data import load, without_test
from mdl.models import CharRNN, ConvNet
from mdl.probe import control_labels, probe_code
from mdl.train import fit

ROOT = Path(__file__).resolve().parent.parent
TRAINED = ROOT / "experiments" / "results" / "mnist_bound" / "model.mdl"
LAYERS = ("input", "conv1", "conv2", "logits")
CHAR_LAYERS = ("embedding", "gru")
# The character model: the first 400,000 characters of kjv.txt, windows of 64, 2 epochs of
# Adam 3e-3; probed on 300 validation windows (19,200 positions). Fixed before the run.
TEXT = (400_000, 64, 2, 300)
PROBE = {"learning_rate": 1e-2, "max_epochs": 30, "min_steps": 50, "eval_every": 20, "patience": 5}


def networks() -> dict[str, ConvNet]:
    """The trained network (decoded from its committed file) and the same architecture at
    its seed-0 initialization."""
    random = ConvNet([8, 16], input_pool=2, image_shape=(28, 28), rngs=nnx.Rngs(0))
    trained = load_compressed(
        TRAINED, ConvNet([8, 16], input_pool=2, image_shape=(28, 28), rngs=nnx.Rngs(0))
    )
    return {"trained": trained, "random": random}


def features(model: ConvNet, x: np.ndarray, chunk: int = 2000) -> list[np.ndarray]:
    """Every layer's features on ``x``, computed in chunks."""
    parts = [
        model.layer_outputs(jnp.asarray(x[i : i + chunk], jnp.float32))
        for i in range(0, len(x), chunk)
    ]
    return [np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(LAYERS))]


def _layers_table(part: dict, names, property_name: str) -> str:
    """Per layer and network: the online codes (ideal bits) of the property and of the
    control task, their difference and the property's compression."""
    from experiments.pages import markdown_table

    rows = []
    for name in names:
        for network in ("trained", "random"):
            row = part["layers"][name][network]
            rows.append(
                [
                    name,
                    network,
                    f"{row['real']['ideal_bits']:,.0f}",
                    f"{row['real']['compression']:.2f}",
                    f"{row['control']['ideal_bits']:,.0f}",
                    f"{part['selectivity'][name][network]:,.0f}",
                ]
            )
    header = [
        "layer",
        "network",
        f"{property_name}: online code (bits)",
        "compression",
        "control: online code (bits)",
        "selectivity (bits)",
    ]
    return markdown_table(header, rows)


def probing_table(summary: dict) -> str:
    """experiments/probing.md: the convnet's layers, for the digit."""
    return _layers_table(summary, LAYERS, "digit")


def probe_layers(features_of: dict, names, tasks: dict, num_classes: int):
    """``(layers, selectivity)``: for each network (``features_of``: network -> its layers'
    features, in the order of ``names``), each layer and each task (``tasks``: ``"real"`` and
    ``"control"`` -> labels), the probe's online code; selectivity is control minus real, in
    ideal bits."""
    layers, selectivity = {}, {}
    for network, feature_list in features_of.items():
        for name, feats in zip(names, feature_list, strict=True):
            row = {}
            for task, labels in tasks.items():
                report = probe_code(feats, labels, num_classes=num_classes, seed=0, **PROBE)
                row[task] = {
                    "bits": report.total_bits,
                    "ideal_bits": report.details["ideal_bits"],
                    "compression": report.details["compression"],
                }
            layers.setdefault(name, {})[network] = row
            selectivity.setdefault(name, {})[network] = (
                row["control"]["ideal_bits"] - row["real"]["ideal_bits"]
            )
    return layers, selectivity


def char_model_layers(model: CharRNN, x: np.ndarray) -> list[np.ndarray]:
    """A character GRU's features at every position of the windows ``x`` ``[n, T]``: the
    current character's embedding and the GRU's state after it, flattened to ``[n T, d]``."""
    embedded = model.embed(jnp.asarray(x))
    carry = jnp.zeros((*embedded.shape[:-2], model.hidden), embedded.dtype)
    states = model.rnn(embedded, initial_carry=carry)
    return [np.asarray(a).reshape(-1, a.shape[-1]) for a in (embedded, states)]


def word_prefix_types(x: np.ndarray, alphabet, space: int) -> np.ndarray:
    """The type of every position of the windows ``x`` ``[n, T]``: the word so far (the
    characters since the last space, the current one included; a space is its own type).
    Hewitt and Liang's control tasks give a random label per *word* type; the property "the
    next character is a space" is a function of the same prefix, so a probe can pass the
    control only by memorizing thousands of random prefix labels."""
    types = []
    for row in np.asarray(x):
        prefix = ""
        for symbol in row:
            prefix = " " if symbol == space else prefix.lstrip(" ") + alphabet[symbol]
            types.append(prefix)
    return np.asarray(types, dtype=object)


def probe_char_model(kjv: str, smoke: bool) -> dict:
    """The character model part: a CharRNN trained on the start of the KJV (``TEXT``
    settings, fixed in advance) and the same network at initialization; at each position of
    the valid windows, does the *next* character start a word (is it a space)? The control
    task gives each word prefix (`word_prefix_types`) a random label; a second control,
    ``control_character``, gives each current character one (the first run's control, which
    a probe memorizes from few examples)."""
    symbols, context, epochs, windows = (20_000, 32, 1, 40) if smoke else TEXT
    data = load("text", path=kjv, context=context, max_symbols=symbols)
    alphabet = data.extras["alphabet"]
    space = alphabet.index(" ")
    train = without_test(data)  # no test read
    trained = fit(
        CharRNN(data.num_classes, embed_dim=16, hidden=64, rngs=nnx.Rngs(0)),
        train,
        optimizer=optax.adam(3e-3),
        epochs=epochs,
        batch_size=32,
        progress=False,
    ).model
    random = CharRNN(data.num_classes, embed_dim=16, hidden=64, rngs=nnx.Rngs(0))
    x = data.extras["x_valid"][:windows]
    y = data.extras["y_valid"][:windows]
    real = (y.reshape(-1) == space).astype(np.int32)
    prefixes = word_prefix_types(x, alphabet, space).astype(str)
    control = control_labels(prefixes, 2, seed=0)
    per_character = control_labels(x.reshape(-1), 2, seed=0)
    result, selectivity = probe_layers(
        {
            network: char_model_layers(model, x)
            for network, model in (("trained", trained), ("random", random))
        },
        CHAR_LAYERS,
        {"real": real, "control": control, "control_character": per_character},
        num_classes=2,
    )
    return {
        "control_types": int(np.unique(prefixes).size),
        "symbols": symbols,
        "positions": int(real.size),
        "space_share": float(real.mean()),
        "layers": result,
        "selectivity": selectivity,
    }


def char_table(summary: dict) -> str:
    """experiments/probing.md: the character model's layers, for the word boundary."""
    return _layers_table(summary["char_model"], CHAR_LAYERS, "next is a space")


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(__doc__, "probing", smoke="600 images", data_root=True)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--text", default="text/kjv.txt", help="the KJV (under $MDL_DATA)")
    args = parser.parse_args(argv)
    n = 600 if args.smoke else args.examples
    data = load("mnist", root=args.data_root)
    x, y = data.x_train[:n], data.y_train[:n]
    control = control_labels(np.arange(n), 10, seed=0)  # each image its own type
    layers, selectivity = probe_layers(
        {network: features(model, x) for network, model in networks().items()},
        LAYERS,
        {"real": y, "control": control},
        num_classes=10,
    )
    summary = {
        "char_model": probe_char_model(args.text, args.smoke),
        "examples": n,
        "layers": layers,
        "selectivity": selectivity,
        "probe": PROBE,
        "trained_model": str(TRAINED.relative_to(ROOT)),
        "smoke": args.smoke,
    }
    write_summary(args.out, summary, start)
    for name in LAYERS:
        for network in ("trained", "random"):
            row = layers[name][network]
            print(
                f"{name:7} {network:8} real {row['real']['ideal_bits']:9,.0f} bits  control "
                f"{row['control']['ideal_bits']:9,.0f}  "
                f"selectivity {selectivity[name][network]:9,.0f}"
            )
    print(json.dumps({"selectivity": selectivity}))
    return summary


if __name__ == "__main__":
    main()
