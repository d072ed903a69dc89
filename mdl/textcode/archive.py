r"""A language model as a real compressor of bytes: the online and the two-part text codes.

``compress_text(data, settings)`` writes an archive; ``decompress_text(archive)`` gives the
bytes back exactly. Both methods model the bytes with a character GRU
(`mdl.textcode.predictor`) over the file's own alphabet (the byte values present), read as
``B`` interleaved streams (`mdl.textcode.streams`), and code every symbol with its predicted
probabilities through a range coder (`mdl.codec.range_stream`):

* **online** (adaptive, prequential; Bellard's NNCP): the model starts from the seeded
  initialization in the settings, codes each window of ``T`` steps with its current
  predictions, then takes one Adam step on that window; the decoder decodes the window and
  takes the same step. No weights are sent: the archive is settings + alphabet + coded text,
  and its length is the prequential code $\sum_i -\log_2 p_{\theta_{i-1}}(x_i \mid x_{<i})$
  (Dawid 1984; Blier and Ollivier 2018 call it the online code).
* **two-part**: the model is first trained on the whole text for some epochs on
  ``data bits + beta x model bits`` with a learned quantizer (`mdl.compress.quantizer`), then
  written as a compact model file, decoded back, and the text coded with the decoded model:
  archive = settings + alphabet + model file + text given model, $L(M) + L(D \mid M)$.

Determinism contract: the decoder must compute the same probabilities as the encoder, bit for
bit. Both run the same compiled step (`mdl.textcode.predictor.make_predict`) on the same values;
XLA's output can differ across machine types and library versions, so the archive records
them (`environment`) and the decoder refuses a mismatch with a clear error (unless told to try
anyway); a CRC-32 of the text catches anything else, as `CodecError`, never wrong bytes.

The archive is an mdl container (`mdl.codec.container`, kind ``TEXT``): ``HEAD`` (JSON:
method, settings, length, checksum, environment), ``ALPH`` (a 256-bit mask of the byte values
present), ``MODL`` (the compact model file: always for the two-part code, and for the online
code when it starts from a given model) and ``DATA`` (the range-coded text).
Its size is what the experiments report, headers included.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import platform
import zlib
from collections.abc import Callable
from importlib import metadata
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from mdl.codec import container
from mdl.codec.errors import CodecError
from mdl.codec.range_stream import RowReader, RowWriter
from mdl.compress import float32_baseline, quantizer
from mdl.compress.files import decode_compressed, encode_compressed
from mdl.engine import init_state
from mdl.params import split_params
from mdl.textcode.predictor import ModelSpec, initial_state, make_predict, make_train
from mdl.textcode.streams import Streams

KIND = "TEXT"
METHODS = ("online", "two-part")
"""The two text codes: learn while coding (no weights sent), or train, send the model, code."""
MAX_TEXT_BYTES = 1 << 31  # the most bytes one archive holds
# What a decoder agrees to rebuild unless told otherwise: its working arrays take 4 bytes per
# character (1 GiB here), allocated from the header's declared length before any decoding.
DEFAULT_MAX_DECODED_BYTES = 1 << 28
_MAX_SETTING = 1 << 16
_PACKAGES = ("mdl", "jax", "jaxlib", "flax", "optax", "numpy", "constriction")


@dataclasses.dataclass(frozen=True)
class TextCodeSettings:
    """Everything the decoder needs besides the archive's data (all of it in the header).

    Attributes:
      method: ``"online"`` or ``"two-part"``.
      streams: interleaved streams ``B`` the text is coded as (one batched step serves ``B``
        symbols).
      window: online only, steps ``T`` per training window (truncated backpropagation
        through time): the model takes one Adam step per ``B x T`` symbols.
      embed_dim: the GRU model's embedding width.
      hidden: the GRU's width.
      seed: the seed of the model's initial weights (all the online code sends of them).
      learning_rate: the online code's Adam step, ``learning_rate / sqrt(1 + t / decay_steps)``
        after ``t`` updates (constant when ``decay_steps`` is 0).
      decay_steps: online only, the time scale of that decay, in updates.
      epochs: two-part only, training passes over the text before it is coded.
      train_streams: two-part only, the streams the training reads the text as.
      train_window: two-part only, steps per training window.
      train_learning_rate: two-part only, Adam's initial step (cosine decay to zero).
      beta: two-part only, the weight of the model's bits in the training loss.

    The online defaults (16 streams, windows of 8 steps, Adam 0.005 decaying over 500 updates)
    were picked by code length on prefixes of ``kjv.txt`` (nine settings on its first 200,000
    characters, six on its first million; see ``experiments/text_compression.md``).
    """

    method: str = "online"
    streams: int = 16
    window: int = 8
    embed_dim: int = 32
    hidden: int = 256
    seed: int = 0
    learning_rate: float = 5e-3
    decay_steps: int = 500
    epochs: int = 4
    train_streams: int = 64
    train_window: int = 64
    train_learning_rate: float = 3e-3
    beta: float = 1.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {self.method!r}")
        positive = ("streams", "window", "embed_dim", "hidden", "epochs", "train_streams")
        for name in (*positive, "train_window"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
            # Caps far above any setting a CPU or GPU can use, so that a forged archive
            # header cannot make the decoder build a model of billions of weights.
            if value > _MAX_SETTING:
                raise ValueError(f"{name} must be at most {_MAX_SETTING}; got {value!r}")
        if not isinstance(self.decay_steps, int) or self.decay_steps < 0:
            raise ValueError(
                f"decay_steps must be a non-negative integer; got {self.decay_steps!r}"
            )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {self.seed!r}")
        for name in ("learning_rate", "train_learning_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, float | int) and value > 0):
                raise ValueError(f"{name} must be > 0; got {value!r}")
        if not (isinstance(self.beta, float | int) and self.beta >= 0):
            raise ValueError(f"beta must be >= 0; got {self.beta!r}")

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict (what the archive header stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TextCodeSettings:
        """Settings from `to_dict`'s dict; unknown keys and invalid values raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"unknown text-code settings {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**values)


def environment() -> dict:
    """What the archive's probabilities depend on besides its own bytes: package versions,
    the machine type and the JAX backend."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "versions": versions,
        "machine": platform.machine(),
        "system": platform.system(),
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
    }


def _alphabet_mask(values: np.ndarray) -> bytes:
    present = np.zeros(256, bool)
    present[values] = True
    return np.packbits(present, bitorder="little").tobytes()


def _alphabet_of(mask: bytes) -> np.ndarray:
    if len(mask) != 32:
        raise CodecError(f"alphabet section must be 32 bytes; got {len(mask)}")
    present = np.unpackbits(np.frombuffer(mask, np.uint8), bitorder="little").astype(bool)
    alphabet = np.flatnonzero(present).astype(np.uint8)
    if alphabet.size == 0:
        raise CodecError("alphabet section names no byte values")
    return alphabet


Progress = Callable[[int, float], None]  # (symbols done so far, bits spent so far)


@functools.cache
def _online_program(spec: ModelSpec, learning_rate: float, decay_steps: int):
    """``(graphdef, optimizer, train step)`` of the online code, compiled once per process
    for each model and learning rate (every archive of a test suite would compile again)."""
    compressor = float32_baseline()
    schedule = learning_rate
    if decay_steps:
        # Both sides count updates identically, so a schedule costs nothing in the archive.
        schedule = lambda count: learning_rate / jnp.sqrt(1.0 + count / decay_steps)  # noqa: E731
    graphdef, _, optimizer = initial_state(spec, compressor, optax.adam(schedule))
    return graphdef, optimizer, make_train(graphdef, compressor, optimizer, 0.0, 1)


class _OnlineLearner:
    """The online code's model: seeded initialization, one Adam step per coded window."""

    def __init__(self, spec: ModelSpec, settings: TextCodeSettings, params=None):
        self.graphdef, optimizer, self._step = _online_program(
            spec, settings.learning_rate, settings.decay_steps
        )
        if params is None:
            _, params = split_params(spec.build())
        self.state = init_state(params, {}, optimizer)
        self._key = jax.random.key(settings.seed)  # unused by the identity compressor

    def update(self, carry, inputs, targets, mask):
        self.state, _, _ = self._step(self.state, carry, inputs, targets, mask, self._key)
        return self.state.params


def _code(spec, settings, layout, grid, coder, model=None, progress=None):
    """Run the model over the streams, coding (``coder`` a `RowWriter`: ``grid`` holds the
    text) or decoding (a `RowReader`: ``grid`` is filled in) every step. The model is
    ``model``'s (a `TextModel`) or, for the online code without one, the seed's; the online
    code takes one update after every window but the last. Encoder and decoder both run
    exactly this function, so they call the same compiled functions on the same values."""
    learner = None
    if model is not None:
        graphdef, params = model.params()
    if settings.method == "online":
        learner = _OnlineLearner(spec, settings, None if model is None else params)
        graphdef, params = learner.graphdef, learner.state.params
    window = settings.window
    decoding = isinstance(coder, RowReader)
    predict = make_predict(graphdef)
    carry = jnp.zeros((layout.streams, spec.hidden), jnp.float32)
    previous = np.zeros(layout.streams, np.int32)
    bits, done = 0.0, 0
    for start in range(0, layout.length, window):
        stop = min(start + window, layout.length)
        window_carry = carry
        for t in range(start, stop):
            carry, probs = predict(params, carry, previous)
            active = layout.active(t)
            rows = np.asarray(probs, np.float64)[:active]
            if decoding:
                grid[:active, t] = coder.read(rows)
            else:
                coder.write(grid[:active, t], rows)
                bits -= float(np.sum(np.log2(rows[np.arange(active), grid[:active, t]])))
            previous = grid[:, t].copy()
            done += active
        if progress is not None:
            progress(done, bits)
        if learner is not None and stop < layout.length:
            params = learner.update(window_carry, *_window_arrays(layout, grid, start, window))
    return grid


def _window_arrays(layout: Streams, grid: np.ndarray, start: int, window: int):
    """``(inputs, targets, mask)`` ``[B, window]`` for the window at ``start`` (padded past
    the end of the streams; the mask marks the text's positions)."""
    stop = min(start + window, layout.length)
    targets = np.zeros((layout.streams, window), np.int32)
    targets[:, : stop - start] = grid[:, start:stop]
    inputs = np.zeros((layout.streams, window), np.int32)
    lo = max(start - 1, 0)
    inputs[:, lo + 1 - start : stop - start] = grid[:, lo : stop - 1]
    return inputs, targets, layout.mask(start, start + window)


class TextModel(NamedTuple):
    """A trained character model as the archives carry it: the byte values it predicts
    (``alphabet``, sorted uint8), its shape (``spec``) and its compact model file
    (``model_file``, quantized weights; ``8 * len`` is its code length in bits)."""

    alphabet: np.ndarray
    spec: ModelSpec
    model_file: bytes

    def params(self):
        """The model's decoded weights (the same bits on every reader)."""
        return split_params(decode_compressed(self.model_file, self.spec.build()))


def _symbols(raw: np.ndarray, alphabet: np.ndarray) -> np.ndarray:
    lookup = np.full(256, -1, np.int32)
    lookup[alphabet] = np.arange(alphabet.size)
    symbols = lookup[raw]
    if symbols.size and symbols.min() < 0:
        missing = sorted(set(np.unique(raw).tolist()) - set(alphabet.tolist()))
        raise ValueError(f"data holds byte values {missing[:8]} that the model's alphabet lacks")
    return symbols


def _as_bytes(data, name: str = "data") -> np.ndarray:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{name} must be bytes; got {type(data).__name__}")
    raw = np.frombuffer(bytes(data), np.uint8)
    if raw.size == 0:
        raise ValueError(f"{name} is empty: there is nothing to compress")
    if raw.size > MAX_TEXT_BYTES:
        raise ValueError(f"{name} has {raw.size} bytes; at most {MAX_TEXT_BYTES} are supported")
    return raw


def train_text_model(
    data: bytes,
    settings: TextCodeSettings | None = None,
    *,
    alphabet: bytes | None = None,
    log: Callable[[str], None] | None = None,
) -> TextModel:
    """The two-part code's model trained on ``data`` (``settings.epochs`` passes on
    ``data bits + beta x model bits`` with a learned quantizer), as a `TextModel`.

    Pass it to `compress_text` (``model=``) to code other text with it: a model trained on one
    corpus (the Old Testament) coding another (the New), fixed or fine-tuned online.
    ``alphabet`` (the byte values the model predicts; default: those in ``data``) must
    cover every text it will code.
    """
    settings = settings or TextCodeSettings(method="two-part")
    raw = _as_bytes(data)
    values = np.unique(raw if alphabet is None else np.frombuffer(bytes(alphabet), np.uint8))
    spec = ModelSpec(int(values.size), settings.embed_dim, settings.hidden, settings.seed)
    _, blob = _train_two_part(spec, settings, _symbols(raw, values), log)
    return TextModel(values.astype(np.uint8), spec, blob)


def _train_two_part(spec, settings, symbols, progress_text):
    """Train the model on the whole text for ``settings.epochs`` passes, the quantizer learning
    its steps and prior; returns ``(graphdef, model file bytes)``."""
    layout = Streams.of(symbols.size, settings.train_streams)
    grid = layout.grid(symbols)
    window = settings.train_window
    compressor = quantizer()
    windows = math.ceil(layout.length / window)
    schedule = optax.cosine_decay_schedule(settings.train_learning_rate, settings.epochs * windows)
    graphdef, state, optimizer = initial_state(spec, compressor, optax.adam(schedule))
    step = make_train(graphdef, compressor, optimizer, settings.beta, layout.n)
    key = jax.random.key(settings.seed)
    for epoch in range(settings.epochs):
        carry = jnp.zeros((layout.streams, spec.hidden), jnp.float32)
        bits = 0.0
        for index, start in enumerate(range(0, layout.length, window)):
            inputs, targets, mask = _window_arrays(layout, grid, start, window)
            step_key = jax.random.fold_in(jax.random.fold_in(key, epoch), index)
            state, carry, window_bits = step(state, carry, inputs, targets, mask, step_key)
            bits += float(window_bits)
        if progress_text is not None:
            progress_text(
                f"two-part training epoch {epoch + 1}/{settings.epochs}: "
                f"{bits / max(layout.n, 1):.3f} bits/char"
            )
    model = nnx.merge(graphdef, state.params)
    return graphdef, encode_compressed(model, compressor, state.cstate, compact=True)


def compress_text(
    data: bytes,
    settings: TextCodeSettings | None = None,
    *,
    model: TextModel | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> bytes:
    """The archive of ``data`` (module doc); `decompress_text` gives ``data`` back.

    Args:
      data: the bytes to compress (any bytes: the alphabet is the byte values present).
      settings: `TextCodeSettings` (default: the online code, GRU 256, 16 streams).
      model: a `TextModel` trained elsewhere (`train_text_model`), sent in the archive (its
        bits counted once): the two-part code then codes ``data`` with it as it is, and the
        online code starts from its weights instead of the seed's (fine-tuning as it codes).
        Its alphabet and widths replace ``data``'s alphabet and the settings' widths.
      progress: called after every window with (symbols coded, bits so far).
      log: called with a line of text at each training epoch (two-part).

    Returns:
      The archive's bytes; ``8 * len`` is the code length reported for ``data``.

    References:
      F. Bellard, "Lossless data compression with neural networks" (NNCP), 2019;
      L. Blier, Y. Ollivier, "The description length of deep learning models", NeurIPS 2018.
    """
    settings = settings or TextCodeSettings()
    raw = _as_bytes(data)
    if model is not None:
        settings = dataclasses.replace(
            settings, embed_dim=model.spec.embed_dim, hidden=model.spec.hidden, seed=model.spec.seed
        )
    else:
        model = train_text_model(data, settings, log=log) if settings.method == "two-part" else None
    alphabet = np.unique(raw) if model is None else model.alphabet
    symbols = _symbols(raw, alphabet)
    spec = ModelSpec(int(alphabet.size), settings.embed_dim, settings.hidden, settings.seed)
    layout = Streams.of(raw.size, settings.streams)
    grid = layout.grid(symbols)
    sections = {} if model is None else {"MODL": model.model_file}
    writer = RowWriter()
    _code(spec, settings, layout, grid, writer, model, progress)
    head = {
        "method": settings.method,
        "settings": settings.to_dict(),
        "length": int(raw.size),
        "crc32": zlib.crc32(raw.tobytes()),
        "environment": environment(),
    }
    return container.pack(
        KIND,
        {
            "HEAD": json.dumps(head, sort_keys=True, separators=(",", ":")).encode(),
            "ALPH": _alphabet_mask(alphabet),
            **sections,
            "DATA": writer.finish(),
        },
    )


def read_header(archive: bytes) -> dict:
    """The archive's header (method, settings, length, checksum, environment), checked."""
    sections = container.unpack(archive, KIND)
    (head,) = container.require(sections, "HEAD")
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CodecError(f"archive header is not valid JSON: {error}") from error
    if not isinstance(header, dict) or not {"settings", "length", "crc32"} <= set(header):
        raise CodecError("archive header lacks settings, length or crc32")
    length = header["length"]
    if not isinstance(length, int) or not 1 <= length <= MAX_TEXT_BYTES:
        raise CodecError(f"archive declares {length!r} bytes; expected 1 to {MAX_TEXT_BYTES}")
    try:
        header["settings"] = TextCodeSettings.from_dict(header["settings"])
    except (TypeError, ValueError) as error:
        raise CodecError(f"archive settings are invalid: {error}") from error
    return header


def decompress_text(
    archive: bytes,
    *,
    check_environment: bool = True,
    progress: Progress | None = None,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> bytes:
    """The bytes `compress_text` coded into ``archive``.

    ``max_bytes`` (256 MiB) is the longest text the decoder agrees to rebuild: it allocates
    4 bytes per declared character before decoding any, so a forged length is refused rather
    than allocated; raise it for larger archives.

    Raises:
      CodecError: a truncated or corrupted archive, one declaring more than ``max_bytes``,
        or one whose decoding fails its checksum.
      ValueError: an archive written on another machine type or with other library versions
        (``check_environment=False`` tries anyway; the checksum still guards the output).
    """
    header = read_header(archive)
    if header["length"] > max_bytes:
        raise CodecError(
            f"archive declares {header['length']:,} bytes, more than max_bytes={max_bytes:,}; "
            "pass a larger max_bytes to decode it"
        )
    sections = container.unpack(archive, KIND)
    alphabet_mask, payload = container.require(sections, "ALPH", "DATA")
    settings: TextCodeSettings = header["settings"]
    if check_environment:
        here, there = environment(), header.get("environment")
        if here != there:
            differing = sorted(
                k for k in set(here) | set(there or {}) if here.get(k) != (there or {}).get(k)
            )
            raise ValueError(
                f"the archive was written with another environment ({', '.join(differing)} "
                f"differ: archive {[(there or {}).get(k) for k in differing]}, here "
                f"{[here.get(k) for k in differing]}); the model's probabilities, and so the "
                "decoded text, need the same machine type and library versions. Pass "
                "check_environment=False to try anyway (a checksum guards the output)."
            )
    alphabet = _alphabet_of(alphabet_mask)
    spec = ModelSpec(int(alphabet.size), settings.embed_dim, settings.hidden, settings.seed)
    layout = Streams.of(header["length"], settings.streams)
    grid = np.zeros((layout.streams, layout.length), np.int32)
    model = None
    if "MODL" in sections or settings.method == "two-part":
        (blob,) = container.require(sections, "MODL")
        model = TextModel(alphabet, spec, blob)
    _code(spec, settings, layout, grid, RowReader(payload), model, progress)
    symbols = layout.flat(grid)
    if symbols.size and symbols.max() >= alphabet.size:
        raise CodecError("decoded symbols lie outside the archive's alphabet")
    text = alphabet[symbols].tobytes()
    if zlib.crc32(text) != header["crc32"]:
        raise CodecError("decoded text fails its checksum: the archive or the model differs")
    return text
