"""Compressors over parameter pytrees (see ``base.py`` for the protocol)."""

from mdl.codec.model import CodebookLeaf, GroupedLeaf, LiveBlockLeaf, SparseLeaf
from mdl.compress.base import (
    FLOAT32_BITS,
    AdvanceFn,
    ApplyFn,
    BitsFn,
    Compressor,
    FinalizeFn,
    HardFn,
    InitFn,
    LabelsFn,
    QuantizedLeaf,
    RawLeaf,
    chain,
    float32_baseline,
    leafwise,
    leaves_with_paths,
    make_optimizer,
    map_leaves,
    optimizer_labels,
    selected_paths,
)
from mdl.compress.bit_width import BitWidthState, learned_bit_width
from mdl.compress.delta_code import decode_delta, delta, encode_delta, reference_params
from mdl.compress.files import load_compressed, save_compressed, split_params
from mdl.compress.gaussian_posterior import (
    GaussianPosteriorState,
    gaussian_posterior,
    optimal_prior_kl_bits,
)
from mdl.compress.low_rank import lora
from mdl.compress.prune import (
    constant_sparsity,
    hard_concrete,
    magnitude,
    polynomial_decay_sparsity,
    sparse_variational_dropout,
)
from mdl.compress.quantize import QuantState, quantizer
from mdl.compress.share import kmeans

__all__ = [
    "FLOAT32_BITS",
    "AdvanceFn",
    "ApplyFn",
    "BitsFn",
    "BitWidthState",
    "CodebookLeaf",
    "Compressor",
    "FinalizeFn",
    "GaussianPosteriorState",
    "GroupedLeaf",
    "HardFn",
    "InitFn",
    "LabelsFn",
    "LiveBlockLeaf",
    "QuantState",
    "QuantizedLeaf",
    "RawLeaf",
    "SparseLeaf",
    "chain",
    "constant_sparsity",
    "decode_delta",
    "delta",
    "encode_delta",
    "float32_baseline",
    "gaussian_posterior",
    "hard_concrete",
    "kmeans",
    "learned_bit_width",
    "leafwise",
    "leaves_with_paths",
    "load_compressed",
    "lora",
    "magnitude",
    "make_optimizer",
    "map_leaves",
    "optimal_prior_kl_bits",
    "optimizer_labels",
    "reference_params",
    "polynomial_decay_sparsity",
    "quantizer",
    "save_compressed",
    "selected_paths",
    "sparse_variational_dropout",
    "split_params",
]
