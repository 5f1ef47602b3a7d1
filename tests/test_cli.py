"""The ``cgraph`` command, run as a subprocess: every command, its JSON, its errors and exit codes.

Each test starts ``python -m cgraph.cli`` (once, the installed ``cgraph`` script)
in a temporary directory and reads what it prints, as a shell user would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import build_classic_graph

import cgraph
from cgraph import ComputationalGraph
from cgraph.cli import main

ROOT = Path(__file__).resolve().parent.parent
COMMAND_LINE_PAGE = ROOT / "docs" / "command-line.md"  # the docs page of the command
TIMEOUT_SECONDS = 60
COMMAND = [sys.executable, "-m", "cgraph.cli"]

FXY = "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)"
FXY_VALUE, FXY_DX, FXY_DY = 0.41345423252018193, 0.5348320870757595, 0.342460382923052
QUADRATIC = "x**2 + y**2 + 400*x + 8*y"


def environment(**extra: str) -> dict[str, str]:
    """The process environment, with this checkout's cgraph first on the path (not an install)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "MPLBACKEND": "Agg", "COLUMNS": "100", "PYTHONPATH": path, **extra}


def run(
    *args: str, cwd: Path, command: list[str] = COMMAND, **env: str
) -> subprocess.CompletedProcess:
    """The command's run with ``args``: its exit code, stdout and stderr as text."""
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
        env=environment(**env),
    )


def run_json(*args: str, cwd: Path, status: int = 0) -> dict:
    result = run(*args, "--json", cwd=cwd)
    assert result.returncode == status, result.stderr
    return json.loads(result.stdout)


def save_graph(cg: ComputationalGraph, path: Path) -> Path:
    cg.save(path)
    return path


def quadratic_graph() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=0.0, y=0.0)
    cg.add_expression("loss", QUADRATIC)
    return cg


# ------------------------------------------------------------------------------------------
# grad
# ------------------------------------------------------------------------------------------


def test_grad_prints_the_value_and_every_gradient_by_name(tmp_path):
    result = run("grad", FXY, "--at", "x=2", "y=-4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"f     = {FXY_VALUE!r}",
        f"df/dx = {FXY_DX!r}",
        f"df/dy = {FXY_DY!r}",
    ]
    assert result.stderr == ""


def test_grad_json_is_exact(tmp_path):
    output = run_json("grad", FXY, "--at", "x=2", "y=-4", cwd=tmp_path)
    assert output == {"root": "f", "value": FXY_VALUE, "gradient": {"x": FXY_DX, "y": FXY_DY}}


def test_json_floats_round_trip_bit_for_bit(tmp_path):
    # Values whose shortest repr has 17 digits: any rounding on the way would show.
    expression, x, w = "x * sin(w) + exp(x / w)", 0.1 + 0.2, [1 / 3, -2 / 7, 1e-3]
    output = run_json("grad", expression, "--at", f"x={x!r}", f"w={w!r}", cwd=tmp_path)
    cg = cgraph.from_expression(expression, x=x, w=np.array(w))
    value = cg.forward("f")
    grads = cg.backward("f")
    assert output["value"] == value.tolist()
    assert output["gradient"]["x"] == grads["x"]
    assert output["gradient"]["w"] == grads["w"].tolist()


def test_json_writes_nan_and_infinity_as_strings(tmp_path):
    result = run("grad", "log(x) + y / z", "--at", "x=-1", "y=1", "z=0", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)  # strict JSON: no NaN or Infinity tokens
    # log(-1)'s NaN carries the sign bit on some CPUs and libms, written out as graph files do.
    assert output["value"] == "nan" or output["value"].startswith("nan:0x")
    assert output["gradient"] == {"x": -1.0, "y": "inf", "z": "-inf"}
    assert "NaN" not in result.stdout
    assert result.stderr == ""  # numpy's warnings would only repeat what the output shows


def test_grad_with_arrays(tmp_path):
    output = run_json(
        "grad", "sum(w * x)", "--at", "w=[[1, 2], [3, 4]]", "x=[10, 100]", cwd=tmp_path
    )
    assert output["value"] == 10 + 200 + 30 + 400
    assert output["gradient"] == {"w": [[10.0, 100.0], [10.0, 100.0]], "x": [4.0, 6.0]}


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).parent / "cgraph"
    if not script.is_file():
        pytest.skip("the cgraph console script is not installed (pip install -e .)")
    result = run("grad", FXY, "--at", "x=2", "y=-4", "--json", cwd=tmp_path, command=[str(script)])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gradient"] == {"x": FXY_DX, "y": FXY_DY}


# ------------------------------------------------------------------------------------------
# check
# ------------------------------------------------------------------------------------------


def test_check_passes(tmp_path):
    result = run("check", FXY, "--at", "x=2", "y=-4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == [
        "input",
        "element",
        "analytic",
        "numerical",
        "abs",
        "error",
        "rel",
        "error",
        "check",
    ]
    assert [line.split()[0] for line in lines[2:4]] == ["x", "y"]
    assert lines[2].split()[2] == repr(FXY_DX)
    assert lines[-1].startswith("PASS")
    output = run_json("check", FXY, "--at", "x=2", "y=-4", cwd=tmp_path)
    assert output["passed"] is True
    assert output["inputs"]["x"]["analytic"] == FXY_DX
    assert output["inputs"]["x"]["numerical"] == pytest.approx(FXY_DX, rel=1e-8)
    assert output["inputs"]["y"]["abs_error"] < 1e-8


def test_check_fails_at_a_kink_with_status_1(tmp_path):
    # relu's gradient at 0 is 0 by convention; central differences see the average slope 0.5.
    result = run("check", "relu(x)", "--at", "x=[1, 0, 2]", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    name, element, analytic, numerical, *_, check = result.stdout.splitlines()[2].split()
    assert (name, element, analytic, check) == ("x", "(1,)", "0.0", "FAIL")
    assert float(numerical) == pytest.approx(0.5, abs=1e-9)
    assert result.stdout.splitlines()[-1].startswith("FAIL")
    output = run_json("check", "relu(x)", "--at", "x=[1, 0, 2]", cwd=tmp_path, status=1)
    assert output["passed"] is False
    assert output["inputs"]["x"]["element"] == [1]
    # The verdict agrees with cgraph.gradcheck's.
    cg = cgraph.from_expression("relu(x)", x=np.array([1.0, 0.0, 2.0]))
    with pytest.raises(cgraph.GradientMismatchError, match="element"):
        cgraph.gradcheck(cg, "f")


# ------------------------------------------------------------------------------------------
# minimize
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how",
    [
        ["--optimizer", "gd", "--lr", "0.1"],
        ["--optimizer", "momentum", "--lr", "0.05"],
        ["--optimizer", "adam", "--lr", "10", "--steps", "500", "--tol", "1e-6"],
        ["--optimizer", "rmsprop", "--lr", "3", "--steps", "1000", "--tol", "1e-6"],
        ["--optimizer", "adagrad", "--lr", "100", "--steps", "1000", "--tol", "1e-6"],
        ["--method", "L-BFGS-B"],
    ],
    ids=["gd", "momentum", "adam", "rmsprop", "adagrad", "L-BFGS-B"],
)
def test_minimize_reaches_the_minimum(tmp_path, how):
    output = run_json(
        "minimize", QUADRATIC, "--from", "x=0", "y=0", *how, "--no-progress", cwd=tmp_path
    )
    assert output["success"] is True
    assert output["x"]["x"] == pytest.approx(-200.0, abs=1e-5)
    assert output["x"]["y"] == pytest.approx(-4.0, abs=1e-5)
    assert output["fun"] == pytest.approx(-40016.0, rel=1e-12)
    assert output["nit"] > 0


def test_minimize_text_and_progress_bar(tmp_path):
    result = run(
        "minimize",
        QUADRATIC,
        "--from",
        "x=0",
        "y=0",
        "--optimizer",
        "gd",
        "--lr",
        "0.1",
        "--progress",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    labels = [line.split(" = ")[0].strip() for line in result.stdout.splitlines()]
    assert labels == ["x", "y", "fun", "nit", "success", "message", "method"]
    assert "success = True" in result.stdout
    assert "method  = GradientDescent" in result.stdout
    pytest.importorskip("tqdm")
    assert "minimize f" in result.stderr  # the bar, asked for, on stderr only


def test_minimize_out_of_steps_exits_1(tmp_path):
    output = run_json(
        "minimize",
        QUADRATIC,
        "--from",
        "x=0",
        "y=0",
        "--optimizer",
        "gd",
        "--lr",
        "0.1",
        "--steps",
        "5",
        "--no-progress",
        cwd=tmp_path,
        status=1,
    )
    assert output["success"] is False
    assert output["nit"] == 5
    assert "budget" in output["message"]


@pytest.mark.parametrize(
    ("expression", "start", "kind"),
    [
        (QUADRATIC, ["x=0", "y=0"], "the contours of f with the path"),
        ("sum(w**2)", ["w=[1, 2, 3]"], "the loss curve of f"),
    ],
)
def test_minimize_plot_writes_a_png(tmp_path, expression, start, kind):
    pytest.importorskip("matplotlib")
    result = run(
        "minimize",
        expression,
        "--from",
        *start,
        "--method",
        "L-BFGS-B",
        "--plot",
        "out.png",
        "--no-progress",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"plot    = out.png ({kind})" in result.stdout
    image = (tmp_path / "out.png").read_bytes()
    assert image.startswith(b"\x89PNG")
    assert len(image) > 5000


# ------------------------------------------------------------------------------------------
# draw and explain
# ------------------------------------------------------------------------------------------


def test_draw_writes_png_svg_and_dot(tmp_path):
    pytest.importorskip("matplotlib")
    names = list(cgraph.from_expression(FXY, x=2.0, y=-4.0).nodes)
    for output in ("graph.png", "graph.svg", "graph.dot"):
        result = run("draw", FXY, "--at", "x=2", "y=-4", "-o", output, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"wrote {output}: the graph of f with its values and gradients\n"
    assert (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")
    svg = (tmp_path / "graph.svg").read_text()
    assert "<svg" in svg
    dot = (tmp_path / "graph.dot").read_text()
    assert dot.startswith("digraph")
    for name in names:
        assert f'"{name}"' in dot, name
    assert "grad 0.534832" in dot  # drawn after forward and backward


def test_draw_prints_dot_without_output_file(tmp_path):
    result = run("draw", "x * y", "--at", "x=2", "y=3", "--root", "f", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph cgraph {")
    assert '"x" -> "f";' in result.stdout


def test_explain_prints_the_paths_and_their_sum(tmp_path):
    args = ("explain", "x*y + sigmoid(x)", "--wrt", "x", "--at", "x=2", "y=-4")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "df/dx by the chain rule: the sum over the 2 paths from 'f' down to 'x'"
    assert "path 1: f -> f/mul -> x" in lines
    assert "path 2: f -> f/sigmoid -> x" in lines
    assert lines[-2] == "sum over the 2 paths = -4 + 0.104994 = -3.89501"
    assert lines[-1] == "backward gave df/dx  = -3.89501"
    output = run_json(*args, cwd=tmp_path)
    assert [path["nodes"] for path in output["paths"]] == [
        ["f", "f/mul", "x"],
        ["f", "f/sigmoid", "x"],
    ]
    assert output["total"] == pytest.approx(output["gradient"], rel=1e-15)
    sigmoid = 1 / (1 + np.exp(-2.0))
    assert output["gradient"] == pytest.approx(-4 + sigmoid * (1 - sigmoid), rel=1e-15)


# ------------------------------------------------------------------------------------------
# A saved graph file in place of an expression
# ------------------------------------------------------------------------------------------


def test_every_command_on_a_saved_graph_file(tmp_path):
    save_graph(build_classic_graph(), tmp_path / "classic.json")
    assert run_json("grad", "classic.json", cwd=tmp_path) == {
        "root": "f",
        "value": FXY_VALUE,
        "gradient": {"x": FXY_DX, "y": FXY_DY},
    }
    assert run_json("check", "classic.json", cwd=tmp_path)["passed"] is True
    explained = run_json("explain", "classic.json", "--wrt", "x", cwd=tmp_path)
    assert len(explained["paths"]) == 3
    assert explained["gradient"] == FXY_DX
    result = run("draw", "classic.json", "-o", "classic.dot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dot = (tmp_path / "classic.dot").read_text()
    assert all(
        f'"{name}"' in dot for name in ("x", "y", "sigy", "num", "sigx", "xpy", "sq", "denom", "f")
    )
    save_graph(quadratic_graph(), tmp_path / "quadratic.json")
    output = run_json(
        "minimize", "quadratic.json", "--method", "L-BFGS-B", "--no-progress", cwd=tmp_path
    )
    assert output["root"] == "loss"
    assert output["x"]["x"] == pytest.approx(-200.0, abs=1e-5)


def test_at_overrides_a_saved_value_and_root_picks_a_node(tmp_path):
    save_graph(build_classic_graph(), tmp_path / "classic.json")
    output = run_json("grad", "classic.json", "--at", "x=3", "--root", "denom", cwd=tmp_path)
    cg = build_classic_graph()
    assert output["value"] == cg.forward("denom", feed={"x": 3.0})
    assert output["gradient"] == cg.backward("denom")


# ------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit status 2, never a traceback
# ------------------------------------------------------------------------------------------


BAD_INPUT = {
    "unparsable expression": (["grad", "x * (y", "--at", "x=1", "y=2"], "invalid syntax"),
    "unknown function": (["grad", "sigmod(x)", "--at", "x=1"], "unknown function 'sigmod'"),
    "not maths": (["grad", "x.shape", "--at", "x=1"], "attribute 'shape'"),
    "unknown input": (["grad", "x * y", "--at", "x=1", "y=2", "z=3"], "'z'"),
    "missing input": (["grad", "x * y", "--at", "x=1"], "no value for 'y'"),
    "not a number": (["grad", "x * y", "--at", "x=1", "y=abc"], "'abc', is not a number"),
    "code as a value": (["grad", "x", "--at", "x=__import__('os')"], "is not a number"),
    "not a pair": (["check", "x * y", "--at", "x", "1"], "NAME=VALUE"),
    "shapes": (["grad", "x * y", "--at", "x=[1, 2]", "y=[1, 2, 3]"], "do not broadcast"),
    "missing file": (["grad", "nowhere.json"], "no graph file 'nowhere.json'"),
    "bad file": (["grad", "bad.json"], "not valid JSON"),
    "unknown input of a file": (["grad", "classic.json", "--at", "z=1"], "not an input"),
    "unknown root": (["grad", "x * y", "--at", "x=1", "y=2", "--root", "g"], "--root 'g'"),
    "unknown wrt": (["explain", "x * y", "--at", "x=1", "y=2", "--wrt", "z"], "--wrt 'z'"),
    "unknown optimizer": (
        ["minimize", "x**2", "--from", "x=1", "--optimizer", "sgd"],
        "invalid choice: 'sgd'",
    ),
    "unknown method": (
        ["minimize", "x**2", "--from", "x=1", "--method", "Nelder-Mead"],
        "does not use gradients",
    ),
    "lr with a method": (
        ["minimize", "x**2", "--from", "x=1", "--method", "BFGS", "--lr", "1"],
        "--lr is for --optimizer",
    ),
    "plot extension": (
        ["minimize", "x**2", "--from", "x=1", "--plot", "out.txt"],
        "--plot 'out.txt'",
    ),
    "drawing extension": (["draw", "x**2", "--at", "x=1", "-o", "graph.txt"], "-o 'graph.txt'"),
    "diverged": (
        ["minimize", "x**2", "--from", "x=1", "--optimizer", "gd", "--lr", "10", "--no-progress"],
        "diverged",
    ),
    "no command": ([], "required: COMMAND"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, case):
    (tmp_path / "bad.json").write_text('{"format": "cgraph", "nodes": [', encoding="utf-8")
    save_graph(build_classic_graph(), tmp_path / "classic.json")
    args, expected = BAD_INPUT[case]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cgraph: error: ")
    assert expected in lines[0]


def test_help_exits_0(capsys):
    assert main(["minimize", "--help"]) == 0
    shown = capsys.readouterr().out
    for option in (
        "--from",
        "--optimizer",
        "--method",
        "--lr",
        "--steps",
        "--tol",
        "--plot",
        "--no-progress",
        "--json",
        "--root",
    ):
        assert option in shown


# ------------------------------------------------------------------------------------------
# check: gradcheck's tolerances and its one comparison (issue 13)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--atol", "-1", "atol must be a finite number >= 0"),  # passed relu's kink: PASS
        ("--rtol", "-0.5", "rtol must be a finite number >= 0"),
        ("--atol", "nan", "atol must be a finite number >= 0"),
        ("--eps", "0", "eps must be a finite number > 0"),  # divided by zero: a traceback
        ("--eps", "-1e-6", "eps must be a finite number > 0"),  # given as --eps=-1e-6
        ("--eps", "nan", "eps must be a finite number > 0"),
        ("--eps", "inf", "eps must be a finite number > 0"),
    ],
)
def test_check_refuses_a_tolerance_or_step_that_cannot_mean_anything(
    tmp_path, option, value, expected
):
    line = one_line_error(
        run("check", "relu(x)", "--at", "x=[1, 0, 2]", f"{option}={value}", cwd=tmp_path)
    )
    assert line.startswith(f"cgraph: error: gradcheck: {expected}")


def test_check_with_zero_tolerances_passes_an_exact_match(tmp_path):
    # Central differences of a product are exact with a power-of-two step.
    output = run_json(
        "check",
        "x * y",
        "--at",
        "x=3",
        "y=0.5",
        "--eps",
        str(2.0**-10),
        "--atol",
        "0",
        "--rtol",
        "0",
        cwd=tmp_path,
    )
    assert output["passed"] is True
    assert output["inputs"]["x"]["abs_error"] == 0.0


def test_check_uses_gradchecks_comparison(monkeypatch, capsys):
    # cgraph.gradcheck is the function, so the module is found by its full name.
    gradcheck_module = sys.modules["cgraph.transforms.gradcheck"]
    calls = []

    def comparison(analytic, numerical, atol, rtol):
        calls.append((atol, rtol))
        return {
            "passed": False,
            "element": [],
            "analytic": 1.0,
            "numerical": 2.0,
            "abs_error": 1.0,
            "rel_error": 0.5,
        }, 2.0

    monkeypatch.setattr(gradcheck_module, "_compare", comparison)
    assert main(["check", "x * y", "--at", "x=3", "y=0.5", "--atol", "0.25"]) == 1
    assert calls == [(0.25, 1e-3), (0.25, 1e-3)]
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL")


# ------------------------------------------------------------------------------------------
# A size limit, checked before anything is evaluated (issue 14)
# ------------------------------------------------------------------------------------------


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cgraph: error: ")
    return lines[0]


def test_a_value_over_the_size_limit_is_refused_before_it_is_computed(tmp_path):
    # 4e8 elements: 6.3 GB and 19 s before the limit.
    started = time.perf_counter()
    line = one_line_error(
        run("grad", "sum(broadcast_to(x, shape=(20000, 20000)))", "--at", "x=1", cwd=tmp_path)
    )
    assert time.perf_counter() - started < TIMEOUT_SECONDS / 2
    assert line == (
        "cgraph: error: node 'f/broadcast_to' would hold 400000000 elements "
        "(shape (20000, 20000)), over the limit of 10000000 per value; raise it "
        "with --max-elements 400000000"
    )


@pytest.mark.parametrize(
    ("expression", "node", "size"),
    [
        ("sum(reshape(a, shape=(-1, 1)) * b)", "f/mul", 4000 * 4000),  # broadcasting
        ("sum(outer(a, b))", "f/outer", 4000 * 4000),
        (
            "sum(matmul(reshape(a, shape=(-1, 1)), reshape(b, shape=(1, -1))))",
            "f/matmul",
            4000 * 4000,
        ),
    ],
)
def test_every_node_is_checked_by_numpys_shape_rules(tmp_path, expression, node, size):
    values = [f"a={list(range(4000))}", f"b={list(range(4000))}"]
    line = one_line_error(run("grad", expression, "--at", *values, cwd=tmp_path))
    assert f"node {node!r} would hold {size} elements" in line


def test_max_elements_raises_or_lowers_the_limit(tmp_path):
    expression = "sum(broadcast_to(x, shape=(300, 400)))"
    line = one_line_error(
        run("grad", expression, "--at", "x=1", "--max-elements", "100000", cwd=tmp_path)
    )
    assert "over the limit of 100000 per value; raise it with --max-elements 120000" in line
    output = run_json("grad", expression, "--at", "x=1", "--max-elements", "120000", cwd=tmp_path)
    assert output == {"root": "f", "value": 120000.0, "gradient": {"x": 120000.0}}
    for bad in ("0", "-5", "many"):
        line = one_line_error(run("grad", "x", "--at", "x=1", "--max-elements", bad, cwd=tmp_path))
        assert "--max-elements" in line
        assert "whole number >= 1" in line


def test_a_saved_value_over_the_limit_is_refused(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(w=np.ones(1000))
    cg.add_expression("loss", "sum(w**2)")
    save_graph(cg, tmp_path / "big.json")
    for command in ("grad", "check", "minimize", "draw", "explain"):
        extra = ["--wrt", "w"] if command == "explain" else []
        line = one_line_error(
            run(command, "big.json", "--max-elements", "999", *extra, cwd=tmp_path)
        )
        assert "node 'w' would hold 1000 elements" in line, command


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        ("sum(a, axis=-1, keepdims=True) * mean(a, axis=(0, 1))", {"a": np.ones((2, 3, 4))}),
        ("max(a, axis=1) + min(a, axis=0, keepdims=True)", {"a": np.ones((3, 3, 3))}),
        ("matmul(a, b) + 1", {"a": np.ones((2, 3, 4)), "b": np.ones((4, 5))}),
        (
            "matmul(v, b) + matmul(b2, v2)",
            {"v": np.ones(4), "b": np.ones((4, 5)), "b2": np.ones((3, 5, 4)), "v2": np.ones(4)},
        ),
        ("matmul(v, c) + dot(v, v)", {"v": np.ones(4), "c": np.ones((7, 4, 5))}),
        ("outer(a, b)", {"a": np.ones((2, 3)), "b": np.ones(5)}),
        ("reshape(a, shape=(-1, 2)) + 0", {"a": np.ones((2, 3, 4))}),
        ("transpose(a) * softmax(transpose(a), axis=0)", {"a": np.ones((2, 3, 4))}),
        ("concat(a, a, axis=1)", {"a": np.ones((2, 3))}),
        ("stack(a, a, axis=1)", {"a": np.ones((2, 3))}),
        ("linear(x, w, b)", {"x": np.ones((5, 3)), "w": np.ones((4, 3)), "b": np.ones(4)}),
        ("mse(a, b) + bce_with_logits(a, b)", {"a": np.ones((2, 3)), "b": np.ones((2, 3))}),
        (
            "logsumexp(a, axis=(0, 2), keepdims=True) * softplus(clip(a, min=-1.0)) + lgamma(a + 2)"
            " + gelu(a, approximate='tanh')",
            {"a": np.ones((2, 3, 4))},
        ),
    ],
)
def test_the_shapes_worked_out_before_evaluating_are_the_shapes_computed(expression, values):
    from cgraph.cli.limits import shapes_of

    cg = cgraph.from_expression(expression, **values)
    predicted = shapes_of(cg, "f")
    cg.forward("f")
    assert predicted == {name: np.shape(cg.get_value(name)) for name in predicted}


def test_index_and_loss_shapes_are_worked_out_too():
    from cgraph.cli.limits import shapes_of

    cg = ComputationalGraph()
    cg.add_inputs(a=np.ones((4, 3)))
    cg.add_input("labels", np.array([0, 2, 1, 1]), trainable=False)
    cg.add_computation_node("rows", "index", ("a",), index=([0, 0, 3, 1, 2],))
    cg.add_computation_node("cols", "index", ("a",), index=(slice(None), 1))
    cg.add_computation_node("each", "cross_entropy", ("a", "labels"), reduction="none")
    cg.add_computation_node("f", "add", ("cols", "each"))
    predicted = shapes_of(cg, "f")
    cg.forward("f")
    cg.forward("rows")
    assert predicted["f"] == (4,)
    assert shapes_of(cg, "rows")["rows"] == np.shape(cg.get_value("rows")) == (5, 3)
    assert predicted == {name: np.shape(cg.get_value(name)) for name in predicted}


# ------------------------------------------------------------------------------------------
# Never a traceback (issue 15)
# ------------------------------------------------------------------------------------------


def test_ctrl_c_during_minimize_is_one_line_and_status_130(tmp_path):
    process = subprocess.Popen(
        [
            *COMMAND,
            "minimize",
            QUADRATIC,
            "--from",
            "x=0",
            "y=0",
            "--optimizer",
            "gd",
            "--lr",
            "1e-9",
            "--steps",
            "100000000",
            "--tol",
            "0",
            "--progress",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
    )
    seen = b""
    while b"minimize f" not in seen:  # the bar: the run has started
        chunk = process.stderr.read1(4096)
        assert chunk, "the command ended before its progress bar"
        seen += chunk
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=TIMEOUT_SECONDS)
    assert process.returncode == 130
    assert out == b""
    assert b"Traceback" not in seen + err
    assert (seen + err).rstrip().splitlines()[-1].endswith(b"cgraph: interrupted")


def test_ctrl_c_while_reading_the_input_is_one_line_and_status_130(monkeypatch, capsys):
    import cgraph.cli

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cgraph.cli, "load_graph", interrupted)
    assert main(["grad", "x", "--at", "x=1"]) == 130
    assert capsys.readouterr() == ("", "cgraph: interrupted\n")


def test_a_name_the_terminal_cannot_encode_is_escaped(tmp_path):
    result = run("grad", "2 * π", "--at", "π=1", cwd=tmp_path, PYTHONIOENCODING="ascii")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["f     = 2.0", "df/d\\u03c0 = 2.0"]
    assert result.stderr == ""
    line = one_line_error(
        run("grad", "2 * π", "--at", "ω=1", cwd=tmp_path, PYTHONIOENCODING="ascii")
    )
    assert "no value for '\\u03c0'" in line


def test_a_value_nested_60000_deep_is_refused_in_one_line(tmp_path):
    value = "[" * 60000 + "1" + "]" * 60000
    line = one_line_error(run("grad", "x * 2", "--at", f"x={value}", cwd=tmp_path))
    assert "the value of 'x' nests lists 60000 deep; an array has at most 64 dimensions" in line
    assert (
        run_json("grad", "sum(x)", "--at", "x=" + "[" * 20 + "1" + "]" * 20, cwd=tmp_path)["value"]
        == 1.0
    )


GRAPH_FILE_ERRORS = {
    "binary.json": (b"\xff\xfe\x00garbage", "not valid JSON"),
    "list.json": (b"[1, 2]", "a JSON list, not a graph"),
    "empty.json": (b"{}", "not a cgraph graph file"),
    "deep.json": (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    "unknown_op.json": (None, "no operation is registered as 'nosuch'"),
}


@pytest.mark.parametrize("name", sorted(GRAPH_FILE_ERRORS))
def test_a_bad_graph_file_is_one_line_and_status_2(tmp_path, name):
    content, expected = GRAPH_FILE_ERRORS[name]
    if content is None:
        record = json.loads(
            (save_graph(build_classic_graph(), tmp_path / "g.json")).read_text(encoding="utf-8")
        )
        record["nodes"][-1]["op"] = "nosuch"
        content = json.dumps(record).encode()
    (tmp_path / name).write_bytes(content)
    for command in (["grad"], ["check"], ["minimize", "--no-progress"]):
        line = one_line_error(run(command[0], name, *command[1:], cwd=tmp_path))
        assert expected in line


# ------------------------------------------------------------------------------------------
# As other Unix tools do (issue 16)
# ------------------------------------------------------------------------------------------


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    # The reader goes away at once, as `cgraph grad ... | head -0` would: the write fails.
    process = subprocess.Popen(
        [*COMMAND, "grad", FXY, "--at", "x=2", "y=-4"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
    )
    process.stdout.close()
    err = process.stderr.read()
    process.wait(timeout=TIMEOUT_SECONDS)
    assert (process.returncode, err) == (141, b"")


def test_a_closed_pipe_after_the_first_line_ends_quietly_in_a_shell(tmp_path):
    script = f"{shlex.join([*COMMAND, 'draw', FXY, '--at', 'x=2', 'y=-4'])} | head -1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        env=environment(),
        check=False,
    )
    assert result.stdout == "digraph cgraph {\n"
    assert result.stderr == ""
    assert result.returncode in (0, 141)  # 0 when everything fitted in the pipe's buffer


@pytest.mark.parametrize("lr", ["0", "-0.1", "nan", "inf"])
def test_a_learning_rate_that_is_not_positive_is_refused_not_replaced(tmp_path, lr):
    line = one_line_error(
        run(
            "minimize",
            QUADRATIC,
            "--from",
            "x=0",
            "y=0",
            "--optimizer",
            "gd",
            "--lr",
            lr,
            "--no-progress",
            cwd=tmp_path,
        )
    )
    assert line == (
        f"cgraph: error: --lr must be a finite number > 0 (the optimiser's step "
        f"size), not {float(lr)!r}"
    )


def test_the_formula_may_follow_the_values(tmp_path):
    expected = {"root": "f", "value": 2.0, "gradient": {"x": 2.0, "y": 1.0}}
    assert run_json("grad", "--at", "x=1", "y=2", "x*y", cwd=tmp_path) == expected
    result = run("grad", "--json", "--at", "x=1", "y=2", "--", "x*y", cwd=tmp_path)
    assert json.loads(result.stdout) == expected, result.stderr
    save_graph(build_classic_graph(), tmp_path / "classic.json")
    assert (
        run_json("grad", "--at", "x=3", "classic.json", "--root", "denom", cwd=tmp_path)["root"]
        == "denom"
    )
    line = one_line_error(run("grad", "--at", "x=1", "y=2", cwd=tmp_path))
    assert "grad needs a formula or a graph file: write it first" in line


def test_version(tmp_path):
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"cgraph {cgraph.__version__}\n"


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path):
    pytest.importorskip("tqdm")
    result = run(
        "minimize",
        QUADRATIC,
        "--from",
        "x=0",
        "y=0",
        "--optimizer",
        "gd",
        "--lr",
        "0.1",
        "--steps",
        "2000",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_run_that_blows_up_while_finite_is_reported_as_diverged(tmp_path):
    # gd with lr 10 on x**2 multiplies x by -19 a step: 2.66e95 after 75 steps, still finite.
    line = one_line_error(
        run(
            "minimize",
            "x**2",
            "--from",
            "x=1",
            "--optimizer",
            "gd",
            "--lr",
            "10",
            "--steps",
            "75",
            "--no-progress",
            cwd=tmp_path,
        )
    )
    assert line == (
        "cgraph: error: minimize of 'f' diverged at step 3: the loss rose from 1 "
        "to 4.70459e+07, more than 1e+06 times its starting size; lower --lr or "
        "start elsewhere"
    )


def test_the_stopping_message_says_what_was_tested(tmp_path):
    output = run_json(
        "minimize",
        QUADRATIC,
        "--from",
        "x=0",
        "y=0",
        "--optimizer",
        "gd",
        "--lr",
        "0.1",
        "--no-progress",
        cwd=tmp_path,
    )
    assert output["message"].startswith("largest gradient element ")
    assert max(abs(value) for value in output["jac"].values()) <= 1e-8


# ------------------------------------------------------------------------------------------
# docs/command-line.md: every command of the page prints what the page shows
# ------------------------------------------------------------------------------------------


def page_commands() -> list[tuple[str, str | None]]:
    """Each ``cgraph ...`` line of docs/command-line.md, with the text shown after it."""
    section = COMMAND_LINE_PAGE.read_text(encoding="utf-8")
    fence = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
    blocks = list(fence.finditer(section))
    commands = []
    for index, block in enumerate(blocks):
        if block.group(1) != "sh":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        shown = None
        if (
            following
            and following.group(1) == "text"
            and not section[block.end() : following.start()].strip()
        ):
            shown = following.group(2)
        lines = [line for line in block.group(2).splitlines() if line.startswith("cgraph ")]
        assert len(lines) == 1 or shown is None, "one command per sh block that shows output"
        commands += [(line, shown if len(lines) == 1 else None) for line in lines]
    return commands


def test_command_line_page_has_commands():
    assert len(page_commands()) >= 4


@pytest.mark.parametrize(("line", "shown"), page_commands(), ids=lambda value: str(value)[:40])
def test_command_line_page_command_prints_what_it_shows(tmp_path, line, shown):
    save_graph(build_classic_graph(), tmp_path / "fxy.json")  # the file the page saves
    result = run(*shlex.split(line, comments=True)[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if shown is not None:
        printed = [text.rstrip() for text in result.stdout.strip("\n").splitlines()]
        assert printed == [text.rstrip() for text in shown.strip("\n").splitlines()]
