"""mdl: minimum description length for neural networks in JAX.

Total description length = bits for the model + bits for the data given the model, in bits.
``mdl.codes`` computes code lengths, ``mdl.codec`` writes them to real bytes.
"""

from mdl import codec, codes
from mdl.codec import (
    CodecError,
    decode_labels,
    decode_symbols,
    encode_labels,
    encode_symbols,
)
from mdl.codes import (
    bernoulli_bits,
    categorical_bits,
    discretized_gaussian_bits,
    discretized_logistic_bits,
    elias_delta_bits,
    elias_gamma_bits,
    elias_omega_bits,
    log2_binomial,
    log_star_bits,
    uniform_bits,
)

__version__ = "0.1.0"

__all__ = [
    "CodecError",
    "__version__",
    "bernoulli_bits",
    "categorical_bits",
    "codec",
    "codes",
    "decode_labels",
    "decode_symbols",
    "discretized_gaussian_bits",
    "discretized_logistic_bits",
    "elias_delta_bits",
    "elias_gamma_bits",
    "elias_omega_bits",
    "encode_labels",
    "encode_symbols",
    "log2_binomial",
    "log_star_bits",
    "uniform_bits",
]
