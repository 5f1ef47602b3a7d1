"""Execute every notebook in ``notebooks/``, check what it prints, and keep it stored bare.

Each notebook runs top to bottom in a fresh Python kernel (nbclient), with
``notebooks/`` as its working directory, as a reader who opens it and picks
"Run all" would run it. Any cell that raises fails the test and shows the
cell's traceback.

Then the numbers the notebook prints for its reader are read back from the
executed cells and compared with values worked out here independently (the
tour's value and gradients by hand), or with bounds that say the run did its
job (an optimiser's final point and loss, the classifier's accuracy). A cell is
found by a piece of its source, so editing the prose or adding cells moves no
check; changing what a checked cell prints fails here and says which cell.

Notebooks are kept in git with their outputs stripped, so that diffs show
code, not images; a test checks that too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_SECONDS = 300
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


class Executed:
    """An executed notebook's outputs, read by a piece of each code cell's source."""

    def __init__(self, notebook) -> None:
        self.cells = [cell for cell in notebook.cells if cell.cell_type == "code"]

    def cell(self, snippet: str):
        """The code cell whose source is ``snippet``, or else the one that contains it."""
        found = [cell for cell in self.cells if cell.source.strip() == snippet] or [
            cell for cell in self.cells if snippet in cell.source
        ]
        assert len(found) == 1, f"expected one code cell containing {snippet!r}, found {len(found)}"
        return found[0]

    def text(self, snippet: str) -> str:
        """What the cell printed, then its result's text, as a reader sees them."""
        parts = []
        for output in self.cell(snippet).outputs:
            if output.output_type == "stream" and output.name == "stdout":
                parts.append(output.text)
            elif output.output_type == "execute_result":
                parts.append(output.data.get("text/plain", "") + "\n")
        return "".join(parts)

    def lines(self, snippet: str) -> list[str]:
        return self.text(snippet).splitlines()

    def shows(self, snippet: str, kind: str) -> bool:
        """Whether the cell displayed a picture of this MIME type (image/png, image/svg+xml)."""
        return any(kind in output.get("data", {}) for output in self.cell(snippet).outputs)


def numbers(line: str) -> list[float]:
    return [float(token) for token in NUMBER.findall(line)]


CHECKS: dict[str, Callable[[Executed], None]] = {}


def checks(name: str):
    """Register the function that checks the outputs of notebooks/<name>."""

    def register(function: Callable[[Executed], None]) -> Callable[[Executed], None]:
        CHECKS[name] = function
        return function

    return register


# ------------------------------------------------------------------------------------------
# 01_tour: f(x, y) = (x + s(y)) / (s(x) + (x + y)^2) at (2, -4), worked out here by hand
# ------------------------------------------------------------------------------------------


def tour_by_hand() -> dict[str, float]:
    x, y = 2.0, -4.0
    s = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    num, denom = x + s(y), s(x) + (x + y) ** 2
    ddenom = -num / denom**2  # df/d denom
    return {
        "f": num / denom,
        "denom": denom,
        "ddenom": ddenom,
        "dx": 1.0 / denom + ddenom * (s(x) * (1 - s(x)) + 2 * (x + y)),
        "dy": s(y) * (1 - s(y)) / denom + ddenom * 2 * (x + y),
    }


@checks("01_tour.ipynb")
def check_tour(run: Executed) -> None:
    want = tour_by_hand()
    assert run.shows("cg", "image/svg+xml")  # a graph is displayed as its drawing
    assert float(run.text('cg.forward("f")')) == pytest.approx(want["f"], rel=1e-12)
    gradients = ast.literal_eval(run.text('cg.backward("f")'))
    assert gradients == pytest.approx({"x": want["dx"], "y": want["dy"]}, rel=1e-12)
    value, gradient = numbers(run.lines('get_value("denom")')[0])
    assert (value, gradient) == pytest.approx((want["denom"], want["ddenom"]), rel=1e-12)
    summary = run.text("cg.summary()")
    assert re.search(r"^f\s+div\s+num, denom\s+\(\)\s+0\.413454\s+1$", summary, re.MULTILINE)
    assert run.shows("fig = cg.draw()", "image/png")
    # explain: each path's product of local derivatives, and the three products' sum, is
    # backward's df/dx (printed to 6 digits): 'product = a * b * c = abc'.
    explained = run.lines('cg.explain("x")')
    products = [numbers(line) for line in explained if line.lstrip().startswith("product")]
    assert len(products) == 3
    for *factors, product in products:
        assert np.prod(factors) == pytest.approx(product, rel=1e-5), products
    assert sum(product[-1] for product in products) == pytest.approx(want["dx"], rel=1e-5)
    assert numbers(explained[-1])[-1] == pytest.approx(want["dx"], rel=1e-5)
    total, backward = numbers(run.lines("explanation.total")[-1])
    assert total == pytest.approx(want["dy"], rel=1e-12)
    assert backward == pytest.approx(want["dy"], rel=1e-12)
    numerical, verdict = run.lines("numerical_gradient(cg")
    assert ast.literal_eval(numerical) == pytest.approx(
        {"x": want["dx"], "y": want["dy"]}, rel=1e-7
    )
    assert verdict == "True"
    assert run.shows("model.draw(collapse=True)", "image/png")
    assert run.shows('model.draw(root="loss", depth=2)', "image/png")


# ------------------------------------------------------------------------------------------
# 02_optimisation: the quadratic's minimum -40016 at (-200, -4); Rosenbrock's 0 at (1, 1)
# ------------------------------------------------------------------------------------------


@checks("02_optimisation.ipynb")
def check_optimisation(run: Executed) -> None:
    # The starting values: 0 for the quadratic at (0, 0); 2.2^2 + 100 * 0.44^2 for Rosenbrock.
    assert numbers(run.text('print(quadratic().forward("f")')) == pytest.approx([0.0, 24.2])
    # 50 steps of gradient descent with lr = 0.1 shrink the distance to the minimum by 0.8^50.
    result = run.text("steps=50)\nresult")
    x, y = (-200 * (1 - 0.8**50), -4 * (1 - 0.8**50))
    point = ast.literal_eval(re.search(r"x: (\{.*\})", result).group(1))
    assert point == pytest.approx({"x": x, "y": y}, rel=1e-12)
    fun = float(re.search(r"fun: (\S+)", result).group(1))
    assert fun == pytest.approx(x**2 + y**2 + 400 * x + 8 * y, rel=1e-12)
    assert re.search(r"nit: 50$", result, re.MULTILINE)
    assert re.search(r"success: False$", result, re.MULTILINE)

    table = {line.split("  ")[0].strip(): line for line in run.lines("quadratic_runs = {")}
    assert list(table) == [
        "GradientDescent(lr=0.1)",
        "Momentum(lr=0.05)",
        "Nesterov(lr=0.05)",
        "Adam(lr=10)",
        "L-BFGS-B",
    ]
    for name, line in table.items():
        steps = int(re.search(r"(\d+) steps", line).group(1))
        found = {key: float(value) for key, value in re.findall(r"(\w) = +(\S+)", line)}
        assert found == pytest.approx({"x": -200.0, "y": -4.0, "f": -40016.0}, abs=1e-5), line
        assert steps < (5 if name == "L-BFGS-B" else 500), line  # stopped by tol, not budget
    assert run.shows("quadratic_runs.items():\n    plot_loss", "image/png")

    table = {line.split("  ")[0].strip(): line for line in run.lines("rosenbrock_runs = {")}
    assert list(table) == [
        "GradientDescent(lr=1e-3)",
        "Momentum(lr=1e-3)",
        "Nesterov(lr=1e-3)",
        "Adam(lr=0.05)",
        "L-BFGS-B",
    ]
    # name: (fewer steps than, distance to (1, 1) under, loss under); gradient descent crawls
    # along the valley and uses up its 5000 steps short of (1, 1).
    bounds = {
        "GradientDescent(lr=1e-3)": (5001, 1.0, 0.1),
        "Momentum(lr=1e-3)": (5000, 1e-3, 1e-6),
        "Nesterov(lr=1e-3)": (5000, 1e-3, 1e-6),
        "Adam(lr=0.05)": (5000, 1e-3, 1e-6),
        "L-BFGS-B": (100, 1e-8, 1e-12),
    }
    for name, line in table.items():
        steps = int(re.search(r"(\d+) steps", line).group(1))
        distance = float(re.search(r"distance to \(1, 1\) = (\S+)", line).group(1))
        loss = float(re.search(r"f = (\S+)", line).group(1))
        most_steps, farthest, highest = bounds[name]
        assert steps < most_steps, line
        assert distance < farthest, line
        assert loss < highest, line
        if name.startswith("GradientDescent"):
            assert distance > 1e-3, line
            assert line.endswith("step budget of 5000 steps used"), line
    assert run.shows("rosenbrock_runs.items():\n    plot_loss", "image/png")

    # The hand-written loop takes Adam's steps and lands where minimize's Adam did.
    steps, by_hand, by_minimize = numbers(run.text("opt = Adam(lr=0.05).bind(cg)"))
    assert steps == float(re.search(r"(\d+) steps", table["Adam(lr=0.05)"]).group(1))
    assert by_hand == pytest.approx(by_minimize, rel=1e-12)
    assert by_hand == pytest.approx(1.0, abs=1e-3)

    diverged = run.lines("except cgraph.NonFiniteError")
    assert re.search(r"diverged at step \d+; .*node 'b2'", diverged[0])
    kept = numbers(diverged[-1].removeprefix("x, y kept at"))
    assert len(kept) == 2, diverged[-1]
    assert np.all(np.isfinite(kept)), diverged[-1]


# ------------------------------------------------------------------------------------------
# 03_classifier: seeded, so the run repeats; bounds leave room for another BLAS's rounding
# ------------------------------------------------------------------------------------------


@checks("03_classifier.ipynb")
def check_classifier(run: Executed) -> None:
    shapes = run.lines("train_test_split(")[0]
    assert numbers(shapes) == [1347, 64, 450, 64], shapes
    assert run.shows("x_train[:8], y_train[:8]", "image/png")
    first = run.lines("batch = slice(0, 32)")[0]
    loss, log10 = map(float, re.search(r"training: (\S+)  \(log 10 = (\S+)\)", first).groups())
    assert log10 == pytest.approx(np.log(10), abs=1e-4)
    assert 2.0 < loss < 4.0, first  # near log 10 for random weights: a fair start
    checked = run.lines("tiny = {")
    assert numbers(checked[-2])[0] < 1e-6, checked[-2]  # largest difference
    assert checked[-1] == "True"  # gradcheck

    epochs = [numbers(line) for line in run.lines("for epoch in range(1, EPOCHS + 1)")]
    assert [epoch[0] for epoch in epochs] == list(range(1, 16))
    train_losses, accuracies = [epoch[1] for epoch in epochs], [epoch[2] for epoch in epochs]
    assert train_losses[-1] < min(0.15, train_losses[0] / 3), train_losses
    assert accuracies[-1] >= 0.93, accuracies  # about 0.97 here; logistic regression ~0.95
    assert run.shows("ax.plot(np.arange(EPOCHS + 1), epoch_losses", "image/png")

    norms = [numbers(line)[-1] for line in run.lines('for name in ["layer1/W"')]
    assert len(norms) == 4, norms
    assert max(norms) < 1.0, norms  # near a minimum of the training loss

    final = run.lines("predicted = np.argmax")[0]
    accuracy, wrong, total = numbers(final)
    assert total == 450, final
    assert accuracy >= 0.93, final
    assert accuracy == pytest.approx(1 - wrong / total, abs=5e-4)
    assert accuracy == pytest.approx(accuracies[-1], abs=5e-4)  # the same network as epoch 15
    assert run.shows("predicted = np.argmax", "image/png")


# ------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------


def test_notebooks_folder_has_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


def test_every_notebook_has_its_outputs_checked():
    assert sorted(CHECKS) == [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name}: cell {number} has stored outputs; strip them"
        assert cell.execution_count is None, (
            f"{path.name}: cell {number} has an execution count; strip outputs before committing"
        )


def execute(path: Path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}")
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_and_prints_the_expected_results(path):
    notebook = execute(path)  # once: running a notebook takes seconds
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors, f"{path.name} produced errors: {errors}"
    CHECKS[path.name](Executed(notebook))
