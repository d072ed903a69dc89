"""``DescriptionLength``: a total code length, its parts, and how it compares to uniform."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DescriptionLength:
    r"""A description length in bits, broken into named parts.

    The total is $L = \sum_{\text{parts}} L_{\text{part}}$ bits, compared with the uniform
    code's $n \log_2 K$ bits (`ratio_to_uniform`). Construction refuses $n < 1$, $K < 2$ and
    negative or non-finite parts.

    Attributes:
      method: the estimator (``"two_part"``, ``"variational"``, ``"prequential"``, ...).
      parts: bits per part, e.g. ``{"structure": ..., "params": ..., "data": ...}``; the total
        is their sum.
      num_examples: examples whose labels are described (n).
      num_classes: label alphabet size (K); the uniform code costs ``n log2 K`` bits.
      real: whether every part is the size of bytes actually written (a file that decodes).
      details: anything else worth keeping (estimates beside real sizes, accuracies, chunk
        tables); must be JSON-serializable.

    References:
      P. Grünwald, "The Minimum Description Length Principle", MIT Press, 2007.
    """

    method: str
    parts: dict[str, float]
    num_examples: int
    num_classes: int
    real: bool = False
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.num_examples < 1 or self.num_classes < 2:
            raise ValueError(
                f"need num_examples >= 1 and num_classes >= 2; got {self.num_examples}, "
                f"{self.num_classes}"
            )
        for name, bits in self.parts.items():
            if not math.isfinite(bits) or bits < 0:
                raise ValueError(
                    f"part {name!r} must be a finite, non-negative bit count; got {bits}"
                )

    @property
    def total_bits(self) -> float:
        """The total description length in bits: the sum of ``parts``."""
        return float(sum(self.parts.values()))

    @property
    def bits_per_example(self) -> float:
        """``total_bits / num_examples``: bits per example."""
        return self.total_bits / self.num_examples

    @property
    def uniform_bits(self) -> float:
        r"""The uniform code's length $n \log_2 K$ in bits, the baseline of `ratio_to_uniform`."""
        return self.num_examples * math.log2(self.num_classes)

    @property
    def ratio_to_uniform(self) -> float:
        """Total over the uniform code's length: below 1 means the data was compressed."""
        return self.total_bits / self.uniform_bits

    def to_json(self) -> dict:
        """The report as a JSON-ready dict (parts in bits as floats); `from_json` reads it."""
        return {
            "method": self.method,
            "parts": {k: float(v) for k, v in self.parts.items()},
            "num_examples": self.num_examples,
            "num_classes": self.num_classes,
            "real": self.real,
            "details": self.details,
            "total_bits": self.total_bits,
            "bits_per_example": self.bits_per_example,
            "uniform_bits": self.uniform_bits,
            "ratio_to_uniform": self.ratio_to_uniform,
        }

    @classmethod
    def from_json(cls, obj: dict | str) -> DescriptionLength:
        """The report `to_json` wrote, from the dict or its JSON text."""
        if isinstance(obj, str):
            obj = json.loads(obj)
        return cls(
            obj["method"],
            dict(obj["parts"]),
            int(obj["num_examples"]),
            int(obj["num_classes"]),
            bool(obj.get("real", False)),
            dict(obj.get("details", {})),
        )

    def __str__(self) -> str:
        kind = "real bytes" if self.real else "estimate"
        lines = [
            f"{self.method} code ({kind}): {self.total_bits:,.0f} bits for {self.num_examples:,} "
            f"labels, {self.bits_per_example:.4f} bits/example, "
            f"{self.ratio_to_uniform:.2%} of uniform ({self.uniform_bits:,.0f} bits)"
        ]
        width = max(len(name) for name in self.parts) if self.parts else 0
        for name, bits in self.parts.items():
            lines.append(f"  {name:<{width}}  {bits:>14,.1f} bits")
        return "\n".join(lines)
