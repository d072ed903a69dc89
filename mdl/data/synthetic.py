"""Synthetic tasks generated from a seed, whose true labelling rule is known exactly.

Known rules make them the place to test claims about description length: the shortest
description of the labels is (close to) the description of the rule.
"""

from __future__ import annotations

import numpy as np

from mdl.data.dataset import Dataset

OPERATIONS = ("+", "-", "*", "/")


def _split(
    n: int, train_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1); got {train_fraction}")
    order = rng.permutation(n)
    cut = int(round(train_fraction * n))
    if cut == 0 or cut == n:
        raise ValueError(f"train_fraction {train_fraction} leaves an empty split of {n} examples")
    return order[:cut], order[cut:]


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, int(p**0.5) + 1))


def load_modular_arithmetic(
    p: int = 97, op: str = "+", train_fraction: float = 0.5, seed: int = 0
) -> Dataset:
    r"""All equations ``a op b = c (mod p)`` for ``a, b`` in ``[0, p)``, split at random.

    The grokking setting (Power et al., "Grokking: generalization beyond overfitting on small
    algorithmic datasets", 2022). ``x`` holds the token pair ``[a, b]`` (int64), ``y = c``.
    Division is multiplication by the modular inverse and needs ``p`` prime and ``b != 0``.

    Args:
      p: the modulus, an integer $\ge 2$ (prime for ``"/"``).
      op: ``"+"``, ``"-"``, ``"*"`` or ``"/"``.
      train_fraction: the share of the $p^2$ equations ($p(p - 1)$ for ``"/"``) in the train
        split, in $(0, 1)$.
      seed: the split's seed.

    Returns:
      A `Dataset` with ``p`` classes and ``input_shape`` ``(2,)``.

    References:
      A. Power, Y. Burda, H. Edwards, I. Babuschkin, V. Misra, "Grokking: generalization
      beyond overfitting on small algorithmic datasets", 2022.
    """
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {OPERATIONS}; got {op!r}")
    if not isinstance(p, int) or p < 2:
        raise ValueError(f"p must be an integer >= 2; got {p!r}")
    if op == "/" and not _is_prime(p):
        raise ValueError(f"op '/' needs a prime p so every b != 0 has an inverse; got p={p}")
    a, b = np.meshgrid(np.arange(p), np.arange(1 if op == "/" else 0, p), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    if op == "+":
        c = (a + b) % p
    elif op == "-":
        c = (a - b) % p
    elif op == "*":
        c = (a * b) % p
    else:
        inverse = np.array([pow(int(v), -1, p) for v in range(1, p)])
        c = (a * inverse[b - 1]) % p
    x = np.stack([a, b], axis=1).astype(np.int64)
    train, test = _split(len(c), train_fraction, np.random.default_rng(seed))
    return Dataset(
        x[train],
        c[train].astype(np.int64),
        x[test],
        c[test].astype(np.int64),
        num_classes=p,
        input_shape=(2,),
        source=f"modular arithmetic a {op} b mod {p}, train fraction {train_fraction}, seed {seed}",
        extras={"p": p, "op": op},
    )


def load_sparse_parity(
    num_bits: int = 40,
    num_relevant: int = 3,
    num_train: int = 2000,
    num_test: int = 1000,
    seed: int = 0,
) -> Dataset:
    r"""Uniform random bit strings labelled by the parity of ``num_relevant`` hidden bits.

    (Barak et al., "Hidden progress in deep learning: SGD learns parities near the computational
    limit", 2022.) ``x`` is float32 in {0, 1}; the chosen bits are ``extras["relevant_bits"]``.

    $y = \big(\sum_{i \in S} x_i\big) \bmod 2$ for a hidden set $S$ of $k$ = ``num_relevant``
    of the $n$ = ``num_bits`` positions: the rule is named in $\log_2 \binom{n}{k}$ bits.

    Args:
      num_bits: $n$, the string length.
      num_relevant: $k$, in $[1, n]$.
      num_train: training examples.
      num_test: test examples.
      seed: the seed of $S$ and of the strings.

    Returns:
      A `Dataset` with 2 classes and ``input_shape`` ``(num_bits,)``.

    References:
      B. Barak, B. L. Edelman, S. Goel, S. Kakade, E. Malach, C. Zhang, "Hidden progress in
      deep learning: SGD learns parities near the computational limit", NeurIPS 2022.
    """
    if not 1 <= num_relevant <= num_bits:
        raise ValueError(f"num_relevant must be in [1, num_bits={num_bits}]; got {num_relevant}")
    if num_train < 1 or num_test < 1:
        raise ValueError("num_train and num_test must be >= 1")
    rng = np.random.default_rng(seed)
    relevant = np.sort(rng.choice(num_bits, size=num_relevant, replace=False))
    x = rng.integers(0, 2, size=(num_train + num_test, num_bits))
    y = x[:, relevant].sum(axis=1) % 2
    x = x.astype(np.float32)
    return Dataset(
        x[:num_train],
        y[:num_train].astype(np.int64),
        x[num_train:],
        y[num_train:].astype(np.int64),
        num_classes=2,
        input_shape=(num_bits,),
        source=f"sparse parity of {num_relevant} of {num_bits} bits, seed {seed}",
        extras={"relevant_bits": relevant},
    )


def teacher_logits(x: np.ndarray, weights: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The teacher's forward pass: tanh hidden layers, linear output."""
    h = x
    for i, (w, b) in enumerate(weights):
        h = h @ w + b
        if i < len(weights) - 1:
            h = np.tanh(h)
    return h


def load_teacher_student(
    input_dim: int = 20,
    hidden: tuple[int, ...] = (32,),
    num_classes: int = 4,
    num_train: int = 2000,
    num_test: int = 1000,
    temperature: float = 0.0,
    seed: int = 0,
) -> Dataset:
    r"""Gaussian inputs labelled by a random teacher network.

    With ``temperature == 0`` the label is the teacher's argmax (a deterministic rule); with
    ``temperature > 0`` it is sampled from ``softmax(logits / temperature)``, so the labels'
    conditional entropy, ``extras["label_entropy_bits"]`` on the test set, is known exactly: the
    floor no code of the test labels given the inputs can beat on average. Teacher weights (LeCun
    normal init) are in ``extras["teacher"]``.

    The teacher is an MLP of sizes ``[input_dim, *hidden, num_classes]`` with tanh hidden
    layers, weights $\mathcal{N}(0, 1/m)$ ($m$ the fan-in), biases $\mathcal{N}(0, 0.01)$;
    its logits are multiplied by 3. With $T$ = ``temperature`` $> 0$,
    $y \sim \operatorname{softmax}(z / T)$ and ``extras["label_entropy_bits"]`` is
    $\sum_{i \in \text{test}} H(p_i) = -\sum_i \sum_c p_{ic} \log_2 p_{ic}$ in bits.

    Args:
      input_dim: the inputs' dimension ($x \sim \mathcal{N}(0, I)$, float32).
      hidden: the teacher's hidden widths.
      num_classes: at least 2.
      num_train: training examples.
      num_test: test examples.
      temperature: 0 for the argmax rule, else the sampling temperature.
      seed: the seed of the teacher, the inputs and the sampled labels.

    Returns:
      A `Dataset` with ``num_classes`` classes and ``input_shape`` ``(input_dim,)``.

    References:
      Y. LeCun, L. Bottou, G. B. Orr, K.-R. Müller, "Efficient BackProp", 1998 (the
      teacher's initialization).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0; got {temperature}")
    if num_classes < 2 or input_dim < 1 or num_train < 1 or num_test < 1:
        raise ValueError("need num_classes >= 2, input_dim >= 1, num_train >= 1, num_test >= 1")
    rng = np.random.default_rng(seed)
    sizes = [input_dim, *hidden, num_classes]
    weights = [
        (rng.normal(0, 1 / np.sqrt(m), size=(m, n)), rng.normal(0, 0.1, size=n))
        for m, n in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    # Labels come from the float32 inputs the caller receives, so the rule is exact for them.
    x = rng.normal(size=(num_train + num_test, input_dim)).astype(np.float32)
    logits = (
        teacher_logits(x.astype(np.float64), weights) * 3.0
    )  # sharper than init scale, so rules are learnable
    extras = {"teacher": weights, "temperature": temperature}
    if temperature == 0:
        y = logits.argmax(axis=1)
        extras["label_entropy_bits"] = 0.0
    else:
        z = logits / temperature
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        y = (rng.random((len(x), 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
        y = np.minimum(y, num_classes - 1)
        entropy = -np.sum(probs * np.log2(np.maximum(probs, 1e-300)), axis=1)
        extras["label_entropy_bits"] = float(entropy[num_train:].sum())
        extras["probs"] = probs
    return Dataset(
        x[:num_train],
        y[:num_train].astype(np.int64),
        x[num_train:],
        y[num_train:].astype(np.int64),
        num_classes=num_classes,
        input_shape=(input_dim,),
        source=f"teacher-student {sizes}, temperature {temperature}, seed {seed}",
        extras=extras,
    )
