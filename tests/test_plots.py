import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdl.plots import by_beta, pareto_indices, plot_results
from mdl.records import append_record


def fake_records(rng, betas=(0.01, 0.1, 1.0), seeds=(0, 1, 2)):
    records = []
    for beta in betas:
        for seed in seeds:
            bits = 1e4 / (1 + 10 * beta) + rng.normal(0, 50)
            test_error = 0.05 + 0.2 * beta + rng.uniform(0, 0.01)
            train_error = test_error - 0.02
            records.append(
                dict(
                    beta=beta,
                    seed=seed,
                    model_file_bits=bits,
                    train_data_bits=2000 * beta,
                    test_error=test_error,
                    train_error=train_error,
                    gap=test_error - train_error,
                    error_bound=min(1.0, test_error + 0.3),
                    sparsity=0.5,
                )
            )
    return records


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30))
def test_pareto_indices_are_exactly_the_undominated_points(points):
    cost = np.array([p[0] for p in points], float)
    error = np.array([p[1] for p in points], float)
    front = set(pareto_indices(cost, error).tolist())
    for i in range(len(points)):
        dominated = any(
            cost[j] <= cost[i]
            and error[j] <= error[i]
            and (cost[j], error[j]) != (cost[i], error[i])
            for j in range(len(points))
        )
        if dominated:
            assert i not in front
    # Among exact duplicates one stands for all; every undominated value appears once.
    undominated_values = {
        (cost[i], error[i])
        for i in range(len(points))
        if not any(
            cost[j] <= cost[i]
            and error[j] <= error[i]
            and (cost[j], error[j]) != (cost[i], error[i])
            for j in range(len(points))
        )
    }
    assert {(cost[i], error[i]) for i in front} == undominated_values


def test_by_beta_aggregates_over_seeds():
    records = fake_records(np.random.default_rng(0))
    betas, mean, low, high = by_beta(records, "test_error")
    assert betas.tolist() == [0.01, 0.1, 1.0]
    for beta, m, lo, hi in zip(betas, mean, low, high, strict=True):
        values = [r["test_error"] for r in records if r["beta"] == beta]
        assert m == pytest.approx(np.mean(values)) and lo == min(values) and hi == max(values)
    with pytest.raises(ValueError, match="no records"):
        by_beta([], "test_error")


def test_plot_results_writes_every_figure_as_png_and_pdf(tmp_path):
    for record in fake_records(np.random.default_rng(1)):
        append_record(tmp_path / "records.jsonl", record)
    paths = plot_results(tmp_path)
    assert len(paths) == 6 and paths[0].name == "compression_vs_generalization.png"
    for path in paths:
        head = path.read_bytes()[:8]
        assert head.startswith(b"\x89PNG" if path.suffix == ".png" else b"%PDF")
    with pytest.raises(ValueError, match="no records"):
        plot_results(tmp_path / "empty")
