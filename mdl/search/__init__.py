"""Search by description length: the configuration whose total code is shortest, the choice
itself paid for in bits (a `SearchSpace` is a prefix code), with Optuna proposing.

    space = SearchSpace([Choice("width", (16, 32, 64)), Real("lr", 1e-4, 1e-2, log=True)])
    result = search(lambda c: two_part_bits(c), space, trials=20, out="results/search")
    result.total_bits  # objective bits + the configuration's codeword
"""

from mdl.search.model_compression import FAMILIES, compress_model, default_space, smoke_space
from mdl.search.space import Choice, Count, IntRange, Real, SearchSpace
from mdl.search.study import SearchResult, search

__all__ = [
    "FAMILIES",
    "Choice",
    "Count",
    "IntRange",
    "Real",
    "SearchResult",
    "SearchSpace",
    "compress_model",
    "default_space",
    "smoke_space",
    "search",
]
