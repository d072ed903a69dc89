r"""Find the configuration with the shortest code, the search paid for in bits.

`search` minimizes, over a `SearchSpace`,

$$ L(\text{total}) = L_{\text{space}}(c) + L(\text{data} \mid c), $$

where $L(\text{data} \mid c)$ is what ``objective(c)`` returns (a two-part or prequential code
length of the data made with configuration $c$) and $L_{\text{space}}(c)$ is the
configuration's codeword in the space's prefix code (`SearchSpace.bits`): the chosen total is
a code length, whatever the search tried. Proposals come from Optuna (TPE by default, or its
grid, random or QMC samplers), which we wrap, not re-implement; for one setting against a
monotone constraint, `mdl.search.bisection`'s sampler bisects it instead.

Trials live in Optuna's storage: a journal file ``OUT/search.journal`` by default (appends
under a file lock, so several worker processes may share it), or any database URL Optuna
takes (``sqlite:///search.db``, ``postgresql://...``) for workers on many machines. A search
resumes: configurations already evaluated in the store are not evaluated again, a trial left
running by a worker that died on this host (SIGKILL) is marked failed and its configuration
queued again, and the budget counts the store's evaluations, not this process's. Two trials
that propose one configuration share one evaluation (the second waits for, or reuses, the
first).

References:
  T. Akiba, S. Sano, T. Yanase, T. Ohta, M. Koyama, "Optuna: A next-generation hyperparameter
  optimization framework", KDD 2019; J. Bergstra, R. Bardenet, Y. Bengio, B. Kegl,
  "Algorithms for hyper-parameter optimization" (TPE), NeurIPS 2011.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from mdl.search.space import SearchSpace

JOURNAL = "search.journal"
SAMPLERS = ("tpe", "random", "grid", "qmc", "bisect")


class SearchResult(NamedTuple):
    """The winner and every evaluated configuration.

    Attributes:
      config: the winning configuration.
      objective_bits: its ``objective`` bits (the data's code given the configuration).
      search_bits: its codeword in the space (the charge for choosing it).
      total_bits: ``objective_bits + search_bits``, the reported code length.
      info: what the objective returned beside ``bits`` for the winner.
      trials: one dict per evaluated configuration (number, config, the three bit counts,
        info), in trial order.
      feasible: whether the winner meets the constraint of a constrained search (its
        ``violation`` is 0); always True for an unconstrained one. When no configuration
        meets it, the winner is the one that misses it by least.
    """

    config: dict
    objective_bits: float
    search_bits: float
    total_bits: float
    info: dict
    trials: list[dict]
    feasible: bool = True


def _storage(out: Path | None, storage: str | None):
    import optuna

    if storage is not None:
        if out is not None:
            raise ValueError("give out= (a journal file there) or storage= (a URL), not both")
        # Heartbeats: a trial whose worker stops beating (killed, or its machine gone) is
        # failed by the next worker that starts one, on any machine.
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna's terms
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(storage, heartbeat_interval=60, grace_period=180)
    if out is None:
        return optuna.storages.InMemoryStorage()
    from optuna.storages.journal import JournalFileBackend

    Path(out).mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(Path(out) / JOURNAL)))


def _sampler(name: str, space: SearchSpace, seed: int):
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "bisect":
        from mdl.search.bisection import BisectionSampler

        return BisectionSampler(space)
    grid = {}
    for dim in space.dimensions:
        if hasattr(dim, "precision"):
            grid[f"{dim.name}#index"] = list(range(2**dim.precision))
        else:
            grid[dim.name] = list(dim.values())
    return optuna.samplers.GridSampler(grid, seed=seed)


def _constrain(trial, violation: float) -> None:
    """Record a trial's ``violation``: ours, and Optuna's constraint (<= 0: feasible), which
    its TPE sampler models apart from the objective (constrained TPE)."""
    trial.set_user_attr("violation", float(violation))
    trial.set_constraint("violation", float(violation))


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_alive(trial, heartbeats: bool) -> bool:
    """Whether the worker running ``trial`` may still finish it. A process of this host: if it
    exists. A process of another host: with ``heartbeats`` (a database URL, where Optuna's
    heartbeat fails a trial whose machine is gone), assumed alive; without (a journal, one
    machine's store: such a trial came with a folder copied from another machine), dead, or
    resuming that folder would wait for it forever. A trial not yet marked with its worker has
    just started: alive."""
    attrs = trial.user_attrs
    if "host" not in attrs:
        return True
    if attrs["host"] != socket.gethostname():
        return heartbeats
    return _alive(int(attrs.get("pid", -1)))


def _requeue_dead_workers_trials(study, heartbeats: bool) -> None:
    """Trials left RUNNING by a worker that cannot finish them (`_holder_alive`: a killed
    process of this host; without heartbeats, any other host's) are marked failed, and their
    configurations queued again."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _holder_alive(trial, heartbeats):
            continue
        # FrozenTrial has no public id; the storage API takes the private one
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        if trial.params:
            study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


def _fail_stale_trials(study) -> None:
    """With a database URL, fail the trials whose worker stopped beating (Optuna's heartbeat),
    so that nothing waits on a dead machine's trial; a no-op for the other stores."""
    import optuna

    with warnings.catch_warnings():  # "experimental" in Optuna's terms
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _await_running_trials(study, heartbeats: bool) -> None:
    """Wait for the trials other workers are running now, so that every worker sharing the
    store reports the same winner (the budget is shared: a worker that sees it spent may end
    while another still evaluates the last configuration). Trials started after this call are
    not waited for; a trial whose worker dies is given up on (`_holder_alive`; a database URL:
    Optuna's heartbeat fails it)."""
    from optuna.trial import TrialState

    pending = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    while pending:
        _fail_stale_trials(study)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        alive = {t.number for t in running if _holder_alive(t, heartbeats)}
        pending &= alive
        if pending:
            time.sleep(0.1)


def _evaluated(study) -> list:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t for t in trials if "same_as" not in t.user_attrs]


def search(
    objective: Callable[[dict], float | Mapping[str, Any]],
    space: SearchSpace,
    *,
    trials: int,
    out: str | Path | None = None,
    storage: str | None = None,
    study_name: str = "mdl-search",
    sampler: str = "tpe",
    seed: int = 0,
    max_proposals: int | None = None,
    budget_seconds: float | None = None,
    constrained: bool = False,
    first: Sequence[Mapping[str, Any]] = (),
) -> SearchResult:
    r"""Evaluate up to ``trials`` configurations of ``space`` and return the one with the
    shortest total code $L_{\text{space}}(c) + \text{objective}(c)$.

    Args:
      objective: ``config -> bits`` (finite, >= 0), or a mapping with ``"bits"`` and other
        JSON-able fields kept as the trial's info. Train here on training data only: the
        returned bits are a code length on the training set, never a test figure.
      space: the `SearchSpace`; its code is the charge.
      trials: how many distinct configurations to evaluate in all (the store's count:
        several workers, or a resumed run, share it); fewer when the space has fewer.
      out: a results folder for the default journal store (``out/search.journal``): one
        machine's workers share it (a trial another machine left running in a copied folder
        is run again).
      storage: an Optuna storage URL instead (``sqlite:///...``, ``postgresql://...``), for
        workers on many machines (a heartbeat fails the trials of a machine that dies).
        Neither: an in-memory store (no resume).
      study_name: the study in the store.
      sampler: ``"tpe"``, ``"random"``, ``"grid"``, ``"qmc"``, or ``"bisect"`` (a constrained
        search with one free, ordered setting whose constraint holds up to a threshold value:
        `mdl.search.bisection`; the search ends when the bracket closes).
      seed: the sampler's seed (give each concurrent worker its own).
      max_proposals: stop after this many proposals in this process even if some were
        repeats (default ``20 * trials``).
      budget_seconds: propose no new trial after this many seconds of this call (the trial
        running then finishes); None: no time limit. Either way, a worker whose budget is
        spent waits for the trials other workers are running then, so that every worker
        sharing the store returns the same winner.
      constrained: the objective also returns ``"violation"`` (finite, >= 0; 0 when the
        configuration meets the caller's constraint, e.g. how far a validation error is above
        its target): the winner is the shortest total among the configurations with violation
        0 (or, if none has, the least violation), and TPE models the constraint (Optuna's
        ``Trial.set_constraint``).
      first: configurations of ``space`` to evaluate before the sampler's own proposals, in
        this order (Optuna's ``enqueue_trial``; a resumed study does not queue them again): a
        researcher's prior guess, or the most promising points of a grid the budget may cut
        short. The charge is the space's code either way: where the search looks first does
        not change what a configuration costs to name.

    Returns:
      A `SearchResult`.

    Raises:
      ValueError: for a bad budget or sampler (``"bisect"`` without ``constrained``, or for a
        space it cannot bisect), before anything runs; for an objective that
        returns no finite, non-negative ``bits`` (or, when constrained, ``violation``).
    """
    import optuna
    from optuna.trial import TrialState

    if not isinstance(space, SearchSpace):
        raise ValueError(f"space must be a SearchSpace; got {type(space).__name__}")
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer; got {trials!r}")
    if budget_seconds is not None and not budget_seconds > 0:
        raise ValueError(f"budget_seconds must be > 0 or None; got {budget_seconds!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}")
    if sampler == "bisect" and not constrained:
        raise ValueError(
            "sampler 'bisect' bisects against a constraint: give constrained=True (the "
            "objective returns a violation)"
        )
    queued = [space.params(config) for config in first]  # ValueError for a stranger
    size = math.prod(len(list(dim.values())) for dim in space.dimensions)
    budget = min(trials, size)
    max_proposals = 20 * trials if max_proposals is None else max_proposals
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=_storage(out, storage),
        sampler=_sampler(sampler, space, seed),
        study_name=study_name,
        direction="minimize",
        load_if_exists=True,
    )
    heartbeats = storage is not None  # a database URL: `_storage` turns its heartbeat on
    _requeue_dead_workers_trials(study, heartbeats)
    # A trial holds its parameters once it runs; a queued (waiting) one holds them as Optuna's
    # fixed parameters until then.
    held = {
        _key(t.params or t.system_attrs.get("fixed_params", {}))
        for t in study.get_trials(deepcopy=False)
    }
    for params in queued:
        if _key(params) not in held:
            study.enqueue_trial(params)
            held.add(_key(params))

    def run(trial) -> float:
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        config = space.suggest(trial)
        key = _key(trial.params)

        def same_configuration():
            return [
                t
                for t in study.get_trials(deepcopy=False)
                if t.number != trial.number
                and "same_as" not in t.user_attrs
                and t.state in (TrialState.COMPLETE, TrialState.RUNNING)
                and _key(t.params) == key
            ]

        while True:  # a configuration another trial holds: reuse it, or wait for it
            _fail_stale_trials(study)
            same = same_configuration()
            done = [t for t in same if t.state == TrialState.COMPLETE]
            if done:
                trial.set_user_attr("same_as", done[0].number)
                if "violation" in done[0].user_attrs:  # the sampler's constraint, copied
                    _constrain(trial, done[0].user_attrs["violation"])
                return float(done[0].value)
            # an earlier trial of it, or one already evaluating it (whose proposal this
            # trial's check may have missed), holds the configuration
            holders = [t for t in same if t.number < trial.number or t.user_attrs.get("evaluating")]
            if not any(_holder_alive(t, heartbeats) for t in holders):
                # Claim it, then look again: an earlier trial may have proposed it between the
                # look above and the claim, and gone ahead on seeing no claim yet. The earlier
                # one keeps it, so exactly one of them evaluates (a later proposal sees the
                # claim and waits).
                trial.set_user_attr("evaluating", True)
                if not any(
                    t.state == TrialState.COMPLETE
                    or (t.number < trial.number and _holder_alive(t, heartbeats))
                    for t in same_configuration()
                ):
                    break
                trial.set_user_attr("evaluating", False)
            time.sleep(0.1)
        result = objective(dict(config))
        info = dict(result) if isinstance(result, Mapping) else {"bits": result}
        bits = info.pop("bits", None)
        if not isinstance(bits, int | float) or not math.isfinite(bits) or bits < 0:
            raise ValueError(f"objective must return finite bits >= 0; got {bits!r} for {config}")
        if constrained:
            violation = info.pop("violation", None)
            if (
                not isinstance(violation, int | float)
                or not math.isfinite(violation)
                or violation < 0
            ):
                raise ValueError(
                    "a constrained search's objective must return a finite violation >= 0; "
                    f"got {violation!r} for {config}"
                )
            _constrain(trial, violation)
        charge = space.bits(config)
        trial.set_user_attr("config", config)
        trial.set_user_attr("objective_bits", float(bits))
        trial.set_user_attr("search_bits", charge)
        trial.set_user_attr("info", info)
        return float(bits) + charge

    proposals, started = 0, time.monotonic()
    while len(_evaluated(study)) < budget and proposals < max_proposals:
        if budget_seconds is not None and time.monotonic() - started >= budget_seconds:
            break
        if (
            sampler == "bisect"
            and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            and study.sampler.next_index(study) is None
        ):
            break  # the bracket is closed and no first point waits
        study.optimize(run, n_trials=1, catch=())
        proposals += 1
    _await_running_trials(study, heartbeats)
    evaluated = sorted(_evaluated(study), key=lambda t: t.number)
    if not evaluated:
        raise RuntimeError(f"no configuration of {space!r} was evaluated")
    rows = [
        {
            "number": t.number,
            "config": t.user_attrs["config"],
            "objective_bits": t.user_attrs["objective_bits"],
            "search_bits": t.user_attrs["search_bits"],
            "total_bits": float(t.value),
            "info": t.user_attrs["info"],
            **({"violation": t.user_attrs.get("violation", math.inf)} if constrained else {}),
        }
        for t in evaluated
    ]
    # constrained: feasible first, then the least violation; then the shortest total
    best = min(rows, key=lambda r: (r.get("violation", 0.0), r["total_bits"], r["number"]))
    return SearchResult(
        best["config"],
        best["objective_bits"],
        best["search_bits"],
        best["total_bits"],
        best["info"],
        rows,
        best.get("violation", 0.0) == 0.0,
    )
