"""A 64-point sweep as one vmapped program against the same 64 trainings one after another.

    python benchmarks/sweep.py [--smoke] [--epochs N]

The sweep: the built-in digits data, MLP 64-32-10 quantized with a learned spike-and-slab
prior, 16 betas x 4 seeds, Adam, batches of 64; every point gets the same epochs, batches and
steps in both arms.

* Training program (``speedup``): in this process, the compiled epoch of ``mdl.sweep`` run on
  all 64 points at once (vmapped, leading axis 64) against the same compiled epoch on one point
  at a time, 64 times; both compiled before timing; best of 3.
* End to end (``end_to_end_speedup``): ``mdl.sweep.run`` with ``points_per_chunk=64`` against
  ``points_per_chunk=1``, each in a fresh process (so each compiles once and its peak resident
  memory is its own), including compilation, evaluation and writing 64 model files.
  ``peak_memory_mb`` is the vmapped run's peak resident set size.

Last line: JSON with ``speedup`` and ``peak_memory_mb`` and the figures behind them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

BETAS = tuple(float(b) for b in np.geomspace(1e-3, 10, 16))
SEEDS = (0, 1, 2, 3)


def arm(points_per_chunk: int, epochs: int, n_betas: int, out: str) -> dict:
    from mdl.sweep import SweepConfig, run

    config = SweepConfig(
        betas=BETAS[:n_betas], seeds=SEEDS, epochs=epochs, points_per_chunk=points_per_chunk
    )
    start = time.perf_counter()
    records = run(config, out, progress=False)
    seconds = time.perf_counter() - start
    return {
        "points": len(records),
        "seconds": seconds,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mean_test_error": float(np.mean([r["test_error"] for r in records])),
        "devices": [str(d) for d in jax.devices()],
    }


def run_arm(points_per_chunk: int, epochs: int, n_betas: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, __file__, "--arm", str(points_per_chunk)]
        command += ["--epochs", str(epochs), "--betas", str(n_betas), "--out", out]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"arm {points_per_chunk} failed:\n{result.stderr[-4000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])


def time_training(epochs: int, n_betas: int, repeats: int = 3) -> dict:
    """Seconds for ``epochs`` epochs of all points: vmapped at once, and one point at a time."""
    from mdl import sweep
    from mdl.data import load

    config = sweep.SweepConfig(betas=BETAS[:n_betas], seeds=SEEDS, epochs=epochs)
    data = load(config.data)
    _, graphdef, _, compressor = sweep._model_and_compressor(config, data, 0)
    optimizer = sweep._optimizer(config)
    n_train = len(data.x_train)
    warmup = config.warmup_fraction * epochs * (n_train // config.batch_size)
    epoch_fn, _, _ = sweep._programs(
        graphdef, compressor, optimizer, n_train, config.batch_size, warmup
    )
    x, y = jax.numpy.asarray(data.x_train, "float32"), jax.numpy.asarray(data.y_train)
    points = config.points()
    initial = {s: sweep._initial_state(config, data, s, optimizer) for s in SEEDS}
    states = [initial[seed] for _, seed in points]
    betas = [jax.numpy.float32(b) for b, _ in points]
    keys = [jax.random.key(seed) for _, seed in points]

    def vmapped():
        state = sweep._stack(states)
        beta, key = jax.numpy.stack(betas), jax.numpy.stack(keys)
        for epoch in range(epochs):
            state = epoch_fn(state, beta, jax.vmap(jax.random.fold_in, (0, None))(key, epoch), x, y)
        return jax.block_until_ready(state)

    def one_at_a_time():
        for state, beta, key in zip(states, betas, keys, strict=True):
            state = sweep._stack([state])
            for epoch in range(epochs):
                state = epoch_fn(state, beta[None], jax.random.fold_in(key, epoch)[None], x, y)
            jax.block_until_ready(state)

    figures = {}
    for name, program in (("vmapped", vmapped), ("sequential", one_at_a_time)):
        program()  # compile (the first epoch of each shape)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            program()
            best = min(best, time.perf_counter() - start)
        figures[name] = best
    return figures


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="8 points, 2 epochs")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--betas", type=int, default=16, help="betas (x 4 seeds = points)")
    parser.add_argument("--arm", type=int, help=argparse.SUPPRESS)  # internal: one arm
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.arm is not None:
        print(json.dumps(arm(args.arm, args.epochs, args.betas, args.out)))
        return {}
    epochs, n_betas = (2, 2) if args.smoke else (args.epochs, args.betas)
    points = n_betas * len(SEEDS)
    training = time_training(epochs, n_betas, repeats=1 if args.smoke else 3)
    vmapped = run_arm(points, epochs, n_betas)
    sequential = run_arm(1, epochs, n_betas)
    print(f"{points} points x {epochs} epochs on {vmapped['devices']}")
    print(f"{'':<28} {'vmapped':>10} {'sequential':>10} {'speedup':>8}")
    rows = (
        ("training program, s", training["vmapped"], training["sequential"]),
        ("mdl.sweep.run end to end, s", vmapped["seconds"], sequential["seconds"]),
    )
    for name, fast, slow in rows:
        print(f"{name:<28} {fast:>10.2f} {slow:>10.2f} {slow / fast:>8.2f}")
    print(
        f"{'peak resident memory, MB':<28} {vmapped['peak_memory_mb']:>10.0f} "
        f"{sequential['peak_memory_mb']:>10.0f}"
    )
    summary = {
        "points": points,
        "epochs": epochs,
        "speedup": training["sequential"] / training["vmapped"],
        "training_vmapped_seconds": training["vmapped"],
        "training_sequential_seconds": training["sequential"],
        "end_to_end_speedup": sequential["seconds"] / vmapped["seconds"],
        "end_to_end_vmapped_seconds": vmapped["seconds"],
        "end_to_end_sequential_seconds": sequential["seconds"],
        "peak_memory_mb": vmapped["peak_memory_mb"],
        "sequential_peak_memory_mb": sequential["peak_memory_mb"],
        "devices": vmapped["devices"],
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
