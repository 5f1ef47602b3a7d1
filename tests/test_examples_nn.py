"""Check what the digits examples print: they train, per epoch, and well enough.

examples/digits_classifier.py trains logistic regression and an MLP,
examples/digits_cnn.py a small convolutional network on the same split. Each
runs once, as a subprocess (``run_example`` caches its output for the session,
shared with test_examples.py), and its printed numbers are read back: one loss
and accuracy per epoch for each model, then the final accuracy of each on the
held-out digits; the CNN's must beat the MLP's.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from test_examples import ROOT, TIMEOUT_SECONDS, number_after, run_example

pytest.importorskip("sklearn", reason="the digits example needs the data extra")

EXAMPLE = ROOT / "examples" / "digits_classifier.py"
CNN_EXAMPLE = ROOT / "examples" / "digits_cnn.py"
EPOCH_LINE = re.compile(
    r"^epoch\s+(\d+): train loss (\d+\.\d+), test accuracy (\d\.\d+)$", re.MULTILINE
)


def _printed(example) -> str:
    result = run_example(example)
    assert result.returncode == 0, f"{example.name} failed:\n{result.stderr}"
    assert result.stderr == "", f"{example.name} wrote to stderr:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def output() -> str:
    return _printed(EXAMPLE)


@pytest.fixture(scope="module")
def cnn_output() -> str:
    return _printed(CNN_EXAMPLE)


def epochs(section: str) -> list[tuple[int, float, float]]:
    """(epoch, train loss, test accuracy) for every epoch line of ``section``."""
    return [(int(e), float(loss), float(acc)) for e, loss, acc in EPOCH_LINE.findall(section)]


def sections(out: str) -> dict[str, str]:
    """The output of each model's training, from its 'Training ...' header to the next."""
    logistic_part, mlp_part = out.split("Training MLP", 1)
    return {
        "logistic regression": logistic_part.split("Training logistic regression", 1)[1],
        "MLP": mlp_part,
    }


def test_mlp_reaches_95_percent_on_held_out_digits(output):
    assert number_after("MLP: test accuracy", output) >= 0.95


def test_logistic_regression_is_reasonable(output):
    assert number_after("logistic regression: test accuracy", output) >= 0.90


def test_mlp_beats_logistic_regression(output):
    assert number_after("MLP: test accuracy", output) > number_after(
        "logistic regression: test accuracy", output
    )


@pytest.mark.parametrize("model", ["logistic regression", "MLP"])
def test_one_line_per_epoch_with_loss_decreasing(output, model):
    lines = epochs(sections(output)[model])
    assert len(lines) >= 5, f"too few epoch lines for {model}"
    assert [epoch for epoch, _, _ in lines] == list(range(1, len(lines) + 1))
    losses = [loss for _, loss, _ in lines]
    assert losses[0] > losses[-1], f"{model}: loss did not decrease: {losses}"
    # Generally decreasing: the loss is lower at the end than anywhere in the first half.
    assert losses[-1] < min(losses[: len(losses) // 2])
    # The last epoch's accuracy is the final one reported.
    assert lines[-1][2] == number_after(f"{model}: test accuracy", output)


def test_nodes_are_shown_by_name(output):
    shapes = dict(re.findall(r"^\s+(layer\d/\w)\s+(\([\d, ]*\))", output, re.MULTILINE))
    assert shapes["layer1/W"] == "(64, 64)"
    assert shapes["layer1/b"] == "(64,)"
    assert shapes["layer2/W"] == "(10, 64)"


# ------------------------------------------------------------------------------------------
# The CNN
# ------------------------------------------------------------------------------------------


def test_cnn_beats_the_mlp_on_the_same_held_out_digits(output, cnn_output):
    cnn = number_after("CNN: test accuracy", cnn_output)
    assert cnn >= 0.975
    assert cnn > number_after("MLP: test accuracy", output)


def test_cnn_prints_one_line_per_epoch_with_loss_decreasing(cnn_output):
    lines = epochs(cnn_output)
    assert [epoch for epoch, _, _ in lines] == list(range(1, len(lines) + 1))
    losses = [loss for _, loss, _ in lines]
    assert losses[-1] < min(losses[: len(losses) // 2])
    assert lines[-1][2] == number_after("CNN: test accuracy", cnn_output)


def test_cnn_nodes_are_shown_by_name(cnn_output):
    shapes = dict(re.findall(r"^\s+([\w/]+)\s+(\([\d, ]*\))$", cnn_output, re.MULTILINE))
    assert shapes["conv1/W"] == "(16, 1, 3, 3)"
    assert shapes["conv1/pool"] == "(1347, 16, 4, 4)"
    assert shapes["conv2/pool"] == "(1347, 32, 2, 2)"
    assert shapes["flat"] == "(1347, 128)"
    assert shapes["dense/z"] == "(1347, 10)"


@pytest.mark.parametrize("example", [EXAMPLE, CNN_EXAMPLE], ids=lambda path: path.name)
def test_without_scikit_learn_it_names_the_extra(example):
    # sys.modules[name] = None makes "import sklearn" raise ImportError, as if not installed.
    blocked = (
        "import runpy, sys; sys.modules['sklearn'] = None; "
        f"runpy.run_path({str(example)!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert '".[data]"' in result.stderr
