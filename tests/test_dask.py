"""The named graph on Dask arrays: lazy passes, one compute per step, a cluster, bounded memory.

The op-by-op check on Dask arrays is in ``test_array_api.py``; this module
checks what a Dask user relies on: values stay lazy until asked for, a loss and
all its gradients are one ``dask.compute`` that reads each chunk once,
``minimize`` costs one compute per step and gives numpy's numbers, the same
runs on a ``dask.distributed`` cluster, and the example's memory does not grow
with its data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cgraph import ArrayTypeError, ComputationalGraph, minimize
from cgraph.optim import Adam

da = pytest.importorskip("dask.array", reason="needs the dask extra: pip install 'cgraph[dask]'")
pytest.importorskip("array_api_compat", reason="needs the dask extra: pip install 'cgraph[dask]'")
import dask  # noqa: E402
from dask.callbacks import Callback  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
from dask_logistic_regression import dataset, logistic_regression  # noqa: E402


class Computes(Callback):
    """Counts the computes run, and the tasks run by the function that ran them."""

    def __init__(self) -> None:
        super().__init__()
        self.computes = 0
        self.tasks: dict[str, int] = {}

    def _start(self, dsk: object) -> None:
        self.computes += 1

    def _posttask(self, key: object, result: object, dsk: object, state: object, id: object):
        name = key[0] if isinstance(key, tuple) else key
        self.tasks[name] = self.tasks.get(name, 0) + 1


def _small_problem(rows: int = 2_000, chunk_rows: int = 500) -> tuple:
    return dataset(rows, chunk_rows)


def test_forward_and_backward_build_lazy_values_that_say_so():
    x, y = _small_problem()
    cg = logistic_regression(x, y)
    with Computes() as seen:
        loss = cg.forward("loss")
        grads = cg.backward("loss")
    assert seen.computes == 0
    assert isinstance(loss, da.Array)
    assert isinstance(grads["w"], da.Array)
    assert isinstance(cg.get_value("logits"), da.Array)
    assert "lazy dask array(2000,) float64, not computed" in cg.summary()
    assert "lazy dask array() float64, not computed" in cg.summary()


def test_loss_and_gradients_are_one_compute_that_reads_each_chunk_once():
    x, y = _small_problem()
    cg = logistic_regression(x, y)
    cg.inputs["w"].output = np.linspace(-0.3, 0.3, 8)
    with Computes() as seen:
        loss, grads = dask.compute(cg.forward("loss"), cg.backward("loss"))
    assert seen.computes == 1
    generated = [count for name, count in seen.tasks.items() if "standard_normal" in str(name)]
    assert generated == [4]  # X's 4 chunks, each generated once
    x_np, y_np = dask.compute(x, y)
    reference = logistic_regression(x_np, y_np)
    reference.inputs["w"].output = np.linspace(-0.3, 0.3, 8)
    assert loss == pytest.approx(reference.forward("loss"), rel=1e-12)
    expected = reference.backward("loss")
    np.testing.assert_allclose(grads["w"], expected["w"], rtol=1e-12)
    assert float(grads["b"]) == pytest.approx(expected["b"], rel=1e-12)


def test_minimize_on_dask_agrees_with_numpy_and_computes_once_per_step():
    x, y = _small_problem()
    cg = logistic_regression(x, y)
    with Computes() as seen:
        result = minimize(cg, "loss", params=["w", "b"], optimizer=Adam(lr=0.1), steps=15, tol=None)
    assert seen.computes == result.nfev == 16  # the start and 15 steps
    x_np, y_np = dask.compute(x, y)
    expected = minimize(
        logistic_regression(x_np, y_np),
        "loss",
        params=["w", "b"],
        optimizer=Adam(lr=0.1),
        steps=15,
        tol=None,
    )
    assert abs(result.fun - expected.fun) <= 1e-10
    np.testing.assert_allclose(result.x["w"], expected.x["w"], rtol=0, atol=1e-10)
    assert abs(result.x["b"] - expected.x["b"]) <= 1e-10
    assert type(result.x["b"]) is float
    assert isinstance(result.x["w"], np.ndarray)
    assert result.fun < 0.6  # it learned: log 2 = 0.693 at the start


def test_a_local_cluster_of_two_workers_gives_the_threaded_numbers():
    distributed = pytest.importorskip("dask.distributed")
    x, y = _small_problem()
    cg = logistic_regression(x, y)
    cg.inputs["w"].output = np.linspace(-0.3, 0.3, 8)
    expected = dask.compute(cg.forward("loss"), cg.backward("loss"), scheduler="threads")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        loss, grads = dask.compute(cg.forward("loss"), cg.backward("loss"))
        result = minimize(cg, "loss", params=["w", "b"], optimizer=Adam(lr=0.1), steps=3, tol=None)
    assert loss == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_allclose(grads["w"], expected[1]["w"], rtol=1e-12)
    assert result.nfev == 4
    assert np.isfinite(result.fun)


def test_numpy_parameters_mix_with_dask_data_and_gradients_keep_their_form():
    x, y = _small_problem(rows=100, chunk_rows=30)
    cg = logistic_regression(x, y)
    cg.forward("loss")
    grads = dask.compute(cg.backward("loss"))[0]
    assert isinstance(grads["w"], np.ndarray)
    assert grads["w"].shape == (8,)
    assert np.ndim(grads["b"]) == 0


def test_arrays_of_libraries_that_do_not_mix_raise_an_error_naming_the_node():
    xp = pytest.importorskip("array_api_strict")
    cg = ComputationalGraph()
    cg.add_input("X", xp.ones((3, 2)), trainable=False)
    cg.add_input("w", np.ones(2))
    cg.add_computation_node("z", "matmul", ("X", "w"))
    with pytest.raises(ArrayTypeError, match="'z'") as error:
        cg.forward("z")
    assert "z" in error.value.nodes
    assert "numpy" in str(error.value)
    assert "array_api_strict" in str(error.value)
    with pytest.raises(ArrayTypeError, match="'z'"):
        cg.forward("z")  # the failed pass left the graph as it was: the same refusal


def test_the_examples_memory_does_not_grow_with_its_data():
    """Sixteen times the rows, the same peak memory: the data is never held whole."""
    script = (
        "import sys; sys.path.insert(0, {examples!r})\n"
        "import dask\n"
        "from dask_logistic_regression import dataset, fit, logistic_regression, peak_rss_mb\n"
        "with dask.config.set(scheduler='threads', num_workers=2):\n"
        "    fit(logistic_regression(*dataset({rows}, 100_000)), steps=2)\n"
        "print(peak_rss_mb())\n"
    )

    def peak(rows: int) -> float:
        done = subprocess.run(
            [sys.executable, "-c", script.format(examples=str(EXAMPLES), rows=rows)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return float(done.stdout.split()[-1])

    small, large = peak(500_000), peak(8_000_000)  # 32 MB and 512 MB of features
    assert large - small < 150, (small, large)  # held whole, 480 MB more
