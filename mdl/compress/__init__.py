"""Compressors over parameter pytrees (see ``base.py`` for the protocol)."""

from mdl.compress.base import (
    FLOAT32_BITS,
    Compressor,
    QuantizedLeaf,
    RawLeaf,
    float32_baseline,
    leaves_with_paths,
    selected_paths,
)
from mdl.compress.files import load_compressed, save_compressed, split_params
from mdl.compress.quantize import QuantState, quantizer

__all__ = [
    "FLOAT32_BITS",
    "Compressor",
    "QuantState",
    "QuantizedLeaf",
    "RawLeaf",
    "float32_baseline",
    "leaves_with_paths",
    "load_compressed",
    "quantizer",
    "save_compressed",
    "selected_paths",
    "split_params",
]
