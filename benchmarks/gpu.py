"""mdl on an accelerator, as one short script: vmapped sweeps, the compressed training step and
a sweep end to end, on whatever ``jax.devices()`` offers.

    pip install -e .[gpu]
    python benchmarks/gpu.py [--smoke] [--epochs N] [--batch B] [--out FILE]

Sized for about five minutes on one modern GPU (the one-point-at-a-time arms take most of it and
scale with ``--epochs``; the estimate has not yet been checked on a GPU). ``--smoke`` runs on a
CPU in well under a minute and checks that the script works, not how fast anything is: tiny
sizes, and ``SMOKE_XLA_FLAGS`` added to ``$XLA_FLAGS``: XLA's backend optimizations off, so
compiling, nearly all of a smoke run, takes about a third of the time. Public API only.
Everything runs on the default device except the end-to-end sweep, which shards its points over
all devices as ``mdl.sweep`` does. Every timed region ends with ``jax.block_until_ready`` on its
results. Progress goes to stderr. What is timed:

* Sweep training program (``mlp_*``, ``convnet_*``): ``time_training`` of
  ``benchmarks/sweep.py``: 64 points (16 betas x 4 seeds; 1 with ``--smoke``) on the digits
  data, MLP 64-32-10 and ConvNet 4-8 with a learned spike-and-slab quantizer, Adam, batches of
  64, ``--epochs`` epochs (default 20; 1 with ``--smoke``). ``vmapped``: the points epoch of
  :mod:`mdl.engine` (what ``mdl.sweep`` compiles: one ``lax.scan`` per epoch; on a CPU a loop
  of steps for the ConvNet) on all points at once; ``sequential``: the same program on one point
  at a time. Each is compiled by one untimed epoch first; the figure is the best of 3 (1 with
  ``--smoke``) runs of all epochs, stacking the initial states on the host included.
  ``point_steps_per_s`` = points x epochs x steps per epoch / seconds.
* Training step (``lenet_300_100_*``, ``lenet5_*``): as ``benchmarks/train_step.py`` does it
  (its functions), the library's jitted step (``mdl.engine.make_step``, Adam, beta 1) with
  float32 parameters (``plain``) and with ``quantizer()`` (``compressed``) on one batch of
  ``--batch`` (default 1024; 8 with ``--smoke``) random MNIST-shaped inputs, compiled before
  timing. Five repeats, each one untimed step then 100 timed steps (1 with ``--smoke``),
  alternating between the two steps; the figure is the median of the five per-step times.
* End to end (``end_to_end_*``): one ``mdl.sweep.run`` of the MLP sweep above (same points and
  epochs, chunks as the sweep chooses them) into a temporary folder, in this process: wall
  seconds from the call to its return, compilation, evaluation and writing every point's model
  file and record included; ``end_to_end_points_per_s`` = points / those seconds.

Last line: JSON with the platform, device kind, jax version, device count and ``$XLA_FLAGS``
and every figure above (``--out FILE`` also writes it there, atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

import jax
import optax

# Siblings in benchmarks/ (on the path when this file runs as a script).
from sweep import MODELS, SEEDS, arm, time_training
from train_step import jitted_step, time_interleaved

from mdl.compress import float32_baseline, quantizer
from mdl.engine import init_state, optimizer_for
from mdl.models import lenet5, lenet_300_100
from mdl.params import split_params
from mdl.records import write_json_atomic

STEP_MODELS = {"lenet_300_100": lenet_300_100, "lenet5": lenet5}
STEP_REPEATS = 5
SMOKE_XLA_FLAGS = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")


def device_info() -> dict:
    devices = jax.devices()
    return {
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "jax_version": jax.__version__,
        "device_count": jax.device_count(),
        "devices": [str(d) for d in devices],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sweep_training(name: str, epochs: int, n_betas: int, seeds: tuple, repeats: int) -> dict:
    """Vmapped against one point at a time (see the module doc), with throughputs."""
    progress(f"sweep training program, {name}: vmapped, then one point at a time")
    seconds = time_training(epochs, n_betas, MODELS[name], repeats=repeats, seeds=seeds)
    point_steps = seconds["points"] * epochs * seconds["steps_per_epoch"]
    return {
        f"{name}_vmapped_seconds": seconds["vmapped"],
        f"{name}_sequential_seconds": seconds["sequential"],
        f"{name}_speedup": seconds["sequential"] / seconds["vmapped"],
        f"{name}_vmapped_point_steps_per_s": point_steps / seconds["vmapped"],
        f"{name}_sequential_point_steps_per_s": point_steps / seconds["sequential"],
        "sweep_points": seconds["points"],
        "sweep_steps_per_epoch": seconds["steps_per_epoch"],
    }


def step_times(name: str, batch: int, count: int, key) -> dict:
    """Median per-step seconds of the plain and the compressed step of one model."""
    progress(f"training step, {name}: plain and compressed")
    graphdef, params = split_params(STEP_MODELS[name]())
    x_key, y_key = jax.random.split(key)
    xb = jax.random.uniform(x_key, (batch, 28, 28))
    yb = jax.random.randint(y_key, (batch,), 0, 10)
    steps, carries = {}, {}
    for arm_name, compressor in (("plain", float32_baseline()), ("compressed", quantizer())):
        cstate = compressor.init(params, jax.random.key(0))
        optimizer = optimizer_for(compressor, params, cstate, optax.adam(1e-3))
        steps[arm_name] = jitted_step(graphdef, compressor, optimizer, 60_000)
        carries[arm_name] = init_state(params, cstate, optimizer)
    # One interleaved repeat per call (it runs an untimed step of each first), five calls.
    runs = [time_interleaved(steps, carries, xb, yb, count, 1) for _ in range(STEP_REPEATS)]
    plain = statistics.median(r["plain"] for r in runs)
    compressed = statistics.median(r["compressed"] for r in runs)
    return {
        f"{name}_plain_step_ms": 1e3 * plain,
        f"{name}_compressed_step_ms": 1e3 * compressed,
        f"{name}_slowdown": compressed / plain,
    }


def end_to_end(epochs: int, n_betas: int, seeds: tuple) -> dict:
    """One ``mdl.sweep.run`` of every point, in this process (see the module doc)."""
    progress("mdl.sweep.run end to end")
    with tempfile.TemporaryDirectory() as out:
        result = arm(0, epochs, n_betas, "mlp", out, seeds=seeds)
    return {
        "end_to_end_points": result["points"],
        "end_to_end_seconds": result["seconds"],
        "end_to_end_points_per_s": result["points"] / result["seconds"],
        "end_to_end_mean_test_error": result["mean_test_error"],
    }


def print_table(s: dict) -> None:
    print(
        f"mdl on {s['platform']} ({s['device_kind']}), {s['device_count']} device(s), "
        f"jax {s['jax_version']}"
    )
    print(
        f"\nsweep training program: {s['sweep_points']} points x {s['sweep_epochs']} epochs x "
        f"{s['sweep_steps_per_epoch']} steps, best of {s['sweep_repeats']}, compile excluded"
    )
    print(
        f"{'model':<10} {'vmapped s':>10} {'one-by-one s':>12} {'speedup':>8} "
        f"{'vmapped point-steps/s':>22} {'one-by-one point-steps/s':>25}"
    )
    for name in MODELS:
        print(
            f"{name:<10} {s[f'{name}_vmapped_seconds']:>10.3f} "
            f"{s[f'{name}_sequential_seconds']:>12.3f} {s[f'{name}_speedup']:>8.1f} "
            f"{s[f'{name}_vmapped_point_steps_per_s']:>22.3g} "
            f"{s[f'{name}_sequential_point_steps_per_s']:>25.3g}"
        )
    print(
        f"\ntraining step, batch {s['step_batch']}: median of {STEP_REPEATS} x "
        f"{s['step_count']} steps, compile excluded"
    )
    print(f"{'model':<14} {'plain ms':>10} {'compressed ms':>14} {'slowdown':>9}")
    for name in STEP_MODELS:
        print(
            f"{name:<14} {s[f'{name}_plain_step_ms']:>10.3f} "
            f"{s[f'{name}_compressed_step_ms']:>14.3f} {s[f'{name}_slowdown']:>9.2f}"
        )
    print(
        f"\nmdl.sweep.run end to end (MLP, {s['end_to_end_points']} points x "
        f"{s['sweep_epochs']} epochs; compile, evaluation and files included): "
        f"{s['end_to_end_seconds']:.1f} s, {s['end_to_end_points_per_s']:.2f} points/s, "
        f"mean test error {s['end_to_end_mean_test_error']:.3f}\n"
    )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a CPU")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of every sweep point")
    parser.add_argument("--batch", type=int, default=1024, help="training-step batch size")
    parser.add_argument("--out", help="also write the JSON to this file (atomically)")
    args = parser.parse_args(argv)
    if args.smoke:  # one point: its vmapped and sequential programs are one compilation
        # Set before the first computation initializes the backend (which reads the flags);
        # a flag already in $XLA_FLAGS (the test suite sets the first) keeps its value.
        flags = os.environ.get("XLA_FLAGS", "")
        flags += "".join(f" {f}" for f in SMOKE_XLA_FLAGS if f.split("=")[0] not in flags)
        os.environ["XLA_FLAGS"] = flags.strip()
        epochs, n_betas, seeds, repeats, batch, count = 1, 1, SEEDS[:1], 1, 8, 1
    else:
        epochs, n_betas, seeds, repeats, batch, count = args.epochs, 16, SEEDS, 3, args.batch, 100
    summary = device_info() | {
        "smoke": args.smoke,
        "sweep_epochs": epochs,
        "sweep_repeats": repeats,
        "step_batch": batch,
        "step_count": count,
    }
    for name in MODELS:
        summary |= sweep_training(name, epochs, n_betas, seeds, repeats)
    for i, name in enumerate(STEP_MODELS):
        summary |= step_times(name, batch, count, jax.random.key(i + 1))
    summary |= end_to_end(epochs, n_betas, seeds)
    print_table(summary)
    if args.out:
        write_json_atomic(args.out, summary)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
