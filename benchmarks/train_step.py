"""Training-step cost of compression: a quantized (spike-and-slab prior) step against a plain
cross-entropy step on the same model and batches, in the same run.

    python benchmarks/train_step.py [--smoke] [--model lenet_300_100|lenet5]

Both steps are jitted Adam updates on one batch of 128 MNIST-shaped inputs; each is timed as
the best of 5 repeats of 20 steps after compilation. Last line: JSON with ``slowdown``
(compressed time / plain time), ``plain_step_ms`` and ``compressed_step_ms``.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import optax
from flax import nnx

from mdl import categorical_bits
from mdl.compress import float32_baseline, quantizer, split_params
from mdl.models import lenet5, lenet_300_100


def make_step(graphdef, compressor, optimizer, n_train: int):
    def loss(trainable, xb, yb, key):
        p, c = trainable
        w = compressor.apply(p, c, key)
        data_bits = categorical_bits(nnx.merge(graphdef, w)(xb), yb).mean() * n_train
        return data_bits + compressor.bits(p, c)

    @jax.jit
    def step(trainable, opt_state, xb, yb, key):
        grads = jax.grad(loss)(trainable, xb, yb, key)
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        return optax.apply_updates(trainable, updates), opt_state

    return step


def time_steps(step, trainable, opt_state, xb, yb, steps: int, repeats: int = 5) -> float:
    key = jax.random.key(0)
    trainable, opt_state = step(trainable, opt_state, xb, yb, key)  # compile
    jax.block_until_ready(trainable)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            trainable, opt_state = step(trainable, opt_state, xb, yb, key)
        jax.block_until_ready(trainable)
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="fewer timed steps")
    parser.add_argument("--model", choices=["lenet_300_100", "lenet5"], default="lenet_300_100")
    args = parser.parse_args(argv)
    model = {"lenet_300_100": lenet_300_100, "lenet5": lenet5}[args.model]()
    graphdef, params = split_params(model)
    key = jax.random.key(1)
    xb = jax.random.uniform(key, (128, 28, 28))
    yb = jax.random.randint(key, (128,), 0, 10)
    optimizer = optax.adam(1e-3)
    steps = 3 if args.smoke else 20
    times = {}
    for name, compressor in (("plain", float32_baseline()), ("compressed", quantizer())):
        cstate = compressor.init(params)
        trainable = (params, cstate)
        step = make_step(graphdef, compressor, optimizer, 60_000)
        times[name] = time_steps(step, trainable, optimizer.init(trainable), xb, yb, steps)
    summary = {
        "model": args.model,
        "batch": 128,
        "plain_step_ms": 1e3 * times["plain"],
        "compressed_step_ms": 1e3 * times["compressed"],
        "slowdown": times["compressed"] / times["plain"],
        "devices": [str(d) for d in jax.devices()],
    }
    print(f"{args.model}, batch 128, best of 5 x {steps} steps")
    print(f"  plain cross-entropy step  {summary['plain_step_ms']:8.2f} ms")
    print(f"  compressed step           {summary['compressed_step_ms']:8.2f} ms")
    print(f"  slowdown                  {summary['slowdown']:8.2f}x")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
