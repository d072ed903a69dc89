"""search(): the shortest total wins, the charge is the space's code, a killed search resumes
to the same winner, and two worker processes on one journal evaluate each configuration once."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from mdl.search import Choice, Count, IntRange, Real, SearchSpace, search

SPACE = SearchSpace(
    [IntRange("width", 1, 6), Choice("act", ("relu", "tanh")), Real("lr", 0.0, 1.0, precision=2)]
)


def toy_bits(config) -> float:
    """A known landscape: best at width 4, tanh, lr 2/3 (the third of four points)."""
    act = 0.0 if config["act"] == "tanh" else 5.0
    return 100.0 + 3.0 * (config["width"] - 4) ** 2 + act + 30.0 * abs(config["lr"] - 2 / 3)


def test_the_shortest_total_wins_and_pays_its_codeword():
    result = search(toy_bits, SPACE, trials=48, sampler="grid")
    assert result.config == {"width": 4, "act": "tanh", "lr": pytest.approx(2 / 3)}
    charge = math.log2(6) + 1.0 + 2.0  # uniform over 6 widths, 2 activations, 4 points
    assert result.search_bits == pytest.approx(charge)
    assert result.objective_bits == pytest.approx(100.0)
    assert result.total_bits == pytest.approx(100.0 + charge)
    assert len(result.trials) == 48  # the whole grid, each configuration once
    assert len({json.dumps(t["config"], sort_keys=True) for t in result.trials}) == 48


def test_tpe_finds_the_known_best_of_a_small_space():
    result = search(toy_bits, SPACE, trials=40, seed=1)
    assert result.config["width"] == 4 and result.config["act"] == "tanh"
    assert result.total_bits == min(t["total_bits"] for t in result.trials)


def test_the_charge_decides_between_equal_fits():
    """Two counts fit equally well; the universal code makes the smaller one shorter."""
    space = SearchSpace([Count("layers", low=1, propose_up_to=8)])
    result = search(
        lambda c: 50.0 if c["layers"] in (2, 7) else 60.0, space, trials=8, sampler="grid"
    )
    assert result.config == {"layers": 2}
    assert result.search_bits < space.bits({"layers": 7})


def test_objective_info_is_kept_and_bad_bits_are_refused():
    space = SearchSpace([Choice("a", (1, 2))])
    result = search(
        lambda c: {"bits": 10.0 * c["a"], "test_error": None, "n": c["a"]},
        space,
        trials=2,
        sampler="grid",
    )
    assert result.info == {"test_error": None, "n": 1}
    with pytest.raises(ValueError, match="finite bits >= 0"):
        search(lambda c: float("nan"), space, trials=1)
    with pytest.raises(ValueError, match="trials must be a positive integer"):
        search(lambda c: 1.0, space, trials=0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        search(lambda c: 1.0, space, trials=1, sampler="anneal")


WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, {root!r})
    from mdl.search import Choice, IntRange, Real, SearchSpace, search

    space = SearchSpace([IntRange("width", 1, 6), Choice("act", ("relu", "tanh")),
                         Real("lr", 0.0, 1.0, precision=2)])
    log, out = sys.argv[1], sys.argv[2]
    seed, trials, pause = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    best = {{"width": 4, "act": "tanh", "lr": 2 / 3}}
    best_pause = float(sys.argv[6])  # the best configuration, evaluated first, takes this long

    def objective(config):
        with open(log, "a") as f:  # one line per evaluation, from any process
            f.write(json.dumps(config, sort_keys=True) + "\\n")
            f.flush(); os.fsync(f.fileno())
        time.sleep(best_pause if config == best else pause)
        act = 0.0 if config["act"] == "tanh" else 5.0
        return 100.0 + 3.0 * (config["width"] - 4) ** 2 + act + 30.0 * abs(config["lr"] - 2 / 3)

    first = [best] if best_pause else []
    result = search(objective, space, trials=trials, out=out, seed=seed, sampler="grid",
                    first=first)
    summary = {{"config": result.config, "total": result.total_bits}}
    print(json.dumps(summary))
    """
)


def write_script(tmp_path, name: str, template: str):
    """``template`` (a script that imports mdl from the repository root) as ``tmp_path/name``."""
    script = tmp_path / name
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script.write_text(template.format(root=root))
    return script


def start_worker(tmp_path, log, out, seed, trials, pause, best_pause=0.0):
    script = write_script(tmp_path, "worker.py", WORKER)
    args = (log, out, seed, trials, pause, best_pause)
    return subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
    )


def evaluations(log):
    return log.read_text().splitlines() if log.exists() else []


def test_two_workers_share_one_journal_and_evaluate_each_configuration_once(tmp_path):
    log, out = tmp_path / "evaluations.log", tmp_path / "search"
    workers = [start_worker(tmp_path, log, out, seed, 24, 0.05) for seed in (0, 1)]
    results = [json.loads(w.communicate(timeout=240)[0].splitlines()[-1]) for w in workers]
    lines = evaluations(log)
    assert len(lines) == len(set(lines)), "a configuration was evaluated twice"
    assert 24 <= len(lines) <= 25  # the shared budget (the last two may race for it)
    assert results[0]["config"] == results[1]["config"]  # both read the same store


def test_a_worker_that_ends_first_waits_for_the_trial_another_is_running(tmp_path):
    """The budget is shared: the fast worker sees it spent while the slow one still evaluates
    the best configuration. It waits for that trial, so both report the store's winner."""
    log, out = tmp_path / "evaluations.log", tmp_path / "search"
    slow = start_worker(tmp_path, log, out, 0, 4, 0.0, best_pause=4.0)
    deadline = time.monotonic() + 120
    while not evaluations(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert evaluations(log), "the slow worker never started its first trial"
    fast = start_worker(tmp_path, log, out, 1, 4, 0.0)
    results = [json.loads(w.communicate(timeout=240)[0].splitlines()[-1]) for w in (fast, slow)]
    lines = [json.loads(line) for line in evaluations(log)]
    assert lines[0] == {"width": 4, "act": "tanh", "lr": pytest.approx(2 / 3)}
    assert 4 <= len(lines) <= 5 and len({json.dumps(x) for x in lines}) == len(lines)
    for result in results:
        assert result["config"] == {"width": 4, "act": "tanh", "lr": pytest.approx(2 / 3)}


def test_a_killed_search_resumes_to_the_same_winner_without_repeating_work(tmp_path):
    log, out = tmp_path / "evaluations.log", tmp_path / "search"
    worker = start_worker(tmp_path, log, out, 0, 48, 0.2)
    deadline = time.monotonic() + 120
    while len(evaluations(log)) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = evaluations(log)
    assert 6 <= len(before) < 48
    calls = []
    resumed = search(
        lambda c: calls.append(c) or toy_bits(c), SPACE, trials=48, out=out, sampler="grid"
    )
    uninterrupted = search(toy_bits, SPACE, trials=48, sampler="grid")
    assert resumed.config == uninterrupted.config
    assert resumed.total_bits == pytest.approx(uninterrupted.total_bits)
    assert len({json.dumps(t["config"], sort_keys=True) for t in resumed.trials}) == 48
    # the killed process's finished evaluations were kept, not redone: only the one it was
    # running when killed (if any) is evaluated again
    assert len(calls) + len(before) in (48, 49)
    redone = {json.dumps(c, sort_keys=True) for c in calls} & set(before)
    assert len(redone) == len(calls) + len(before) - 48


def test_a_database_url_store_resumes_the_same_study(tmp_path):
    """Optuna's RDB storage (SQLite here; PostgreSQL for many machines): a second call with a
    larger budget evaluates only the configurations the store does not have yet."""
    url = f"sqlite:///{tmp_path / 'search.db'}"
    calls = []

    def objective(config):
        calls.append(config)
        return toy_bits(config)

    first = search(objective, SPACE, trials=10, storage=url, sampler="grid")
    assert len(first.trials) == len(calls) == 10
    second = search(objective, SPACE, trials=48, storage=url, sampler="grid")
    assert len(calls) == 48 and len(second.trials) == 48
    assert second.config == {"width": 4, "act": "tanh", "lr": pytest.approx(2 / 3)}
    with pytest.raises(ValueError, match="not both"):
        search(objective, SPACE, trials=1, storage=url, out=tmp_path)


STALE_SEARCH = textwrap.dedent(
    """
    import json, sqlite3, sys, time
    sys.path.insert(0, {root!r})
    from mdl.search import Choice, SearchSpace, search

    space = SearchSpace([Choice("a", (1, 2))])
    with sqlite3.connect(sys.argv[2]) as db:  # 4 s short of stale (grace period 180 s)
        db.execute("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-176 seconds')")
    start = time.monotonic()
    result = search(lambda c: 10.0 * c["a"], space, trials=2, storage=sys.argv[1],
                    sampler="grid")
    print(json.dumps({{"config": result.config, "trials": len(result.trials),
                      "seconds": time.monotonic() - start}}))
    """
)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test's study.ask() plays a worker
def test_a_dead_machines_trial_is_failed_by_its_heartbeat_not_waited_for(tmp_path):
    """A database store: a trial another machine is running holds a configuration, and that
    machine dies (its last heartbeat goes stale 4 s into the search, after Optuna's own check
    at the trial's start). The waiting trial fails it (Optuna's heartbeat check) and evaluates
    that configuration itself, instead of waiting for it forever."""
    import warnings

    import optuna

    url = f"sqlite:///{tmp_path / 'search.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    study = optuna.create_study(storage=storage, study_name="mdl-search", direction="minimize")
    study.enqueue_trial({"a": 1})
    trial = study.ask()
    assert SearchSpace([Choice("a", (1, 2))]).suggest(trial) == {"a": 1}  # the trial holds a=1
    for name, value in {"host": "a-machine-now-gone", "pid": 1, "evaluating": True}.items():
        trial.set_user_attr(name, value)
    storage.record_heartbeat(trial._trial_id)
    script = write_script(tmp_path, "stale.py", STALE_SEARCH)
    run = subprocess.run(
        [sys.executable, str(script), url, str(tmp_path / "search.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["config"] == {"a": 1} and result["trials"] == 2
    assert result["seconds"] < 60  # not a minute's heartbeat, let alone forever
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[trial.number] == optuna.trial.TrialState.FAIL


COPIED_SEARCH = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {root!r})
    from mdl.search import Choice, SearchSpace, search

    space = SearchSpace([Choice("a", (1, 2))])
    result = search(lambda c: 10.0 * c["a"], space, trials=2, out=sys.argv[1], sampler="grid")
    print(json.dumps({{"config": result.config, "trials": len(result.trials)}}))
    """
)


def test_a_journal_copied_from_another_machine_resumes_its_running_trial(tmp_path):
    """A journal is one machine's store: a trial another machine was running when its folder
    was copied here cannot finish. Resuming fails it and evaluates its configuration again,
    instead of waiting for it forever."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from mdl.search.study import JOURNAL

    out = tmp_path / "copied"
    out.mkdir()
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(out / JOURNAL)))
    study = optuna.create_study(storage=storage, study_name="mdl-search", direction="minimize")
    study.enqueue_trial({"a": 1})
    trial = study.ask()
    assert SearchSpace([Choice("a", (1, 2))]).suggest(trial) == {"a": 1}
    trial.set_user_attr("host", "the-machine-it-was-copied-from")
    trial.set_user_attr("pid", os.getpid())  # a pid alive here, to show the host decides
    script = write_script(tmp_path, "copied.py", COPIED_SEARCH)
    run = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == {"config": {"a": 1}, "trials": 2}
    trials = study.get_trials(deepcopy=False)
    assert trials[trial.number].state == optuna.trial.TrialState.FAIL
    retries = [t for t in trials if t.user_attrs.get("retry_of") == trial.number]
    assert [t.params for t in retries] == [{"a": 1}]


def test_a_time_budget_stops_proposing():
    def slow(config):
        time.sleep(0.3)
        return toy_bits(config)

    result = search(slow, SPACE, trials=48, sampler="grid", budget_seconds=1.0)
    assert 1 <= len(result.trials) <= 5
    with pytest.raises(ValueError, match="budget_seconds must be"):
        search(slow, SPACE, trials=1, budget_seconds=0)


def test_queued_configurations_are_evaluated_first_once_and_cost_the_space_code(tmp_path):
    best = {"width": 4, "act": "tanh", "lr": 2 / 3}
    guess = {"width": 1, "act": "relu", "lr": 0.0}
    calls = []

    def objective(config):
        calls.append(config)
        return toy_bits(config)

    result = search(objective, SPACE, trials=3, sampler="grid", out=tmp_path, first=[guess, best])
    assert calls[:2] == [guess, {**best, "lr": pytest.approx(2 / 3)}]
    assert result.config == {**best, "lr": pytest.approx(2 / 3)}
    assert result.search_bits == pytest.approx(math.log2(6) + 1.0 + 2.0)
    # resumed with the same queue: nothing is queued or evaluated twice
    again = search(objective, SPACE, trials=4, sampler="grid", out=tmp_path, first=[guess, best])
    assert len(calls) == 4 and len(again.trials) == 4
    assert len({json.dumps(c, sort_keys=True) for c in calls}) == 4
    with pytest.raises(ValueError, match="is not a value of"):
        search(objective, SPACE, trials=1, first=[{**best, "width": 9}])
    with pytest.raises(ValueError, match="missing"):
        search(objective, SPACE, trials=1, first=[{"width": 4}])


def test_compress_model_refuses_bad_families_and_spaces_before_training(tmp_path):
    from mdl.data import load
    from mdl.search import compress_model

    data = load("digits")
    with pytest.raises(ValueError, match="unknown family 'resnet'"):
        compress_model("resnet", data, out=tmp_path)
    space = SearchSpace([Choice("width", (8, 16))])
    with pytest.raises(ValueError, match="space dimensions must be among"):
        compress_model("mlp", data, out=tmp_path, space=space)
    # filter pruning gates convolution kernels: an MLP has none
    space = SearchSpace([Choice("compressor", ("quantizer", "filter_pruned"))])
    with pytest.raises(ValueError, match="'filter_pruned' does not fit the model .MLP.*matches no"):
        compress_model("mlp", data, out=tmp_path, space=space)
    with pytest.raises(ValueError, match="compressor 'zip' is unknown"):
        compress_model(
            "mlp", data, out=tmp_path, space=SearchSpace([Choice("compressor", ("zip",))])
        )
    # digits are 8x8 images: a shift of 8 pixels leaves nothing of them
    with pytest.raises(ValueError, match="augment 8 does not fit the data: max_shift must be"):
        compress_model("mlp", data, out=tmp_path, space=SearchSpace([Choice("augment", (1, 8))]))
    with pytest.raises(ValueError, match="augment dimension must be a Choice"):
        compress_model("mlp", data, out=tmp_path, space=SearchSpace([IntRange("augment", 0, 2)]))
    with pytest.raises(ValueError, match="compressor dimension must be a Choice of names"):
        compress_model("mlp", data, out=tmp_path, space=SearchSpace([IntRange("compressor", 0, 2)]))
    assert not (tmp_path / "search.journal").exists()


@pytest.mark.parametrize("compressor", ["pruned", "live_block"])
def test_a_searched_compressor_choice_is_trained_and_written(tmp_path, compressor):
    """The compressor dimension reaches training: the winner's configuration names the chosen
    compressor, and its file decodes to the reported training error."""
    from mdl.compress import load_compressed
    from mdl.data import load
    from mdl.inference import evaluate
    from mdl.params import split_params
    from mdl.search import compress_model

    data = load("digits")
    space = SearchSpace([Choice("compressor", (compressor,)), Choice("epochs", (2,))])
    summary = compress_model("mlp", data, out=tmp_path, space=space, trials=1)
    assert summary["config"] == {"compressor": compressor, "epochs": 2}
    graphdef, weights = split_params(load_compressed(tmp_path / "model.mdl"))
    assert evaluate(graphdef, weights, data.x_train, data.y_train)[1] == summary["train_error"]


def test_compress_model_evaluates_the_first_grid_points_first(tmp_path):
    """``sampler="grid"`` with ``first``: a one-trial search evaluates exactly the queued point,
    whichever of the two it is (so the order is the caller's, not the grid sampler's); a
    ``first`` point outside the space and an unknown sampler are refused before training."""
    from mdl.data import load
    from mdl.search import compress_model

    data = load("digits")
    space = SearchSpace([Choice("beta", (0.3, 3.0)), Choice("epochs", (1,))])
    for beta in (0.3, 3.0):
        point = {"beta": beta, "epochs": 1}
        out = tmp_path / str(beta)
        summary = compress_model(
            "mlp", data, out=out, space=space, trials=1, sampler="grid", first=[point]
        )
        assert summary["config"] == point
        assert [t["config"] for t in summary["trials"]] == [point]
    with pytest.raises(ValueError, match="beta"):
        compress_model(
            "mlp",
            data,
            out=tmp_path / "bad",
            space=space,
            sampler="grid",
            first=[{"beta": 1.0, "epochs": 1}],
        )
    with pytest.raises(ValueError, match="sampler"):
        compress_model("mlp", data, out=tmp_path / "bad", space=space, sampler="annealing")
    assert not list((tmp_path / "bad" / "trials").glob("*.mdl"))


def test_a_searched_width_reaches_training_and_the_ratio_counts_the_full_family(tmp_path):
    """The widths dimension reaches the model: the winner's file holds the narrower network
    (784-... here 64-12-10 on digits) and decodes to the reported training error; the ratio is
    the full family's float32 bytes over the file; bad widths are refused before training."""
    from mdl.compress import load_compressed
    from mdl.data import load
    from mdl.inference import evaluate_model
    from mdl.models import parameter_count
    from mdl.search import compress_model

    data = load("digits")
    space = SearchSpace([Choice("widths", ("12",)), Choice("epochs", (2,))])
    summary = compress_model("mlp", data, out=tmp_path / "ok", space=space, trials=1)
    decoded = load_compressed(tmp_path / "ok" / "model.mdl")
    assert tuple(decoded.sizes) == (64, 12, 10)
    assert summary["model_parameters"] == parameter_count(decoded) == 64 * 12 + 12 + 12 * 10 + 10
    assert summary["parameters"] == 64 * 64 + 64 + 64 * 10 + 10
    assert summary["ratio"] == 4 * summary["parameters"] / summary["file_bytes"]
    assert evaluate_model(decoded, data.x_train, data.y_train)[1] == summary["train_error"]
    bad = [
        (SearchSpace([Choice("widths", ("12,0",))]), "widths '12,0': widths must be positive"),
        (SearchSpace([IntRange("widths", 1, 4)]), "must be a Choice of hidden widths"),
    ]
    for space, message in bad:
        with pytest.raises(ValueError, match=message):
            compress_model("mlp", data, out=tmp_path / "bad", space=space)
    with pytest.raises(ValueError, match="widths apply to the fully connected families"):
        compress_model(
            "convnet", data, out=tmp_path / "bad", space=SearchSpace([Choice("widths", ("8",))])
        )
    assert not list((tmp_path / "bad" / "trials").glob("*.mdl"))


def test_a_searched_shift_reaches_training(tmp_path):
    """The augment dimension reaches `fit`: the same configuration with shifts of a pixel
    trains a different model (another file) than without, and its file still decodes to the
    reported training error."""
    from mdl.compress import load_compressed
    from mdl.data import load
    from mdl.inference import evaluate
    from mdl.params import split_params
    from mdl.search import compress_model

    data = load("digits")
    files = {}
    for shift in (0, 1):
        space = SearchSpace([Choice("augment", (shift,)), Choice("epochs", (2,))])
        out = tmp_path / str(shift)
        summary = compress_model("mlp", data, out=out, space=space, trials=1)
        assert summary["config"] == {"augment": shift, "epochs": 2}
        graphdef, weights = split_params(load_compressed(out / "model.mdl"))
        assert evaluate(graphdef, weights, data.x_train, data.y_train)[1] == summary["train_error"]
        files[shift] = (out / "model.mdl").read_bytes()
    assert files[0] != files[1]


def test_a_constrained_search_picks_the_shortest_feasible_configuration():
    """Width costs bits and buys error: error = 0.4 / width. With a target of 0.1 the widths
    below 4 are infeasible, so the winner is width 4, not the shorter width 1."""

    def objective(config):
        error = 0.4 / config["width"]
        return {"bits": 10.0 * config["width"], "violation": max(0.0, error - 0.1)}

    space = SearchSpace([IntRange("width", 1, 6)])
    result = search(objective, space, trials=6, sampler="grid", constrained=True)
    assert result.config == {"width": 4} and result.feasible
    assert [t["violation"] for t in sorted(result.trials, key=lambda t: t["config"]["width"])][
        :4
    ] == pytest.approx([0.3, 0.1, 0.4 / 3 - 0.1, 0.0])
    # TPE with Optuna's constraint model reaches the same winner on this space
    tpe = search(objective, space, trials=6, seed=0, constrained=True)
    assert tpe.config == {"width": 4}


def test_a_constrained_search_without_a_feasible_point_says_so():
    space = SearchSpace([IntRange("width", 1, 3)])
    result = search(
        lambda c: {"bits": float(c["width"]), "violation": 1.0 / c["width"]},
        space,
        trials=3,
        sampler="grid",
        constrained=True,
    )
    assert not result.feasible and result.config == {"width": 3}  # the least violation
    with pytest.raises(ValueError, match="finite violation >= 0; got None"):
        search(lambda c: 1.0, space, trials=1, constrained=True)
    with pytest.raises(ValueError, match="finite violation >= 0; got -1"):
        search(lambda c: {"bits": 1.0, "violation": -1.0}, space, trials=1, constrained=True)


def test_compress_model_with_an_error_target_holds_out_validation_data(tmp_path):
    """max_error: trials train on 90% of the training data; the reported validation error is
    the winner's file's error on the held-out 10%, and the target decides feasibility."""
    from mdl.compress import load_compressed
    from mdl.data import load, validation_split
    from mdl.inference import evaluate
    from mdl.params import split_params
    from mdl.search import compress_model

    data = load("digits")
    with pytest.raises(ValueError, match="max_error must be in"):
        compress_model("mlp", data, out=tmp_path, max_error=1.5)
    space = SearchSpace([Choice("epochs", (1, 8))])
    summary = compress_model("mlp", data, out=tmp_path, space=space, trials=2, max_error=0.2)
    split = validation_split(data, 0.1, seed=0)
    graphdef, weights = split_params(load_compressed(tmp_path / "model.mdl"))
    validation_error = evaluate(graphdef, weights, split.x_test, split.y_test)[1]
    assert summary["validation_error"] == validation_error
    assert summary["train_error"] == evaluate(graphdef, weights, split.x_train, split.y_train)[1]
    errors = {t["config"]["epochs"]: t["info"]["validation_error"] for t in summary["trials"]}
    feasible = [e for e, err in errors.items() if err <= 0.2]
    assert summary["feasible"] == bool(feasible)
    if feasible:  # the smaller file among the feasible
        sizes = {t["config"]["epochs"]: t["info"]["file_bytes"] for t in summary["trials"]}
        assert summary["file_bytes"] == min(sizes[e] for e in feasible)
    assert summary["max_error"] == 0.2


@pytest.mark.parametrize(
    "values",
    [(6351.0, 7103.0), (0.9, 1.1667), (4275.0, 10963.0), (120.0, 95000.0), (0.6, 90.0)],
)
def test_the_pareto_figure_labels_two_to_six_ticks_within_any_range_of_trials(values):
    """The search figure's log axes: at least two major ticks inside the trials' range (the
    range of a few close trials included: 6,351 to 7,103 bytes has no 1-2-5 tick and one digit
    tick), and not so many that their labels collide."""
    from mdl.search.model_compression import _log_ticks

    low, high = values
    ticks = [t for t in _log_ticks(np.array(values)).tick_values(low, high) if low <= t <= high]
    assert 2 <= len(ticks) <= 6
