"""Does knowledge distillation move the file-size / test-error front of compressed students?

    python -m experiments.distillation [--smoke] [--out DIR] [--data-root DIR]

A LeNet-5 teacher is trained on MNIST with cross-entropy (float32, ``TEACHER_EPOCHS`` epochs,
Adam 1e-3). Students are small convnets (`mdl.models.ConvNet([c, 2c], input_pool=2)`, c in
``STUDENT_CHANNELS``), each trained twice by one recipe (``STUDENT_EPOCHS`` epochs, Adam with
cosine decay from 3e-3, data bits + beta x model bits with beta 1 warmed up over the first
half, every tensor quantized with a learned spike-and-slab prior): once on the labels alone
(``alpha = 0``, which is `mdl.train.fit`) and once distilled (`mdl.distill.distill`,
``alpha = ALPHA``, temperature ``TEMPERATURE``). Every student is written to a real file; its
test error is that of the model decoded from the file, and its two-part code (structure +
model file + labels file) involves no teacher: the teacher is a training aid, not part of the
code.

All settings are fixed here in advance (no choice is made, so no validation split is needed);
the test set is read once per student, after training. ``summary.json``: ``teacher``
(``test_error``, ``seconds``), ``students`` (one row per channel count and alpha:
``file_bytes``, ``test_error``, ``train_error``, ``two_part_bits``, ``seconds``) and
``helps`` (per channel count: whether distillation gave a lower test error, and a shorter
two-part code). The figure ``pareto.png`` plots test error against file size for both.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import optax
from flax import nnx

from experiments.harness import experiment_parser, smoke_subset, write_summary
from mdl.compress import load_compressed, quantizer, save_compressed
from mdl.cosine_adam import cosine_adam
from mdl.data import load, without_test
from mdl.distill import distill
from mdl.estimators import two_part
from mdl.inference import evaluate_model
from mdl.models import ConvNet, lenet5
from mdl.train import fit

TEACHER_EPOCHS = 5
STUDENT_CHANNELS = (16, 8, 4, 2)
STUDENT_EPOCHS = 30
ALPHA = 0.5
TEMPERATURE = 4.0


def train_student(data, channels: int, alpha: float, teacher, epochs: int, out: Path) -> dict:
    """One student by the fixed recipe; its file, decoded file's errors and two-part code."""
    started = time.perf_counter()
    model = ConvNet([channels, 2 * channels], input_pool=2, rngs=nnx.Rngs(0))
    compressor = quantizer(lambda path, leaf: True, prior="spike_laplace")
    options = dict(
        compressor=compressor,
        optimizer=cosine_adam(3e-3, epochs=epochs, examples=len(data.y_train)),
        epochs=epochs,
        batch_size=128,
        beta=1.0,
        warmup_fraction=0.5,
        key=jax.random.key(0),
        eval_every=epochs,
        progress=False,
    )
    train = without_test(data)  # training sees no test example
    if alpha == 0:
        result = fit(model, train, **options)
    else:
        result = distill(model, teacher, train, alpha=alpha, temperature=TEMPERATURE, **options)
    path = out / f"student_c{channels}_alpha{alpha:g}.mdl"
    file_bytes = save_compressed(path, result.model, compressor, result.cstate)
    report = two_part(
        result.model, data.x_train, data.y_train, compressor=compressor, cstate=result.cstate
    )
    decoded = load_compressed(path)
    _, train_error = evaluate_model(decoded, data.x_train, data.y_train)
    _, test_error = evaluate_model(decoded, data.x_test, data.y_test)  # the one test read
    return {
        "channels": channels,
        "alpha": alpha,
        "file_bytes": file_bytes,
        "model_file": path.name,
        "two_part_bits": report.total_bits,
        "two_part_parts": report.parts,
        "train_error": train_error,
        "test_error": test_error,
        "seconds": time.perf_counter() - started,
    }


def students_table(summary: dict) -> str:
    """experiments/distillation.md: every student, plain and distilled."""
    from experiments.pages import markdown_table

    rows = [
        [
            f"[{r['channels']}, {2 * r['channels']}]",
            f"{r['alpha']:g}",
            f"{r['file_bytes']:,}",
            f"{100 * r['test_error']:.2f}%",
            f"{100 * r['train_error']:.2f}%",
            f"{r['two_part_bits']:,.0f}",
            f"{r['seconds']:,.0f}",
        ]
        for r in summary["students"]
    ]
    header = [
        "student channels",
        "alpha",
        "file (bytes)",
        "test error",
        "train error",
        "two-part bits",
        "seconds",
    ]
    return markdown_table(header, rows)


def plot_front(summary: dict, path: Path) -> None:
    """Test error against file size, plain and distilled students."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window; set here, not at import
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    for alpha, label, marker in ((0.0, "labels only", "o"), (ALPHA, "distilled", "s")):
        rows = sorted(
            (r for r in summary["students"] if r["alpha"] == alpha), key=lambda r: r["file_bytes"]
        )
        ax.plot(
            [r["file_bytes"] for r in rows],
            [100 * r["test_error"] for r in rows],
            marker=marker,
            label=f"{label} (alpha {alpha:g})",
        )
        for r in rows:
            ax.annotate(f"c={r['channels']}", (r["file_bytes"], 100 * r["test_error"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("student file (bytes)")
    ax.set_ylabel("test error (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(
        __doc__, "distillation", smoke="2,000 images, 1 epoch, 2 students", data_root=True
    )
    args = parser.parse_args(argv)
    data = load("mnist", root=args.data_root)
    teacher_epochs, student_epochs, channels = TEACHER_EPOCHS, STUDENT_EPOCHS, STUDENT_CHANNELS
    if args.smoke:
        data = smoke_subset(data)
        teacher_epochs, student_epochs, channels = 1, 1, (4, 2)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    teacher = fit(
        lenet5(seed=0),
        without_test(data),
        optimizer=optax.adam(1e-3),
        epochs=teacher_epochs,
        batch_size=128,
        progress=not args.smoke,
    ).model
    _, teacher_error = evaluate_model(teacher, data.x_test, data.y_test)
    summary = {
        "teacher": {
            "model": "LeNet-5, float32, cross-entropy",
            "epochs": teacher_epochs,
            "test_error": teacher_error,
            "seconds": time.perf_counter() - started,
        },
        "alpha": ALPHA,
        "temperature": TEMPERATURE,
        "student_epochs": student_epochs,
        "students": [],
        "smoke": args.smoke,
    }
    for c in channels:
        for alpha in (0.0, ALPHA):
            summary["students"].append(
                train_student(data, c, alpha, teacher, student_epochs, args.out)
            )
            write_summary(args.out, summary, start)
    by = {(r["channels"], r["alpha"]): r for r in summary["students"]}
    summary["helps"] = {
        str(c): {
            "lower_test_error": by[c, ALPHA]["test_error"] < by[c, 0.0]["test_error"],
            "shorter_two_part": by[c, ALPHA]["two_part_bits"] < by[c, 0.0]["two_part_bits"],
        }
        for c in channels
    }
    write_summary(args.out, summary, start)
    plot_front(summary, args.out / "pareto.png")
    for r in summary["students"]:
        print(
            f"c={r['channels']:3d} alpha={r['alpha']:.1f} file {r['file_bytes']:7,d} B "
            f"test error {r['test_error']:.2%} two-part {r['two_part_bits']:,.0f} bits"
        )
    print(json.dumps({"teacher_test_error": teacher_error, "helps": summary["helps"]}))
    return summary


if __name__ == "__main__":
    main()
