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


import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def shared_data_dir() -> pathlib.Path:
    """$MDL_DATA, else ../shared/data beside the repository (see the shared data README)."""
    return pathlib.Path(os.environ.get("MDL_DATA") or REPO.parent / "shared" / "data")


def require_path(path: pathlib.Path, what: str) -> pathlib.Path:
    """Skip, naming what is missing and where it was looked for, when a data set is absent.

    .ci/run points MDL_DATA at the shared data and installs Fashion-MNIST, so in CI these tests
    run; ``pytest -ra`` lists every skip with its reason, so an absent data set is visible.
    Set MDL_REQUIRE_DATA=1 to make absence a failure instead.
    """
    if not path.exists():
        message = f"{what} not found at {path} (set MDL_DATA to the shared data folder)"
        if os.environ.get("MDL_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mnist_dir() -> pathlib.Path:
    return require_path(shared_data_dir() / "mnist", "MNIST")


@pytest.fixture(scope="session")
def kjv_path() -> pathlib.Path:
    return require_path(shared_data_dir() / "text" / "kjv.txt", "KJV text")


@pytest.fixture(scope="session")
def fashion_dir() -> pathlib.Path:
    return require_path(pathlib.Path("/usr/share/datasets/fashion-mnist"), "Fashion-MNIST (Debian)")
