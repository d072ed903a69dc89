"""The one exception for bytes that cannot be decoded."""


class CodecError(ValueError):
    """Bytes that are truncated, corrupted, of an unknown format version, or inconsistent with
    the model they are decoded against. Decoders raise this, never crash, hang or allocate what
    a header claims before checking it against the bytes present."""
