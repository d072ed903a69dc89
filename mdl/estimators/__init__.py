"""Description-length estimators: the same labels, three standard codes, in bits.

* `two_part`: L(structure) + L(params) (the compressor's real file) + L(D | params)
  (the labels coded for real with the model's probabilities);
* `variational`: the bits-back code KL(q || p) + E_q[L(D | theta)] of a mean-field
  Gaussian posterior (an estimate; not written to a file);
* `prequential`: the online code, each chunk sent with a model trained on the chunks
  before it (real: `encode_prequential` / `decode_prequential`).

Each returns a `DescriptionLength`.
"""

from mdl.estimators.prequential import (
    PrequentialSettings,
    chunk_boundaries,
    decode_prequential,
    encode_prequential,
    prequential,
)
from mdl.estimators.report import DescriptionLength
from mdl.estimators.two_part import structure_bits, two_part
from mdl.estimators.variational import GaussianPosterior, kl_bits, variational

__all__ = [
    "DescriptionLength",
    "GaussianPosterior",
    "PrequentialSettings",
    "chunk_boundaries",
    "decode_prequential",
    "encode_prequential",
    "kl_bits",
    "prequential",
    "structure_bits",
    "two_part",
    "variational",
]
