"""LeNet-300-100 and LeNet-5 on MNIST, compressed to a real file, settings chosen on validation.

    python -m experiments.lenet_compression [--smoke] [--out DIR] [--data-root DIR] [--models ...]

Each network is trained from scratch on the objective data bits + beta x model bits
(``mdl.train.fit``), every tensor quantized with a learned step and a learned spike-and-slab
Laplace prior (``mdl.compress.quantizer``), then written with
``mdl.compress.save_compressed``. The reported size is the file's: 8 x bytes, headers and all.

**Validation protocol.** The 60,000 training images are split 54,000 / 6,000
(`mdl.data.validation_split`, seed 0). Every beta of ``GRID`` is trained on the 54,000 and its
*decoded file* measured on the 6,000; the rule, fixed in ``GRID`` before the run, picks the
smallest file whose validation error is at most the model's error target (the issue's: 2.0%
for LeNet-300-100, 1.0% for LeNet-5), or, if none reaches it, the lowest validation error. The
test set is read once, after that choice, for the chosen file only: the search is given the
split data set, which does not hold it. (Before this protocol the betas and epochs were tuned
while looking at test error; the grid holds those values, and the choice among them is now
made on validation.) The reported network is the one trained on 54,000 images.

``summary.json`` holds, under ``lenet_300_100`` and ``lenet5``: ``file_bytes``, ``ratio``
(float32 bytes / file bytes), ``test_error``, ``validation_error``, ``sparsity`` (fraction of
exactly-zero weights), ``model_file`` (relative to DIR), ``beta`` and ``candidates`` (every
grid point: beta, file_bytes, ratio, validation_error, train_error, history). A rerun resumes:
grid points already in DIR's summary (same settings) are not trained again.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from experiments.harness import experiment_parser, smoke_subset, write_summary
from mdl.compress import load_compressed, quantizer, save_compressed, split_params
from mdl.cosine_adam import cosine_adam
from mdl.data import load, validation_split
from mdl.inference import evaluate, evaluate_model
from mdl.models import lenet5, lenet_300_100, parameter_count
from mdl.train import fit

PUBLISHED = {  # (method, compression ratio, test error)
    "lenet_300_100": [
        ("Deep Compression (Han et al. 2016)", 40, 0.0158),
        ("Soft weight-sharing (Ullrich et al. 2017)", 64, 0.0194),
    ],
    "lenet5": [
        ("Deep Compression (Han et al. 2016)", 39, 0.0074),
        ("Soft weight-sharing (Ullrich et al. 2017)", 162, 0.0097),
    ],
}
VALIDATION_FRACTION = 0.1
# Written down on 2026-12-06, before the validation-protocol run: the betas to compare (each
# holds the value tuned earlier on test error, and a neighbour on each side where the compute
# allowed it: a LeNet-5 point costs about 20 minutes on 2 cores), the fixed epochs and
# learning rate, and the validation error target of the selection rule.
GRID = {
    "lenet_300_100": {
        "build": lenet_300_100,
        "epochs": 40,
        "learning_rate": 2e-3,
        "betas": (0.15, 0.3, 0.6),
        "error_target": 0.02,
    },
    "lenet5": {
        "build": lenet5,
        "epochs": 20,
        "learning_rate": 1e-3,
        "betas": (0.15, 0.3),
        "error_target": 0.01,
    },
}


NAMES = {"lenet_300_100": "LeNet-300-100", "lenet5": "LeNet-5"}


def results_table(summary: dict) -> str:
    """experiments/lenet_compression.md's table: the published methods (``PUBLISHED``, from
    the papers) and this run's chosen file per model."""
    from experiments.pages import markdown_table

    rows = []
    for name in GRID:
        for method, ratio, error in PUBLISHED[name]:
            rows.append([NAMES[name], method, f"{ratio}x", f"{100 * error:.2f}%", "", ""])
        row = summary[name]
        rows.append(
            [
                NAMES[name],
                "**mdl, this run (real file)**",
                f"**{row['ratio']:.1f}x**",
                f"**{100 * row['test_error']:.2f}%**",
                f"{100 * row['sparsity']:.1f}%",
                f"{row['file_bytes']:,} bytes",
            ]
        )
    header = ["model", "method", "ratio vs float32", "test error", "sparsity", "file"]
    return markdown_table(header, rows)


def candidates_table(summary: dict) -> str:
    """Every grid point's file and validation figures; the chosen one in bold."""
    from experiments.pages import markdown_table

    rows = []
    for name in GRID:
        row = summary[name]
        for c in row["candidates"]:
            bold = "**" if c["beta"] == row["beta"] else ""
            rows.append(
                [
                    NAMES[name],
                    f"{bold}{c['beta']:g}{bold}",
                    f"{c['file_bytes']:,}",
                    f"{c['ratio']:.1f}x",
                    f"{bold}{100 * c['validation_error']:.2f}%{bold}",
                    f"{100 * c['train_error']:.2f}%",
                    f"{c['seconds']:,.0f}",
                ]
            )
    header = [
        "model",
        "beta",
        "file (bytes)",
        "ratio",
        "validation error",
        "train error",
        "seconds",
    ]
    return markdown_table(header, rows)


def train_candidate(
    name: str, search, beta: float, epochs: int, out: Path, seed: int, progress: bool
) -> dict:
    """Train one grid point on ``search``'s training part, write its file and measure the
    decoded file on ``search``'s held-out part (the validation split; never the test set)."""
    settings = GRID[name]
    model = settings["build"](seed=seed)
    compressor = quantizer(lambda path, leaf: True, prior="spike_laplace")
    started = time.perf_counter()
    lr = settings["learning_rate"]
    result = fit(
        model,
        search,
        compressor=compressor,
        optimizer=cosine_adam(lr, epochs=epochs, examples=len(search.x_train)),
        epochs=epochs,
        batch_size=128,
        beta=beta,
        warmup_fraction=0.5,
        key=jax.random.key(seed),
        eval_every=max(1, epochs // 4),
        progress=progress,
    )
    path = out / f"{name}_beta{beta:g}.mdl"
    file_bytes = save_compressed(path, result.model, compressor, result.cstate)
    decoded = load_compressed(path)
    _, validation_error = evaluate_model(decoded, search.x_test, search.y_test)
    _, train_error = evaluate_model(decoded, search.x_train, search.y_train)
    history = [
        {("validation" + k[4:] if k.startswith("test") else k): v for k, v in row.items()}
        for row in result.history
    ]
    return {
        "beta": beta,
        "epochs": epochs,
        "learning_rate": lr,
        "file_bytes": file_bytes,
        "model_file": path.name,
        "validation_error": validation_error,
        "train_error": train_error,
        "seconds": time.perf_counter() - started,
        "history": history,
    }


def choose(candidates: list[dict], error_target: float) -> dict:
    """The selection rule, on validation figures only: the smallest file whose validation
    error is at most ``error_target``; if none reaches it, the lowest validation error."""
    reaching = [c for c in candidates if c["validation_error"] <= error_target]
    if reaching:
        return min(reaching, key=lambda c: (c["file_bytes"], c["validation_error"]))
    return min(candidates, key=lambda c: (c["validation_error"], c["file_bytes"]))


def run_one(name: str, data, search, epochs: int, out: Path, seed: int, previous, progress):
    """Every grid point (resuming from ``previous``), the choice, then the one test read."""
    settings = GRID[name]
    done = {c["beta"]: c for c in (previous or {}).get("candidates", []) if c["epochs"] == epochs}
    candidates = []
    for beta in settings["betas"]:
        candidate = done.get(beta)
        if candidate is None or not (out / candidate["model_file"]).exists():
            candidate = train_candidate(name, search, beta, epochs, out, seed, progress)
        candidates.append(candidate)
        yield {"candidates": candidates}  # the caller saves progress after every grid point
    chosen = choose(candidates, settings["error_target"])
    path = out / f"{name}.mdl"
    shutil.copyfile(out / chosen["model_file"], path)
    # The test set, read once, after the choice: the chosen file only.
    decoded = load_compressed(path)
    graphdef, weights = split_params(decoded)
    _, test_error = evaluate(graphdef, weights, data.x_test, data.y_test)
    leaves = jax.tree.leaves(weights)
    zeros = sum(int(np.sum(np.asarray(leaf) == 0)) for leaf in leaves)
    count = parameter_count(decoded)
    yield {
        "file_bytes": chosen["file_bytes"],
        "ratio": 4 * count / chosen["file_bytes"],
        "test_error": test_error,
        "validation_error": chosen["validation_error"],
        "train_error": chosen["train_error"],
        "sparsity": zeros / count,
        "parameters": count,
        "model_file": path.name,
        "epochs": epochs,
        "beta": chosen["beta"],
        "learning_rate": chosen["learning_rate"],
        "error_target": settings["error_target"],
        "selection": "smallest file with validation error <= error_target, else lowest "
        "validation error; test read once, after the choice",
        "train_examples": len(search.y_train),
        "validation_examples": len(search.y_test),
        "seconds": sum(c["seconds"] for c in candidates),
        "candidates": [{**c, "ratio": 4 * count / c["file_bytes"]} for c in candidates],
    }


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(
        __doc__, "lenet_compression", smoke="2,000 examples, 1 epoch each", data_root=True
    )
    parser.add_argument("--models", nargs="+", choices=list(GRID), default=list(GRID))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = load("mnist", root=args.data_root)
    if args.smoke:
        data = smoke_subset(data)
    args.out.mkdir(parents=True, exist_ok=True)
    # Models run separately (--models) add to the summary instead of erasing the others.
    summary_path = args.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary.pop("provenance", None)  # rewritten below
    # The search sees the split data set only; ``data`` keeps the test set for the one read.
    search = validation_split(data, VALIDATION_FRACTION, seed=0)
    for name in args.models:
        epochs = 1 if args.smoke else GRID[name]["epochs"]
        previous = summary.get(name)
        progress = run_one(
            name, data, search, epochs, args.out, args.seed, previous, not args.smoke
        )
        for row in progress:
            summary[name] = row
            write_summary(args.out, summary, start)

    print(
        f"{'model':15} {'method':45} {'ratio':>8} {'test error':>10} {'sparsity':>9} {'bytes':>8}"
    )
    for name, row in summary.items():
        if name not in PUBLISHED or "ratio" not in row:  # not run, or interrupted
            continue
        for method, ratio, error in PUBLISHED[name]:
            print(f"{name:15} {method:45} {ratio:7.0f}x {error:10.2%} {'':>9} {'':>8}")
        print(
            f"{name:15} {'mdl (this run, real file)':45} {row['ratio']:7.1f}x "
            f"{row['test_error']:10.2%} {row['sparsity']:9.1%} {row['file_bytes']:8d}"
        )
    print(
        json.dumps(
            {
                k: {f: v[f] for f in ("file_bytes", "ratio", "test_error", "sparsity")}
                for k, v in summary.items()
                if k in GRID and "ratio" in v
            }
        )
    )
    return summary


if __name__ == "__main__":
    main()
