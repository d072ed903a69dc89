"""Code lengths in bits: data given a model, universal integer codes, discretized priors."""

from mdl.codes import priors
from mdl.codes.data import (
    bernoulli_bits,
    categorical_bits,
    discretized_gaussian_bits,
    discretized_logistic_bits,
)
from mdl.codes.integers import (
    LOG_STAR_NORMALIZER,
    elias_delta_bits,
    elias_gamma_bits,
    elias_omega_bits,
    log2_binomial,
    log_star_bits,
    uniform_bits,
)
from mdl.codes.priors import (
    DiscretizedGaussian,
    DiscretizedLaplace,
    DiscretizedLogistic,
    DiscretizedMixture,
    DiscretizedUniform,
    SpikeAndSlab,
    probability_table,
)

__all__ = [
    "LOG_STAR_NORMALIZER",
    "DiscretizedGaussian",
    "DiscretizedLaplace",
    "DiscretizedLogistic",
    "DiscretizedMixture",
    "DiscretizedUniform",
    "SpikeAndSlab",
    "bernoulli_bits",
    "categorical_bits",
    "discretized_gaussian_bits",
    "discretized_logistic_bits",
    "elias_delta_bits",
    "elias_gamma_bits",
    "elias_omega_bits",
    "log2_binomial",
    "log_star_bits",
    "priors",
    "probability_table",
    "uniform_bits",
]
