"""``examples/dask_logistic_regression.py`` fits its model, on Dask arrays, as numpy would.

The example runs once as a subprocess with its defaults (shared with
tests/test_examples.py, which also checks that it runs cleanly); its ``main``
runs again here on a small data set with ``--check``, which fits the same data
held in numpy arrays. Times and memory are printed, never checked here
(tests/test_dask.py checks that the memory does not grow with the data).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from test_examples import number_after
from test_examples_optim import output

pytest.importorskip("dask.array", reason="needs the dask extra: pip install 'cgraph[dask]'")
pytest.importorskip("array_api_compat", reason="needs the dask extra: pip install 'cgraph[dask]'")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from dask_logistic_regression import main, true_parameters


def _vector_after(label: str, text: str) -> np.ndarray:
    match = re.search(rf"{re.escape(label)}\s*\[([^\]]*)\]", text)
    assert match, f"no {label!r} in:\n{text}"
    return np.array([float(item) for item in match.group(1).split()])


def test_the_default_run_recovers_the_model_its_labels_come_from():
    out = output("dask_logistic_regression.py")
    assert "1,000,000 rows x 8 features" in out
    assert "one dask.compute each" in out
    assert number_after("loss", out) < 0.5  # log 2 = 0.693 at the start
    w_true, b_true = true_parameters()
    np.testing.assert_allclose(_vector_after("w fitted", out), w_true, atol=0.1)
    assert number_after("b", out.split("w fitted", 1)[1]) == pytest.approx(b_true, abs=0.1)
    assert "lazy dask array" in out


def test_a_small_run_agrees_with_numpy_arrays_in_memory(capsys):
    report = main(["--rows", "20000", "--chunk-rows", "5000", "--steps", "10", "--check"])
    assert report["numpy_gap"] <= 1e-10
    assert "numpy arrays in memory give the same fit" in capsys.readouterr().out
