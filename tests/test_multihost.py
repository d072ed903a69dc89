"""Multi-host sweeps for real: two processes joined by ``jax.distributed`` on localhost (CPU).

Each process owns one CPU device; the sweep's points axis is sharded over both, every process
runs the same program, and only process 0 writes. The records must equal a one-process run's.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from mdl.records import read_records
from mdl.sweep import SweepConfig, run

from .conftest import REPO

CONFIG = dict(
    model={"name": "MLP", "hidden": [8]},
    betas=[0.03, 1.0],
    seeds=[0, 1],
    epochs=2,
    batch_size=64,
    max_train=256,
)

WORKER = """
import sys, json
import jax
jax.distributed.initialize(sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
from mdl.sweep import SweepConfig, run
assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
run(SweepConfig(**json.loads(sys.argv[3])), sys.argv[4 + int(sys.argv[2])], progress=False)
print("worker", jax.process_index(), "done")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_one_process_records_and_only_process_0_writes(tmp_path):
    coordinator = f"127.0.0.1:{_free_port()}"
    folders = [tmp_path / "process0", tmp_path / "process1"]
    # this process's XLA flags (tests/conftest.py), less any forced device count: one each
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(flags))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, coordinator, str(i), json.dumps(CONFIG)]
            + [str(f) for f in folders],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for w in workers:
                w.kill()
            pytest.fail("a multi-host worker hung")
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert manifest["processes"] == 2 and len(manifest["devices"]) == 2
    assert not folders[1].exists() or not any(folders[1].iterdir()), "process 1 wrote files"

    reference = run(SweepConfig(**CONFIG), tmp_path / "single", progress=False)
    distributed = read_records(folders[0])
    assert [r["point"] for r in distributed] == [r["point"] for r in reference]
    for ours, theirs in zip(distributed, reference, strict=True):
        for key in ("model_bits", "model_file_bits", "train_data_bits", "test_data_bits"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-3, abs=2.0), key
        for key in ("train_error", "test_error"):
            assert ours[key] == pytest.approx(theirs[key], abs=0.01), key
