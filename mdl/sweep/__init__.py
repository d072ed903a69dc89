"""Compression-versus-generalization sweeps: many trainings as one compiled program.

A sweep trains one model per point of a grid (``beta`` x ``seed`` x ``label_noise`` x
``train_size`` x ``width``; see `SweepConfig`), where ``beta`` weighs the model bits in
the objective ``data bits + beta x model bits`` (``beta = 1`` is the two-part code length; see
`mdl.engine`). Same-shaped points train as one vmapped, sharded program
(`mdl.sweep.runner`); each finished point is one line of ``DIR/records.jsonl`` with its
real model file in ``DIR/models/`` (`mdl.sweep.folder`). Rerunning resumes; a folder of
another config is refused.
"""

from mdl.sweep.config import (
    AXES,
    COMPRESSORS,
    SetupError,
    SweepConfig,
    build_compressor,
    point_id,
)
from mdl.sweep.folder import ConfigMismatchError, load_config, manifest
from mdl.sweep.runner import RECORD_KEYS, chunk_size, noisy_labels, run

__all__ = [
    "AXES",
    "COMPRESSORS",
    "RECORD_KEYS",
    "ConfigMismatchError",
    "SetupError",
    "SweepConfig",
    "build_compressor",
    "chunk_size",
    "load_config",
    "manifest",
    "noisy_labels",
    "point_id",
    "run",
]
