"""Training-step cost of compression: a quantized (spike-and-slab prior) step against a plain
cross-entropy step on the same model and batches, in the same run.

    python benchmarks/train_step.py [--smoke] [--model lenet_300_100|lenet5] [--repeats R]
        [--steps S] [--live-block]

Both steps are the library's own jitted step (``mdl.engine.make_step``, Adam, beta 1) on
one batch of 128 MNIST-shaped inputs: float32 parameters against ``quantizer()``. Each is timed
as the best of ``R`` repeats (10) of ``S`` steps (100) after compilation, the repeats
alternating between the two (this machine's timings drift by 20% from one second to the next).
Last line: JSON with ``slowdown`` (compressed time / plain time), ``plain_step_ms`` and
``compressed_step_ms``; with ``--live-block``, also ``live_block_step_ms`` and
``live_block_slowdown`` (``quantizer(live_block=True)``'s step over ``quantizer()``'s: the
cost of finding each kernel's live units at every step).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import optax

from mdl.codes.data_codes import categorical
from mdl.compress import float32_baseline, quantizer
from mdl.engine import init_state, make_step, optimizer_for
from mdl.models import lenet5, lenet_300_100
from mdl.params import split_params


def jitted_step(graphdef, compressor, optimizer, n_train: int):
    """The library's own training step (``mdl.engine.make_step``), jitted, beta = 1."""
    train_step = make_step(graphdef, compressor, categorical(), optimizer, n_train)

    @jax.jit
    def step(state, xb, yb, key):
        return train_step(state, xb, yb, key, 1.0)

    return step


def time_interleaved(steps: dict, carries: dict, xb, yb, count: int, repeats: int) -> dict:
    """Best seconds per step of each named step; the repeats alternate between the steps, so
    a slow moment of the machine hits both alike."""
    key = jax.random.key(0)
    for name, step in steps.items():  # compile
        carries[name] = jax.block_until_ready(step(carries[name], xb, yb, key))
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, step in steps.items():
            carry = carries[name]
            start = time.perf_counter()
            for _ in range(count):
                carry = step(carry, xb, yb, key)
            jax.block_until_ready(carry)
            best[name] = min(best[name], (time.perf_counter() - start) / count)
            carries[name] = carry
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="fewer timed steps")
    parser.add_argument("--model", choices=["lenet_300_100", "lenet5"], default="lenet_300_100")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats per step")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed repeat")
    parser.add_argument(
        "--live-block", action="store_true", help="also time quantizer(live_block=True)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 1:
        parser.error(f"--repeats and --steps must be >= 1; got {args.repeats}, {args.steps}")
    model = {"lenet_300_100": lenet_300_100, "lenet5": lenet5}[args.model]()
    graphdef, params = split_params(model)
    key = jax.random.key(1)
    xb = jax.random.uniform(key, (128, 28, 28))
    yb = jax.random.randint(key, (128,), 0, 10)
    steps_per_repeat, repeats = (3, 2) if args.smoke else (args.steps, args.repeats)
    steps, carries = {}, {}
    compressors = {"plain": float32_baseline(), "compressed": quantizer()}
    if args.live_block:
        compressors["live_block"] = quantizer(live_block=True)
    for name, compressor in compressors.items():
        cstate = compressor.init(params, jax.random.key(0))
        optimizer = optimizer_for(compressor, params, cstate, optax.adam(1e-3))
        steps[name] = jitted_step(graphdef, compressor, optimizer, 60_000)
        carries[name] = init_state(params, cstate, optimizer)
    times = time_interleaved(steps, carries, xb, yb, steps_per_repeat, repeats)
    summary = {
        "model": args.model,
        "batch": 128,
        "plain_step_ms": 1e3 * times["plain"],
        "compressed_step_ms": 1e3 * times["compressed"],
        "slowdown": times["compressed"] / times["plain"],
        "devices": [str(d) for d in jax.devices()],
    }
    if args.live_block:
        summary["live_block_step_ms"] = 1e3 * times["live_block"]
        summary["live_block_slowdown"] = times["live_block"] / times["compressed"]
    print(f"{args.model}, batch 128, best of {repeats} x {steps_per_repeat} steps")
    print(f"  plain cross-entropy step  {summary['plain_step_ms']:8.2f} ms")
    print(f"  compressed step           {summary['compressed_step_ms']:8.2f} ms")
    print(f"  slowdown                  {summary['slowdown']:8.2f}x")
    if args.live_block:
        print(f"  live-block step           {summary['live_block_step_ms']:8.2f} ms")
        print(f"  live block / quantizer    {summary['live_block_slowdown']:8.2f}x")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
