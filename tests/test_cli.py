"""The ``cgraph`` command, run as a subprocess: every command, its JSON, its errors and exit codes.

Each test starts ``python -m cgraph.cli`` (once, the installed ``cgraph`` script)
in a temporary directory and reads what it prints, as a shell user would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import build_classic_graph

import cgraph
from cgraph import ComputationalGraph
from cgraph.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TIMEOUT_SECONDS = 60
COMMAND = [sys.executable, "-m", "cgraph.cli"]

FXY = "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)"
FXY_VALUE, FXY_DX, FXY_DY = 0.41345423252018193, 0.5348320870757595, 0.342460382923052
QUADRATIC = "x**2 + y**2 + 400*x + 8*y"


def run(*args: str, cwd: Path, command: list[str] = COMMAND) -> subprocess.CompletedProcess:
    """The command's run with ``args``: its exit code, stdout and stderr as text."""
    env = {**os.environ, "MPLBACKEND": "Agg", "COLUMNS": "100"}
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS, check=False, env=env)


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
        f"f     = {FXY_VALUE!r}", f"df/dx = {FXY_DX!r}", f"df/dy = {FXY_DY!r}"]
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
    assert output["value"] == "nan"
    assert output["gradient"] == {"x": -1.0, "y": "inf", "z": "-inf"}
    assert "NaN" not in result.stdout
    assert result.stderr == ""  # numpy's warnings would only repeat what the output shows


def test_grad_with_arrays(tmp_path):
    output = run_json("grad", "sum(w * x)", "--at", "w=[[1, 2], [3, 4]]", "x=[10, 100]",
                      cwd=tmp_path)
    assert output["value"] == 10 + 200 + 30 + 400
    assert output["gradient"] == {"w": [[10.0, 100.0], [10.0, 100.0]], "x": [4.0, 6.0]}


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).parent / "cgraph"
    if not script.is_file():
        pytest.skip("the cgraph console script is not installed (pip install -e .)")
    result = run("grad", FXY, "--at", "x=2", "y=-4", "--json", cwd=tmp_path,
                 command=[str(script)])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gradient"] == {"x": FXY_DX, "y": FXY_DY}


# ------------------------------------------------------------------------------------------
# check
# ------------------------------------------------------------------------------------------


def test_check_passes(tmp_path):
    result = run("check", FXY, "--at", "x=2", "y=-4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["input", "element", "analytic", "numerical", "abs", "error",
                                "rel", "error", "check"]
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


@pytest.mark.parametrize("how", [
    ["--optimizer", "gd", "--lr", "0.1"],
    ["--optimizer", "momentum", "--lr", "0.05"],
    ["--optimizer", "adam", "--lr", "10", "--steps", "500", "--tol", "1e-6"],
    ["--method", "L-BFGS-B"],
], ids=["gd", "momentum", "adam", "L-BFGS-B"])
def test_minimize_reaches_the_minimum(tmp_path, how):
    output = run_json("minimize", QUADRATIC, "--from", "x=0", "y=0", *how, "--no-progress",
                      cwd=tmp_path)
    assert output["success"] is True
    assert output["x"]["x"] == pytest.approx(-200.0, abs=1e-5)
    assert output["x"]["y"] == pytest.approx(-4.0, abs=1e-5)
    assert output["fun"] == pytest.approx(-40016.0, rel=1e-12)
    assert output["nit"] > 0


def test_minimize_text_and_progress_bar(tmp_path):
    result = run("minimize", QUADRATIC, "--from", "x=0", "y=0", "--optimizer", "gd",
                 "--lr", "0.1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    labels = [line.split(" = ")[0].strip() for line in result.stdout.splitlines()]
    assert labels == ["x", "y", "fun", "nit", "success", "message", "method"]
    assert "success = True" in result.stdout
    assert "method  = GradientDescent" in result.stdout
    pytest.importorskip("tqdm")
    assert "minimize f" in result.stderr  # the bar, on stderr only


def test_minimize_out_of_steps_exits_1(tmp_path):
    output = run_json("minimize", QUADRATIC, "--from", "x=0", "y=0", "--optimizer", "gd",
                      "--lr", "0.1", "--steps", "5", "--no-progress", cwd=tmp_path, status=1)
    assert output["success"] is False
    assert output["nit"] == 5
    assert "budget" in output["message"]


@pytest.mark.parametrize(("expression", "start", "kind"), [
    (QUADRATIC, ["x=0", "y=0"], "the contours of f with the path"),
    ("sum(w**2)", ["w=[1, 2, 3]"], "the loss curve of f"),
])
def test_minimize_plot_writes_a_png(tmp_path, expression, start, kind):
    pytest.importorskip("matplotlib")
    result = run("minimize", expression, "--from", *start, "--method", "L-BFGS-B", "--plot",
                 "out.png", "--no-progress", cwd=tmp_path)
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
    assert [path["nodes"] for path in output["paths"]] == [["f", "f/mul", "x"],
                                                         ["f", "f/sigmoid", "x"]]
    assert output["total"] == pytest.approx(output["gradient"], rel=1e-15)
    sigmoid = 1 / (1 + np.exp(-2.0))
    assert output["gradient"] == pytest.approx(-4 + sigmoid * (1 - sigmoid), rel=1e-15)


# ------------------------------------------------------------------------------------------
# A saved graph file in place of an expression
# ------------------------------------------------------------------------------------------


def test_every_command_on_a_saved_graph_file(tmp_path):
    save_graph(build_classic_graph(), tmp_path / "classic.json")
    assert run_json("grad", "classic.json", cwd=tmp_path) == {
        "root": "f", "value": FXY_VALUE, "gradient": {"x": FXY_DX, "y": FXY_DY}}
    assert run_json("check", "classic.json", cwd=tmp_path)["passed"] is True
    explained = run_json("explain", "classic.json", "--wrt", "x", cwd=tmp_path)
    assert len(explained["paths"]) == 3
    assert explained["gradient"] == FXY_DX
    result = run("draw", "classic.json", "-o", "classic.dot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dot = (tmp_path / "classic.dot").read_text()
    assert all(f'"{name}"' in dot for name in ("x", "y", "sigy", "num", "sigx", "xpy", "sq",
                                              "denom", "f"))
    save_graph(quadratic_graph(), tmp_path / "quadratic.json")
    output = run_json("minimize", "quadratic.json", "--method", "L-BFGS-B", "--no-progress",
                      cwd=tmp_path)
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
    "not maths": (["grad", "x.T", "--at", "x=1"], "attribute access"),
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
    "unknown optimizer": (["minimize", "x**2", "--from", "x=1", "--optimizer", "sgd"],
                          "invalid choice: 'sgd'"),
    "unknown method": (["minimize", "x**2", "--from", "x=1", "--method", "Nelder-Mead"],
                       "does not use gradients"),
    "lr with a method": (["minimize", "x**2", "--from", "x=1", "--method", "BFGS", "--lr", "1"],
                         "--lr is for --optimizer"),
    "plot extension": (["minimize", "x**2", "--from", "x=1", "--plot", "out.txt"],
                       "--plot 'out.txt'"),
    "drawing extension": (["draw", "x**2", "--at", "x=1", "-o", "graph.txt"], "-o 'graph.txt'"),
    "diverged": (["minimize", "x**2", "--from", "x=1", "--optimizer", "gd", "--lr", "10",
                  "--no-progress"], "diverged"),
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
    for option in ("--from", "--optimizer", "--method", "--lr", "--steps", "--tol", "--plot",
                   "--no-progress", "--json", "--root"):
        assert option in shown


# ------------------------------------------------------------------------------------------
# README: every command of its Command line section prints what the README shows
# ------------------------------------------------------------------------------------------


def readme_commands() -> list[tuple[str, str | None]]:
    """Each ``cgraph ...`` line of the README's Command line section, with the text after it."""
    text = README.read_text(encoding="utf-8")
    if "\n## Command line\n" not in text:
        return []
    section = text.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    fence = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
    blocks = list(fence.finditer(section))
    commands = []
    for index, block in enumerate(blocks):
        if block.group(1) != "sh":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        shown = None
        if (following and following.group(1) == "text"
                and not section[block.end():following.start()].strip()):
            shown = following.group(2)
        lines = [line for line in block.group(2).splitlines() if line.startswith("cgraph ")]
        assert len(lines) == 1 or shown is None, "one command per sh block that shows output"
        commands += [(line, shown if len(lines) == 1 else None) for line in lines]
    return commands


def test_readme_has_a_command_line_section():
    assert len(readme_commands()) >= 4


@pytest.mark.parametrize(("line", "shown"), readme_commands(), ids=lambda value: str(value)[:40])
def test_readme_command_prints_what_the_readme_shows(tmp_path, line, shown):
    save_graph(build_classic_graph(), tmp_path / "fxy.json")  # the file the README saves
    result = run(*shlex.split(line, comments=True)[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if shown is not None:
        printed = [text.rstrip() for text in result.stdout.strip("\n").splitlines()]
        assert printed == [text.rstrip() for text in shown.strip("\n").splitlines()]
