"""Language models as real compressors of text (and of any bytes).

``compress_text(data, TextCodeSettings(method="online" | "two-part"))`` and
``decompress_text(archive)``: see `mdl.textcode.archive` for the two codes and the
determinism contract; `mdl.textcode.streams` for the interleaved layout,
`mdl.textcode.predictor` for the model's compiled steps and `mdl.textcode.evaluate` for ideal
code lengths and the Occam bound of a trained model.
"""

from mdl.textcode.archive import (
    METHODS,
    TextCodeSettings,
    TextModel,
    compress_text,
    decompress_text,
    environment,
    read_header,
    train_text_model,
)

__all__ = [
    "METHODS",
    "TextCodeSettings",
    "TextModel",
    "compress_text",
    "decompress_text",
    "environment",
    "read_header",
    "train_text_model",
]
