"""Hypothesis profiles: ``ci`` (derandomized, loaded when $CI is set) and ``dev`` (random).

Neither has a deadline: the first call of a jitted function compiles, which is not slowness.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# The suite checks what programs compute, not how fast: most of its time is XLA compiling
# small programs, and LLVM at -O0 compiles them ~40% faster (user time of the engine and
# reference-model tests: 145 s -> 89 s on 2 cores). XLA's HLO passes, which decide the
# arithmetic, still run. Set before jax starts, so test subprocesses inherit it too; the
# library, benchmarks and experiments run at XLA's defaults.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

# Many tests compile the same programs (a model's step at the same shapes, in another test or a
# test subprocess), which jax's in-memory cache cannot share across closures or processes. One
# persistent compilation cache per run, shared by the xdist workers and their subprocesses
# through the environment, compiles each once (`make test` on 2 cores: 588 s -> 494 s). It is
# a fresh folder, removed when the run ends, so nothing outlives the code that compiled it. A
# reader that races a writer for one entry gets jax's warning and compiles it again.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="mdl-tests-jax-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # the suite's are all small
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)

import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def shared_data_dir() -> pathlib.Path:
    """$MDL_DATA, else ../shared/data beside the repository (see the shared data README)."""
    return pathlib.Path(os.environ.get("MDL_DATA") or REPO.parent / "shared" / "data")


# What each data set needs and how to get it, for the skip (or failure) message.
GET_MNIST = (
    "get it with `python -c \"from mdl.data import load; load('mnist', download=True)\"` "
    "(into $MDL_DATA/mnist, else ~/.cache/mdl/mnist), or set MDL_DATA to a folder holding mnist/"
)
GET_KJV = (
    "make it with Debian's bible-kjv-text package: "
    "`COLUMNS=80 bible 'gen1:1-rev22:21' > $MDL_DATA/text/kjv.txt` (see the shared data README)"
)
GET_FASHION = "install it with `apt-get install dataset-fashion-mnist` (as .ci/run does)"

SKIPPED_FOR_DATA: dict[str, str] = {}  # data set -> reason, repeated after the test summary


def require_path(candidates, what: str, how: str, *, usable=pathlib.Path.exists) -> pathlib.Path:
    """The first usable path of ``candidates``; else skip (or, with MDL_REQUIRE_DATA=1, fail),
    naming every path tried and how to get the data.

    .ci/run points MDL_DATA at the shared data and installs Fashion-MNIST, and sets
    MDL_REQUIRE_DATA=1, so in CI these tests run or fail. Elsewhere ``pytest -ra`` lists each
    skip with its reason, and the session ends with a section naming the missing data sets.
    """
    candidates = [pathlib.Path(p) for p in candidates]
    for path in candidates:
        if usable(path):
            return path
    tried = ", ".join(str(p) for p in candidates)
    message = f"{what} not found (looked in {tried}); {how}"
    if os.environ.get("MDL_REQUIRE_DATA") == "1":
        pytest.fail(f"{message}. MDL_REQUIRE_DATA=1: missing data fails the test")
    SKIPPED_FOR_DATA[what] = message
    pytest.skip(message)


def holds_idx_files(folder: pathlib.Path) -> bool:
    """All four IDX files of an MNIST-format set are there, raw or gzipped."""
    from mdl.data.idx import FILES

    return all((folder / s).is_file() or (folder / f"{s}.gz").is_file() for s in FILES.values())


def pytest_terminal_summary(terminalreporter):
    if SKIPPED_FOR_DATA:
        terminalreporter.section("tests skipped for missing data", sep="!", yellow=True)
        for message in SKIPPED_FOR_DATA.values():
            terminalreporter.write_line(message, yellow=True)
        terminalreporter.write_line("MDL_REQUIRE_DATA=1 makes missing data a failure (.ci/run).")


@pytest.fixture(scope="session")
def mnist_dir() -> pathlib.Path:
    from mdl.data.download import cache_dir

    candidates = [shared_data_dir() / "mnist", cache_dir() / "mnist"]
    return require_path(candidates, "MNIST", GET_MNIST, usable=holds_idx_files)


@pytest.fixture(scope="session")
def kjv_path() -> pathlib.Path:
    return require_path([shared_data_dir() / "text" / "kjv.txt"], "KJV text", GET_KJV)


@pytest.fixture(scope="session")
def fashion_dir() -> pathlib.Path:
    debian = pathlib.Path("/usr/share/datasets/fashion-mnist")
    return require_path([debian], "Fashion-MNIST (Debian)", GET_FASHION, usable=holds_idx_files)
