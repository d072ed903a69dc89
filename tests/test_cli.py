"""The `mdl` command, called in process through its entry point."""

import json

import pytest

from mdl import __version__
from mdl.cli import main
from mdl.records import read_records


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mdl {__version__}"


def test_sweep_smoke_then_report_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sweep", "--smoke", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "the MDL choice" in printed and "figure:" in printed
    figure = printed.split("figure:")[1].strip()
    assert figure.endswith("compression_vs_generalization.png")
    records = read_records(out)
    assert len(records) == 4  # smoke: 2 betas x 2 seeds
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["command"] == f"mdl sweep --smoke --out {out} --no-progress"
    assert summary["provenance"]["machine"]["cpu_count"] >= 1
    assert summary["total_bits"] == {r["point"]: r["total_bits"] for r in records}
    best = min(records, key=lambda r: r["total_bits"])
    assert summary["mdl_choice"]["point"] == best["point"] and summary["points"] == 4
    assert main(["report", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.count("\n") >= 4 and "0.01" in table
    assert main(["plot", str(out)]) == 0
    assert capsys.readouterr().out.count(".pdf") == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sweep", "--data", "imagenet"], "invalid choice: 'imagenet'"),
        (["sweep", "--betas", "0.1,x"], "comma-separated list of floats"),
        (["sweep", "--betas", ","], "at least one value"),
        (["sweep", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["report"], "the following arguments are required: results"),
        (["sweep", "--smoke", "--betas", "-1", "--out", "{tmp}"], "betas must be finite and >= 0"),
        (["sweep", "--smoke", "--config", "{tmp}/x.toml"], "exclude each other"),
        (["report", "{tmp}"], "holds no records.jsonl"),
    ],
)
def test_bad_options_exit_2_with_a_message(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_results_folder_of_another_config_is_refused(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["sweep", "--smoke", "--out", out, "--no-progress"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--smoke", "--epochs", "3", "--out", out, "--no-progress"])
    assert exit_info.value.code == 2
    assert "different sweep config" in capsys.readouterr().err


def test_the_console_script_is_installed():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "mdl"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"mdl {__version__}"


TINY_TEXT = ["--hidden", "8", "--streams", "4", "--window", "4", "--no-progress"]


@pytest.mark.parametrize("method", ["online", "two-part"])
def test_compress_then_decompress_gives_the_file_back(tmp_path, capsys, method):
    source, archive, restored = tmp_path / "in.txt", tmp_path / "in.mdl", tmp_path / "out.txt"
    source.write_bytes(b"And God said, Let there be light: and there was light.\n" * 20)
    extra = ["--epochs", "1"] if method == "two-part" else []
    argv = ["compress", "--method", method, *TINY_TEXT, *extra, str(source), str(archive)]
    assert main(argv) == 0
    assert "bits per byte" in capsys.readouterr().out
    assert main(["decompress", "--no-progress", str(archive), str(restored)]) == 0
    assert restored.read_bytes() == source.read_bytes()


def test_compress_refuses_to_overwrite_empty_input_and_bad_archives(tmp_path, capsys):
    source, archive = tmp_path / "in.txt", tmp_path / "in.mdl"
    source.write_bytes(b"abc" * 50)
    archive.write_bytes(b"already here")
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", *TINY_TEXT, str(source), str(archive)])
    assert exit_info.value.code == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert archive.read_bytes() == b"already here"
    assert main(["compress", "--force", *TINY_TEXT, str(source), str(archive)]) == 0
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", *TINY_TEXT, str(empty), str(tmp_path / "e.mdl")])
    assert exit_info.value.code == 2 and "is empty" in capsys.readouterr().err
    truncated = tmp_path / "cut.mdl"
    truncated.write_bytes(archive.read_bytes()[:-9])
    with pytest.raises(SystemExit) as exit_info:
        main(["decompress", "--no-progress", str(truncated), str(tmp_path / "out.txt")])
    assert exit_info.value.code == 2 and "cut.mdl" in capsys.readouterr().err
    assert not (tmp_path / "out.txt").exists()


def test_compress_model_smoke_writes_the_winner_and_resumes(tmp_path, capsys):
    """`mdl compress-model`: the printed size is the winner's file, the winner is the trial with
    the shortest total (two-part code + codeword), its file decodes, and a rerun on the same
    folder trains nothing again."""
    import numpy as np

    from mdl.compress import load_compressed
    from mdl.data import load

    out = tmp_path / "cm"
    argv = ["compress-model", "--model", "mlp", "--data", "digits", "--smoke", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert f"{summary['file_bytes']:,} bytes" in printed
    assert (out / "model.mdl").stat().st_size == summary["file_bytes"]
    totals = [t["total_bits"] for t in summary["trials"]]
    assert summary["total_bits"] == min(totals) and len(totals) == 2
    assert summary["total_bits"] == summary["two_part_bits"] + summary["search_bits"]
    data = load("digits")
    model = load_compressed(out / "model.mdl")
    predictions = np.asarray(model(data.x_test.astype(np.float32))).argmax(-1)
    assert summary["test_error"] == np.mean(predictions != data.y_test)
    trial_files = sorted((out / "trials").iterdir())
    stamps = [p.stat().st_mtime_ns for p in trial_files]
    assert main([*argv, "--out", str(out)]) == 0
    assert [p.stat().st_mtime_ns for p in sorted((out / "trials").iterdir())] == stamps


def test_compress_model_searches_the_given_shifts(tmp_path, capsys):
    """``--shifts``: every trial's configuration names one of the given shifts, and its
    charge covers them (the smoke space's 1 bit, plus 1 for two shifts)."""
    out = tmp_path / "cm"
    argv = ["compress-model", "--model", "mlp", "--data", "digits", "--smoke", "--no-progress"]
    assert main([*argv, "--shifts", "0,1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert all(t["config"]["augment"] in (0, 1) for t in summary["trials"])
    assert summary["search_bits"] == pytest.approx(2.0)


def test_compress_model_searches_the_given_widths(tmp_path, capsys):
    """``--widths``: every trial trains one of the given networks (its file's parameter count),
    the ratio stays against the full family, and the charge covers the widths (1 + 1 bits)."""
    out = tmp_path / "cm"
    argv = ["compress-model", "--model", "mlp", "--data", "digits", "--smoke", "--no-progress"]
    assert main([*argv, "--widths", "16", "8,8", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {t["config"]["widths"] for t in summary["trials"]} <= {"16", "8,8"}
    counts = {"16": 64 * 16 + 16 + 16 * 10 + 10, "8,8": 64 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10}
    assert summary["model_parameters"] == counts[summary["config"]["widths"]]
    assert summary["parameters"] == 64 * 64 + 64 + 64 * 10 + 10  # the family's full MLP
    assert summary["ratio"] == pytest.approx(4 * summary["parameters"] / summary["file_bytes"])
    assert summary["search_bits"] == pytest.approx(2.0)


def test_compress_model_searches_the_given_compressors(tmp_path, capsys):
    """``--compressors``: every trial uses one of the given compressors and the charge covers
    them (the smoke space's 1 bit, plus 1 for two); the winner's file is the one reported."""
    out = tmp_path / "cm"
    argv = ["compress-model", "--model", "mlp", "--data", "digits", "--smoke", "--no-progress"]
    assert main([*argv, "--compressors", "quantizer", "live_block", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {t["config"]["compressor"] for t in summary["trials"]} <= {"quantizer", "live_block"}
    assert summary["search_bits"] == pytest.approx(2.0)
    assert (out / "model.mdl").stat().st_size == summary["file_bytes"]


def test_compress_model_fixes_the_given_settings_and_searches_the_given_betas(tmp_path):
    """``--epochs``, ``--learning-rate``, ``--prior`` fix their settings (0 bits each), and
    ``--beta LOW HIGH --beta-bits B`` searches 2**B log-spaced betas (B bits)."""
    out = tmp_path / "cm"
    argv = ["compress-model", "--model", "mlp", "--data", "digits", "--smoke", "--no-progress"]
    fixed = ["--epochs", "1", "--learning-rate", "0.002", "--prior", "laplace"]
    assert main([*argv, *fixed, "--beta", "0.5", "2", "--beta-bits", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["trials"]) == 2
    for trial in summary["trials"]:
        config = trial["config"]
        assert (config["epochs"], config["learning_rate"], config["prior"]) == (1, 0.002, "laplace")
        assert config["beta"] in (pytest.approx(0.5), pytest.approx(2.0))
    assert summary["search_bits"] == pytest.approx(1.0)


def test_compress_model_bisects_beta_against_the_error_target(tmp_path):
    """``--sampler bisect``: with every trial on target (an error bound no model misses), each
    next beta is the middle of the bracket above the last: 8 points, indices 3 then 5."""
    from mdl.search import Real

    out = tmp_path / "cm"
    argv = ["compress-model", "--model", "mlp", "--data", "digits", "--smoke", "--no-progress"]
    bisect = ["--sampler", "bisect", "--max-error", "0.95", "--beta", "0.1", "10", "--beta-bits"]
    assert main([*argv, *bisect, "3", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    betas = [t["config"]["beta"] for t in sorted(summary["trials"], key=lambda t: t["number"])]
    points = Real("beta", 0.1, 10.0, precision=3, log=True)
    assert betas == [pytest.approx(points.point(3)), pytest.approx(points.point(5))]
    assert summary["config"]["beta"] == pytest.approx(points.point(5))  # the largest on target


def test_the_readmes_lenet5_command_is_the_committed_searchs_space_and_sampler():
    """The README's one-command form of the committed live-block LeNet-5 search: the same
    dimensions (plus the default prior, fixed), the same charge, the same sampler and target."""
    import re
    import shlex

    from experiments.auto_compress import ERROR_TARGET_SEARCHES, ERROR_TARGETS
    from mdl.cli import _parser, _search_space

    from .conftest import REPO

    readme = (REPO / "README.md").read_text()
    start = r"^mdl compress-model --model lenet5 --data mnist --max-error"
    command = re.search(start + r".*?(?<!\\)$", readme, re.M | re.S)  # up to an unescaped end
    args = _parser().parse_args(shlex.split(command.group(0).replace("\\\n", " "))[1:])
    space, sampler, first = ERROR_TARGET_SEARCHES["live_block"]["lenet5"]
    ours = {dim.name: dim for dim in _search_space(args).dimensions}
    assert ours == {**{dim.name: dim for dim in space.dimensions}, "prior": ours["prior"]}
    assert ours["prior"].values() == ("spike_laplace",) and first == ()
    assert (args.sampler, args.max_error) == (sampler, ERROR_TARGETS["lenet5"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trials", "0"], "--trials must be >= 1"),
        (["--beta", "3", "1"], "--beta needs 0 < LOW < HIGH, finite; got 3 1"),
        (["--beta", "0.1", "inf"], "--beta needs 0 < LOW < HIGH, finite; got 0.1 inf"),
        (["--beta-bits", "0"], "--beta-bits must be in [1, 16]; got 0"),
        (["--epochs", "0"], "--epochs must be >= 1; got 0"),
        (["--learning-rate", "0"], "--learning-rate must be > 0; got 0"),
        (["--prior", "cauchy"], "invalid choice: 'cauchy'"),
        (["--sampler", "bisect"], "sampler 'bisect' bisects against a constraint"),
        (["--sampler", "bisect", "--max-error", "0.1"], "needs exactly one dimension with more"),
        (["--compressors", "zip"], "invalid choice: 'zip'"),
        (["--compressors", "live_block", "live_block"], "--compressors must be distinct"),
        (["--budget-minutes", "-1"], "must be > 0"),
        (["--max-error", "2"], "max_error must be in (0, 1)"),
        (["--shifts", "1,x"], "--shifts must be integers such as 0,1,2; got '1,x'"),
        (["--shifts", "0,-1"], "--shifts must be distinct integers >= 0"),
        (["--shifts", "0,9"], "augment 9 does not fit the data: max_shift must be below"),
        (["--widths", "16", "16"], "--widths must be distinct; got 16 16"),
        (["--widths", "16,x"], "widths '16,x': widths must be positive integers separated"),
        (["--widths", "0"], "widths '0': widths must be positive integers"),
        (["--model", "convnet", "--widths", "16"], "widths apply to the fully connected"),
    ],
)
def test_compress_model_bad_options_exit_2(tmp_path, capsys, extra, message):
    argv = ["compress-model", "--model", "mlp", "--data", "digits", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
