"""A 64-point sweep as one vmapped program against the same 64 trainings one after another.

    python benchmarks/sweep.py [--smoke] [--epochs N] [--model mlp|convnet]

The sweep: the built-in digits data, MLP 64-32-10 (``--model convnet``: ConvNet 4-8) quantized
with a learned spike-and-slab prior, 16 betas x 4 seeds, Adam, batches of 64, 200 epochs
(3,800 steps); every point gets the same epochs, batches and steps in both arms. Public API
only. Why 200 epochs: at 20 (380 steps) training is under a tenth of the end-to-end time
(0.76 of 8.3 s on 2 cores), so the end-to-end ratio measures compilation, model set-up and file
writing, which both arms pay once, rather than the sweep; at 200 it is about half. (The mean
test error is 16% at both lengths: the large betas of the grid dominate it.)

* Training program (``speedup``): in this process, the points epoch of :mod:`mdl.engine` (what
  ``mdl.sweep`` compiles) run on all 64 points at once (vmapped, leading axis 64) against the
  same program on one point at a time, 64 times; both compiled before timing; best of 3.
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
import jax.numpy as jnp
import numpy as np
import optax

BETAS = tuple(float(b) for b in np.geomspace(1e-3, 10, 16))
SEEDS = (0, 1, 2, 3)


MODELS = {
    "mlp": {"name": "MLP", "hidden": [32]},
    "convnet": {"name": "ConvNet", "channels": [4, 8]},
}


def arm(
    points_per_chunk: int, epochs: int, n_betas: int, model: str, out: str, seeds: tuple = SEEDS
) -> dict:
    """One ``mdl.sweep.run`` into ``out`` (``points_per_chunk`` 0: as many as fit), timed."""
    from mdl.sweep import SweepConfig, run

    config = SweepConfig(
        betas=BETAS[:n_betas],
        seeds=seeds,
        epochs=epochs,
        points_per_chunk=points_per_chunk,
        model=MODELS[model],
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


def run_arm(points_per_chunk: int, epochs: int, n_betas: int, model: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, __file__, "--arm", str(points_per_chunk), "--model", model]
        command += ["--epochs", str(epochs), "--betas", str(n_betas), "--out", out]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"arm {points_per_chunk} failed:\n{result.stderr[-4000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])


def time_training(
    epochs: int, n_betas: int, model: dict, repeats: int = 3, seeds: tuple = SEEDS
) -> dict:
    """Best seconds (of ``repeats``) for ``epochs`` epochs of all points: vmapped at once, and
    one point at a time, both through the public training core (:mod:`mdl.engine`) a sweep
    uses, each compiled (one untimed epoch) before timing and blocked on. Also returns the
    ``points`` and the ``steps_per_epoch`` behind those seconds."""
    from mdl.codes.data_codes import categorical
    from mdl.data import load
    from mdl.engine import init_state, make_points_epoch, make_step, optimizer_for, warmup_steps_for
    from mdl.models.catalog import reference_model
    from mdl.params import split_params
    from mdl.sweep import SweepConfig, build_compressor

    config = SweepConfig(betas=BETAS[:n_betas], seeds=seeds, epochs=epochs, model=model)
    data = load(config.data)
    compressor = build_compressor(config.compressor)
    graphdef, params = split_params(reference_model(config.model, data, seed=0))
    cstate = compressor.init(params, jax.random.key(0))
    optimizer = optimizer_for(compressor, params, cstate, optax.adam(config.learning_rate))
    n_train = len(data.x_train)
    warmup = warmup_steps_for(config.warmup_fraction, epochs, n_train // config.batch_size)
    step = make_step(graphdef, compressor, categorical(), optimizer, n_train, warmup)
    # As the sweep picks it (SweepConfig.scan): a scanned epoch, except for convnets on CPU.
    scan = model["name"] == "MLP" or jax.default_backend() != "cpu"
    epoch_fn = make_points_epoch(step, config.batch_size, scan=scan)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)

    def initial(seed):
        _, p = split_params(reference_model(config.model, data, seed=seed))
        return init_state(p, compressor.init(p, jax.random.key(seed)), optimizer)

    def stack(trees):
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)

    points = config.points()
    states = [initial(p["seed"]) for p in points]
    betas = [jnp.float32(p["beta"]) for p in points]
    keys = [jax.random.key(p["seed"]) for p in points]

    def vmapped(epochs=epochs):
        state, beta, key = stack(states), jnp.stack(betas), jnp.stack(keys)
        active = jnp.ones(len(points), bool)
        for epoch in range(epochs):
            epoch_keys = jax.vmap(jax.random.fold_in, (0, None))(key, epoch)
            state = epoch_fn(state, epoch_keys, beta, active, x, y)
        return jax.block_until_ready(state)

    def one_at_a_time(epochs=epochs):
        active = jnp.ones(1, bool)
        for state, beta, key in zip(states, betas, keys, strict=True):
            state = stack([state])
            for epoch in range(epochs):
                epoch_key = jax.random.fold_in(key, epoch)[None]
                state = epoch_fn(state, epoch_key, beta[None], active, x, y)
            jax.block_until_ready(state)

    figures = {"points": len(points), "steps_per_epoch": n_train // config.batch_size}
    for name, program in (("vmapped", vmapped), ("sequential", one_at_a_time)):
        program(1)  # compile: one epoch of each shape
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
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--betas", type=int, default=16, help="betas (x 4 seeds = points)")
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--arm", type=int, help=argparse.SUPPRESS)  # internal: one arm
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.arm is not None:
        print(json.dumps(arm(args.arm, args.epochs, args.betas, args.model, args.out)))
        return {}
    epochs, n_betas = (2, 2) if args.smoke else (args.epochs, args.betas)
    points = n_betas * len(SEEDS)
    training = time_training(epochs, n_betas, MODELS[args.model], repeats=1 if args.smoke else 3)
    vmapped = run_arm(points, epochs, n_betas, args.model)
    sequential = run_arm(1, epochs, n_betas, args.model)
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
        "model": MODELS[args.model],
        "points": points,
        "epochs": epochs,
        "speedup": training["sequential"] / training["vmapped"],
        "training_vmapped_seconds": training["vmapped"],
        "training_sequential_seconds": training["sequential"],
        "end_to_end_speedup": sequential["seconds"] / vmapped["seconds"],
        "end_to_end_vmapped_seconds": vmapped["seconds"],
        "end_to_end_sequential_seconds": sequential["seconds"],
        "mean_test_error": vmapped["mean_test_error"],
        "sequential_mean_test_error": sequential["mean_test_error"],
        "peak_memory_mb": vmapped["peak_memory_mb"],
        "sequential_peak_memory_mb": sequential["peak_memory_mb"],
        "devices": vmapped["devices"],
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
