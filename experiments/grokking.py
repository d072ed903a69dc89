r"""Grokking as compression: the real description length of a network along its training.

    python -m experiments.grokking [--smoke] [--out DIR] [--seed N] [--op {+,-,*,/}]

Power et al. (2022) trained small networks on modular arithmetic and saw them fit the training
equations early and generalize to the held-out ones long after ("grokking"); DeMoss et al.
(2024) measured the networks' complexity by compression and found it rising while the network
memorizes and falling when it generalizes. Here the complexity is a real code length, the size
of a file that decodes, and the MDL objective itself is one of the regularizers compared.

Data: every equation ``a + b = c (mod p)`` (`mdl.data.synthetic.load_modular_arithmetic`,
p = 97, 40% of the $p^2$ equations for training, the rest held out). Model: `GrokMLP`, a
token embedding shared by ``a`` and ``b``, the two embeddings concatenated, one ReLU hidden
layer and a linear read-out over the ``p`` classes. Full-batch training with mdl's training
core (`mdl.engine`: ``make_step``, ``init_state``, ``optimizer_for``); every run starts from
the same initial weights, takes the same number of steps with Adam ($\beta_1 = 0.9$,
$\beta_2 = 0.98$, learning rate $10^{-3}$) and sees the same step keys. The regularizers:

* ``none``: Adam on the data bits $\sum_i -\log_2 p(y_i \mid x_i)$ alone;
* ``weight_decay``: AdamW with decoupled weight decay 1 (the usual driver of grokking:
  Power et al. 2022; Nanda et al. 2023);
* ``mdl``: Adam on the two-part code, data bits $+ \beta \times$ model bits at $\beta = 1$,
  with mdl's learned quantizer (`mdl.compress.quantize.quantizer`, every tensor quantized,
  spike-and-slab Laplace prior, straight-through rounding) whose ``bits`` is the length of
  its file less the header; $\beta$ ramps from 0 over the first half of the steps
  (`mdl.train.fit`'s default ``warmup_fraction``). $\beta = 1$ makes the loss the code length
  itself, so it is not a choice; the ramp was fixed in advance as the library default;
* ``mdl_beta_0.1``: the same at $\beta = 0.1$, a sensitivity run added after probes at
  $\beta = 1$ (see ``experiments/grokking.md``), not a selection.

At 41 checkpoints (step 0 and log-spaced steps) each run records the train and test error of the
model as it runs (float32 weights; for the MDL runs the hard, quantized weights, which is what
their file decodes to) and its *real description length*: the compact file
(`mdl.compress.files.encode_compressed`, ``compact=True``) of the model quantized at the
coarsest step that keeps every train prediction (argmax) unchanged. For a float checkpoint
that step is searched: ``quantizer(select=everything).init(params)`` at
``init_bits_per_std = k`` (step $= \sigma_w / k$ per tensor) for $k$ on the grid
$2^{j/4}$, $j = -8, \ldots, 40$, by bisection for the smallest $k$ that keeps the
predictions (checked), the prior's two scalars per tensor then fitted to the bins by gradient
descent on the rate; the cap ($k = 1024$) is taken, and flagged, when no $k$ keeps them. The
MDL runs use their own learned quantizer state. Every file is written from the hard
weights and decoded back (`mdl.compress.files.decode_compressed`); the run stops with an
error if the decoded weights differ from the hard ones, and the decoded model's train
predictions are compared with the quantized model's.

Also at every checkpoint: the two-part code of the training labels
(`mdl.estimators.two_part`: structure + model file + labels given the model, each real bytes
that decode), with the structure code Rissanen's $\log^*$ of the integers naming the
architecture ($p$, embedding width, hidden width: `structure_bits`), and the Occam bound
(`mdl.bounds.occam_bound`, kl form, $\delta = 0.05$) on the error over all $p^2$ equations of
the model the file decodes to, charged with ``bound_code_bits``: structure + file
$+ \log^*$(file bytes) (a prefix code for the file's length) $+ \log_2$(number of checkpoints
of all runs), so any checkpoint of any run picked afterwards stays covered. The training set
is drawn without replacement from the $p^2$ equations; the kl bound holds for that too
(Hoeffding 1963, section 6).

The test set is only used for reporting: no setting was chosen by it.

Writes ``summary.json`` (``runs``: regularizer -> ``epochs_to_grok`` (first checkpoint
with test accuracy >= 99%, full batch so epochs are steps; null if never),
``peak_model_bits``, ``final_model_bits``, ``final_test_error``, the curves), each run's final
model as a compact file ``NAME.modc``, and the figures ``complexity.png`` (model bits and
accuracy against step, one panel per regularizer) and ``bound.png`` (the bound over
training).

References:
  A. Power, Y. Burda, H. Edwards, I. Babuschkin, V. Misra, "Grokking: generalization beyond
  overfitting on small algorithmic datasets", 2022; B. DeMoss, S. Sapora, J. Foerster,
  N. Hawes, I. Posner, "The complexity dynamics of grokking", 2024; N. Nanda, L. Chan,
  T. Lieberum, J. Smith, J. Steinhardt, "Progress measures for grokking via mechanistic
  interpretability", ICLR 2023; J. Langford, "Tutorial on practical prediction theory for
  classification", JMLR 2005 (the Occam bound); W. Hoeffding, "Probability inequalities for
  sums of bounded random variables", JASA 1963.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from experiments.harness import experiment_parser, write_summary
from mdl.bounds import occam_bound
from mdl.codes.data_codes import data_code
from mdl.codes.integers import log_star_bits
from mdl.compress.base import float32_baseline
from mdl.compress.files import decode_compressed, encode_compressed
from mdl.compress.quantize import quantizer
from mdl.data.synthetic import load_modular_arithmetic
from mdl.engine import init_state, make_step, optimizer_for
from mdl.estimators import two_part
from mdl.params import split_params
from mdl.records import write_bytes_atomic

GROK_ACCURACY = 0.99  # test accuracy at which a run counts as grokked
DELTA = 0.05  # the bound's confidence parameter
# Quantization steps searched for a float checkpoint: init_bits_per_std = 2^(j/4), coarse to fine.
BITS_PER_STD_GRID = tuple(2.0 ** (j / 4) for j in range(-8, 41))
PRIOR_FIT_STEPS = 200  # Adam steps fitting a float checkpoint's prior scalars to its bins
ADAM_BETAS = (0.9, 0.98)  # Nanda et al. (2023)'s Adam betas for grokking


def _select_all(path, leaf) -> bool:
    """Every tensor is quantized (a float32 bias would cost 32 bits a scalar in every file)."""
    return True


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a run is: data, model, training length and checkpoints (``to_dict`` for JSON)."""

    p: int
    op: str
    train_fraction: float
    embed_dim: int
    hidden: int
    steps: int
    block: int  # steps per compiled scan; checkpoints fall on multiples of it
    checkpoints: int  # log-spaced checkpoint steps requested (fewer after rounding to blocks)
    compress_steps: int  # MDL steps from weight decay's final weights (`COMPRESS_GROKKED`)
    learning_rate: float = 1e-3
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FULL = Settings(
    p=97, op="+", train_fraction=0.4, embed_dim=16, hidden=64, steps=30_000, block=50,
    checkpoints=48, compress_steps=5_000,
)  # fmt: skip
SMOKE = Settings(
    p=23, op="+", train_fraction=0.4, embed_dim=8, hidden=16, steps=200, block=20, checkpoints=6,
    compress_steps=40,
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Regularizer:
    """One training objective: decoupled weight decay (AdamW) or beta x model bits, or neither."""

    weight_decay: float = 0.0
    beta: float | None = None  # None: no model-bits term (float32 weights, Adam or AdamW)
    warmup_fraction: float = 0.5  # share of the steps over which beta ramps up from 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


REGULARIZERS = {
    "none": Regularizer(),
    "weight_decay": Regularizer(weight_decay=1.0),
    "mdl": Regularizer(beta=1.0),
    "mdl_beta_0.1": Regularizer(beta=0.1),
}
# After the runs, not at equal compute: does a short code for a generalizing network exist?
# The two-part objective (beta 1, no ramp) trained from weight decay's final, grokked weights.
COMPRESS_GROKKED = ("weight_decay_then_mdl", Regularizer(beta=1.0, warmup_fraction=0.0))
COMPRESS_CHECKPOINTS = 10


class GrokMLP(nnx.Module):
    r"""``logits = W_2 relu(W_1 [E_a; E_b] + b_1) + b_2``: a shared token embedding $E$
    ($p \times d$), the two embeddings concatenated ($2d$), one ReLU layer of ``hidden``
    units, a linear read-out over the ``p`` residues. Inputs are the pairs ``[a, b]`` (any
    numeric dtype; `mdl.estimators.two_part` passes float32)."""

    def __init__(self, p: int, embed_dim: int, hidden: int, *, rngs: nnx.Rngs):
        for name, value in (("p", p), ("embed_dim", embed_dim), ("hidden", hidden)):
            if not isinstance(value, int) or value < (2 if name == "p" else 1):
                raise ValueError(f"{name} must be a positive integer (p >= 2); got {value!r}")
        self.embed = nnx.Embed(p, embed_dim, rngs=rngs)
        self.hidden = nnx.Linear(2 * embed_dim, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, p, rngs=rngs)

    def __call__(self, x):
        tokens = jnp.asarray(x).astype(jnp.int32)
        pair = self.embed(tokens).reshape(tokens.shape[0], -1)
        return self.out(jax.nn.relu(self.hidden(pair)))


def build_model(settings: Settings) -> GrokMLP:
    """The initial model of every run (the same weights for all: ``nnx.Rngs(seed)``)."""
    return GrokMLP(settings.p, settings.embed_dim, settings.hidden, rngs=nnx.Rngs(settings.seed))


def structure_bits(settings: Settings) -> float:
    r"""Bits naming the architecture: $\sum L^*(n)$ over $p$, the embedding width and the
    hidden width (Rissanen's log*); the family (this experiment's one) is fixed in advance."""
    integers = [settings.p, settings.embed_dim, settings.hidden]
    return float(np.sum(np.asarray(log_star_bits(integers), np.float64)))


def checkpoint_steps(steps: int, block: int, count: int) -> list[int]:
    """Step 0, then ``count`` log-spaced steps from ``block`` to ``steps`` rounded to whole
    blocks (duplicates dropped, ``steps`` itself included)."""
    if steps < block or steps % block:
        raise ValueError(f"steps ({steps}) must be a positive multiple of block ({block})")
    if count < 1:
        raise ValueError(f"count must be >= 1; got {count}")
    spaced = np.geomspace(block, steps, count) / block
    return [0, *sorted({int(round(s)) * block for s in spaced} | {steps})]


def make_block(graphdef, compressor, optimizer, n_train: int, regularizer, steps, block: int):
    """``advance(state, key) -> state``: ``block`` full-batch steps of the engine's step as one
    compiled ``lax.scan`` (step keys ``fold_in(key, i)``)."""
    warmup = regularizer.warmup_fraction * steps if regularizer.beta is not None else 0.0
    step = make_step(
        graphdef, compressor, data_code("categorical"), optimizer, n_train, warmup_steps=warmup
    )
    beta = jnp.float32(regularizer.beta or 0.0)

    @jax.jit
    def advance(state, key, x, y):
        def body(carry, i):
            return step(carry, x, y, jax.random.fold_in(key, i), beta), None

        return jax.lax.scan(body, state, jnp.arange(block))[0]

    return advance


def make_predict(graphdef):
    """``predict(weights, x) -> argmax labels``, one compiled program for every checkpoint."""
    return jax.jit(lambda weights, x: jnp.argmax(nnx.merge(graphdef, weights)(x), axis=-1))


def coarsest_quantization(params, keeps) -> tuple[dict, float, bool]:
    """``(cstate, k, kept)``: the quantizer state at the smallest ``init_bits_per_std`` ``k``
    of `BITS_PER_STD_GRID` whose hard weights keep the train predictions (``keeps(cstate)``),
    by bisection over the grid (a coarser step keeps fewer; the result is checked, never
    assumed); ``kept`` is False (and ``k`` the grid's finest) when none does."""

    def state_at(index):
        return quantizer(_select_all, init_bits_per_std=BITS_PER_STD_GRID[index]).init(params)

    lo, hi = 0, len(BITS_PER_STD_GRID) - 1
    finest = state_at(hi)
    if not keeps(finest):
        return finest, BITS_PER_STD_GRID[hi], False
    best = finest
    while lo < hi:
        mid = (lo + hi) // 2
        candidate = state_at(mid)
        if keeps(candidate):
            hi, best = mid, candidate
        else:
            lo = mid + 1
    return best, BITS_PER_STD_GRID[hi], True


def make_prior_fit(compressor):
    """``fit(params, cstate) -> cstate``: the priors' scalars (scale, spike logit) of every
    tensor fitted to its bins by Adam on ``compressor.bits``, the steps (hence the hard
    weights and predictions) untouched; the fitted state is kept only if it is shorter."""
    optimizer = optax.adam(0.05)

    def merged(cstate, free):
        return {
            path: state._replace(log_scale=free[path][0], spike_logit=free[path][1])
            for path, state in cstate.items()
        }

    @jax.jit
    def fit(params, cstate):
        free = {path: (s.log_scale, s.spike_logit) for path, s in cstate.items()}

        def body(carry, _):
            free, opt_state = carry
            grads = jax.grad(lambda f: compressor.bits(params, merged(cstate, f)))(free)
            updates, opt_state = optimizer.update(grads, opt_state, free)
            return (optax.apply_updates(free, updates), opt_state), None

        fitted, _ = jax.lax.scan(body, (free, optimizer.init(free)), None, PRIOR_FIT_STEPS)[0]
        fitted = merged(cstate, fitted)
        shorter = compressor.bits(params, fitted) < compressor.bits(params, cstate)
        return jax.tree.map(lambda a, b: jnp.where(shorter, a, b), fitted, cstate)

    return fit


def occam_code_bits(structure: float, file_bytes: int, selection_bits: float) -> float:
    """The bound's description of a checkpoint: structure + file + log*(file bytes) (the
    file's length, so that the code is prefix-free) + the bits choosing the checkpoint."""
    return structure + 8 * file_bytes + float(log_star_bits(file_bytes)) + selection_bits


def first_step(curve: list[dict], key: str, threshold: float) -> int | None:
    """The first checkpoint step whose ``key`` is at most ``threshold`` (None: never)."""
    return next((point["step"] for point in curve if point[key] <= threshold), None)


class Checkpointer:
    """Measures one checkpoint: errors, the coarsest-step real file (decoded and checked),
    the two-part code of the training labels and the Occam bound."""

    def __init__(self, settings: Settings, data, graphdef, selection_bits: float):
        self.settings, self.graphdef = settings, graphdef
        self.x, self.y = jnp.asarray(data.x_train, jnp.int32), np.asarray(data.y_train)
        self.x_test, self.y_test = jnp.asarray(data.x_test, jnp.int32), np.asarray(data.y_test)
        self.quantizer = quantizer(_select_all)  # bits/hard/finalize do not depend on k
        self.predict = make_predict(graphdef)
        self.hard = jax.jit(self.quantizer.hard)
        self.fit_prior = make_prior_fit(self.quantizer)
        self.structure = structure_bits(settings)
        self.selection_bits = selection_bits

    def _error(self, weights, x, y) -> float:
        return float(np.mean(np.asarray(self.predict(weights, x)) != y))

    def measure(self, step: int, params, cstate, learned: bool) -> tuple[dict, bytes]:
        """One curve point and the checkpoint's model file. ``learned``: ``cstate`` is the
        run's own quantizer state (MDL runs); otherwise the weights are float32 and the
        coarsest step keeping their train predictions is searched."""
        running = self.hard(params, cstate) if learned else params
        predictions = np.asarray(self.predict(running, self.x))
        point = {
            "step": step,
            "train_error": float(np.mean(predictions != self.y)),
            "test_error": self._error(running, self.x_test, self.y_test),
        }
        if learned:
            bits_per_std = None
        else:

            def keeps(candidate):
                hard = self.hard(params, candidate)
                return bool(np.array_equal(np.asarray(self.predict(hard, self.x)), predictions))

            cstate, bits_per_std, _ = coarsest_quantization(params, keeps)
            cstate = self.fit_prior(params, cstate)
        hard = self.hard(params, cstate)
        # The file is written from the hard weights, whose bins are integers to within an ulp
        # (quantizing them again is exact): from the float weights, a weight within an ulp of
        # a half bin could round one way in the compiled ``hard`` and the other in the eager
        # ``finalize`` (seen at step 150 of the unregularized run: 2 of 9,969 weights).
        model = nnx.merge(self.graphdef, hard)
        blob = encode_compressed(model, self.quantizer, cstate, compact=True)
        _, decoded = split_params(decode_compressed(blob, model))
        for mine, theirs in zip(jax.tree.leaves(hard), jax.tree.leaves(decoded), strict=True):
            if not np.array_equal(np.asarray(mine), np.asarray(theirs)):
                raise SystemExit(f"step {step}: the model file decoded to different weights")
        decoded_predictions = np.asarray(self.predict(decoded, self.x))
        hard_predictions = np.asarray(self.predict(hard, self.x))
        code = two_part(
            model, self.x, self.y, compressor=self.quantizer, cstate=cstate,
            structure=self.structure,
        )  # fmt: skip
        if code.parts["params"] != 8 * len(blob):
            raise SystemExit(f"step {step}: two_part wrote a model file of another length")
        file_train_error = float(np.mean(decoded_predictions != self.y))
        code_bits = occam_code_bits(self.structure, len(blob), self.selection_bits)
        m = len(self.y)
        point.update(
            {
                "model_bits": 8 * len(blob),
                "model_estimate_bits": float(self.quantizer.bits(params, cstate)),
                "bits_per_std": bits_per_std,
                # The quantized model predicts every train label as the checkpoint does (the
                # search's criterion), and the decoded file as the quantized model does.
                "predictions_kept": bool(np.array_equal(hard_predictions, predictions)),
                "decoded_predictions_match": bool(
                    np.array_equal(decoded_predictions, hard_predictions)
                ),
                "file_train_error": file_train_error,
                "file_test_error": self._error(decoded, self.x_test, self.y_test),
                "data_bits": code.parts["data"],
                "two_part_bits": code.total_bits,
                "bound_code_bits": code_bits,
                "bound": float(occam_bound(file_train_error, code_bits, m, DELTA)),
            }
        )
        return point, blob


def train_run(
    name, regularizer, settings, data, checkpointer, steps_at, out: Path, params=None, steps=None
) -> tuple[dict, dict]:
    """Train one regularizer from the shared initial weights (or ``params``) for ``steps``
    (default ``settings.steps``), measuring at ``steps_at``; writes the final model file
    ``out/NAME.modc``; returns the run's summary and its final parameters."""
    start = time.perf_counter()
    steps = settings.steps if steps is None else steps
    graphdef, initial = split_params(build_model(settings))
    params = initial if params is None else params
    if regularizer.beta is None:
        compressor = float32_baseline()
    else:
        compressor = quantizer(_select_all)
    cstate = compressor.init(params, jax.random.key(settings.seed))
    adam = optax.adam(settings.learning_rate, *ADAM_BETAS)
    model_optimizer = adam
    if regularizer.weight_decay:
        model_optimizer = optax.adamw(
            settings.learning_rate, *ADAM_BETAS, weight_decay=regularizer.weight_decay
        )
    # The quantizer's own scalars (steps, prior) take plain Adam, never weight decay.
    optimizer = optimizer_for(compressor, params, cstate, model_optimizer, adam)
    state = init_state(params, cstate, optimizer)
    advance = make_block(
        graphdef, compressor, optimizer, len(data.y_train), regularizer, steps, settings.block
    )
    x, y = checkpointer.x, jnp.asarray(data.y_train)
    key = jax.random.key(settings.seed + 1)  # the same step keys for every run
    curve, measure_seconds, blob = [], 0.0, b""
    learned = regularizer.beta is not None
    for index in range(steps // settings.block + 1):
        step = index * settings.block
        if step in steps_at:
            tick = time.perf_counter()
            point, blob = checkpointer.measure(step, state.params, state.cstate, learned)
            measure_seconds += time.perf_counter() - tick
            curve.append(point)
            print(
                f"{name:>13} step {step:>6}: train err {point['train_error']:.3f} test err "
                f"{point['test_error']:.3f} model {point['model_bits']:>7,} bits two-part "
                f"{point['two_part_bits']:>9,.0f} bound {point['bound']:.3f}",
                flush=True,
            )
        if step < steps:
            state = advance(state, jax.random.fold_in(key, index), x, y)
    write_bytes_atomic(out / f"{name}.modc", blob)
    # The peak among checkpoints whose predictions a quantized file kept: at the grid's cap
    # the length measures the cap, not the model (a random network's near-ties).
    kept = [point for point in curve if point["predictions_kept"]] or curve
    peak = max(kept, key=lambda point: point["model_bits"])
    final = curve[-1]
    summary = {
        "regularizer": regularizer.to_dict(),
        "epochs_to_grok": first_step(curve, "test_error", 1 - GROK_ACCURACY),
        "epochs_to_memorize": first_step(curve, "train_error", 0.0),
        "peak_model_bits": peak["model_bits"],
        "peak_model_step": peak["step"],
        "final_model_bits": final["model_bits"],
        "final_test_error": final["test_error"],
        "final_train_error": final["train_error"],
        "final_two_part_bits": final["two_part_bits"],
        "min_bound": min(point["bound"] for point in curve),
        "model_file": f"{name}.modc",
        "checkpoints_predictions_changed": sum(not p["predictions_kept"] for p in curve),
        "all_decoded_predictions_match": all(p["decoded_predictions_match"] for p in curve),
        "seconds": time.perf_counter() - start,
        "measure_seconds": measure_seconds,
        "curve": curve,
    }
    return summary, state.params


def ordered_runs(summary: dict) -> dict:
    """The summary's runs in `REGULARIZERS` order (summary.json stores its keys sorted)."""
    return {name: summary["runs"][name] for name in REGULARIZERS if name in summary["runs"]}


def results_table(summary: dict) -> str:
    """The Markdown table of ``experiments/grokking.md``, from a summary (the test compares)."""
    lines = [
        "| regularizer | steps to grok | peak model bits (step) | final model bits "
        "| final train error | final test error | final two-part bits | lowest bound |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = {**ordered_runs(summary), COMPRESS_GROKKED[0]: summary["compress_grokked"]}
    for name, run in rows.items():
        grok = "never" if run["epochs_to_grok"] is None else f"{run['epochs_to_grok']:,}"
        if "start" in run and run["epochs_to_grok"] == 0:
            grok = "0 (starts grokked)"
        lines.append(
            f"| {name} | {grok} | {run['peak_model_bits']:,} ({run['peak_model_step']:,}) "
            f"| {run['final_model_bits']:,} | {100 * run['final_train_error']:.2f}% "
            f"| {100 * run['final_test_error']:.2f}% | {run['final_two_part_bits']:,.0f} "
            f"| {run['min_bound']:.4f} |"
        )
    return "\n".join(lines)


def plot_complexity(summary: dict, path: Path) -> None:
    """Model bits (real files) and train/test accuracy against step, a panel per run, and a
    last panel for the MDL objective trained from weight decay's final weights."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window; set here, not at import
    import matplotlib.pyplot as plt

    panels = {**ordered_runs(summary), "weight_decay, then mdl": summary["compress_grokked"]}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), sharey=True)
    for ax, (name, run) in zip(axes, panels.items(), strict=True):
        curve = [point for point in run["curve"] if point["step"] > 0]  # a log axis
        steps = [point["step"] for point in curve]
        ax.plot(steps, [point["model_bits"] for point in curve], "k-", label="model file bits")
        capped = [point for point in curve if not point["predictions_kept"]]
        ax.plot(
            [point["step"] for point in capped],
            [point["model_bits"] for point in capped],
            "kx",
            ms=4,
            label="finest step, predictions changed",
        )
        ax.axhline(summary["uniform_bits"], color="grey", ls=":", label="labels, uniform code")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(name, fontsize=10)
        accuracy = ax.twinx()
        accuracy.plot(steps, [1 - point["train_error"] for point in curve], "C0--", label="train")
        accuracy.plot(steps, [1 - point["test_error"] for point in curve], "C3-", label="test")
        accuracy.set_ylim(0, 1.02)
        if ax is not axes[-1]:
            accuracy.set_yticklabels([])
        else:
            accuracy.set_ylabel("accuracy")
    axes[0].set_ylabel("bits")
    handles = [h for a in (axes[0], accuracy) for h in a.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bound(summary: dict, path: Path) -> None:
    """The Occam bound (solid) and the test error (dashed) of each run over training, on the
    whole error range and zoomed in on the bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (whole, zoom) = plt.subplots(1, 2, figsize=(10, 4))
    for color, (name, run) in enumerate(ordered_runs(summary).items()):
        curve = [point for point in run["curve"] if point["step"] > 0]
        steps = [point["step"] for point in curve]
        bounds = [point["bound"] for point in curve]
        whole.plot(steps, bounds, f"C{color}-", label=f"{name} bound")
        whole.plot(steps, [point["test_error"] for point in curve], f"C{color}--", lw=0.8)
        zoom.plot(steps, bounds, f"C{color}-", label=name)
    whole.set_ylim(0, 1.02)
    whole.set_ylabel("error (dashed: test error)")
    whole.set_title(f"Occam bound, delta {DELTA}, and test error", fontsize=10)
    zoom.set_ylabel("bound on the error")
    zoom.set_title("the bound alone", fontsize=10)
    for ax in (whole, zoom):
        ax.set_xscale("log")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(
        __doc__, "grokking", smoke="p = 23, a tiny MLP, 200 steps (for tests)"
    )
    parser.add_argument("--seed", type=int, default=0, help="split, initial weights, step keys")
    parser.add_argument("--op", default="+", choices=["+", "-", "*", "/"], help="the operation")
    args = parser.parse_args(argv)
    settings = dataclasses.replace(SMOKE if args.smoke else FULL, seed=args.seed, op=args.op)
    data = load_modular_arithmetic(settings.p, settings.op, settings.train_fraction, settings.seed)
    steps_at = checkpoint_steps(settings.steps, settings.block, settings.checkpoints)
    compress_at = checkpoint_steps(settings.compress_steps, settings.block, COMPRESS_CHECKPOINTS)
    selection_bits = math.log2(len(steps_at) * len(REGULARIZERS) + len(compress_at))
    graphdef, params = split_params(build_model(settings))
    checkpointer = Checkpointer(settings, data, graphdef, selection_bits)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{data.source}: {len(data.y_train)} train, {len(data.y_test)} test", flush=True)
    runs, final_params = {}, {}
    for name, reg in REGULARIZERS.items():
        runs[name], final_params[name] = train_run(
            name, reg, settings, data, checkpointer, set(steps_at), args.out
        )
    name, reg = COMPRESS_GROKKED
    compressed, _ = train_run(
        name, reg, settings, data, checkpointer, set(compress_at), args.out,
        params=final_params["weight_decay"], steps=settings.compress_steps,
    )  # fmt: skip
    compressed["start"] = "weight_decay's final weights"
    num_params = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(params))
    summary = {
        "smoke": args.smoke,
        "data": data.source,
        "settings": settings.to_dict(),
        "regularizers": {name: reg.to_dict() for name, reg in REGULARIZERS.items()},
        "adam_betas": list(ADAM_BETAS),
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "num_params": num_params,
        "float32_bits": 32 * num_params,
        "uniform_bits": len(data.y_train) * math.log2(settings.p),
        "structure_bits": checkpointer.structure,
        "checkpoint_steps": steps_at,
        "compress_checkpoint_steps": compress_at,
        "bound_selection_bits": selection_bits,
        "delta": DELTA,
        "grok_accuracy": GROK_ACCURACY,
        "bits_per_std_grid": [BITS_PER_STD_GRID[0], BITS_PER_STD_GRID[-1], len(BITS_PER_STD_GRID)],
        "runs": runs,
        "compress_grokked": compressed,
    }
    plot_complexity(summary, args.out / "complexity.png")
    plot_bound(summary, args.out / "bound.png")
    write_summary(args.out, summary, start)
    print(results_table(summary))
    print(f"summary: {args.out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()
