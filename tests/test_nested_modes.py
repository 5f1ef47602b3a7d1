"""Second derivatives by every composition of the two modes, against the analytic ones.

Forward mode and reverse mode each exist as a pass on numbers (``jvp``,
``backward``) and as a graph of named nodes (``tangent_graph``,
``gradient_graph``), so each can be applied to the other's graph:
forward-over-forward, reverse-over-forward, forward-over-reverse and
reverse-over-reverse. All four must give the same second derivatives, equal to
the ones worked out by hand, for f(x) = x^3 sin x and for the seed's
f(x, y) = (x + s(y)) / (s(x) + (x + y)^2).
"""

from __future__ import annotations

import math

import pytest

from cgraph import ComputationalGraph


def _cubic_sine(x: float) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=x)
    cg.add_computation_node("sq", "square", ("x",))
    cg.add_computation_node("cube", "mul", ("sq", "x"))
    cg.add_computation_node("sin", "sin", ("x",))
    cg.add_computation_node("f", "mul", ("cube", "sin"))
    return cg


def _cubic_sine_second(x: float) -> dict[tuple[str, str], float]:
    """d2/dx2 of x^3 sin x = 6x sin x + 6x^2 cos x - x^3 sin x."""
    return {("x", "x"): 6 * x * math.sin(x) + 6 * x * x * math.cos(x) - x**3 * math.sin(x)}


def _classic(x: float, y: float) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=x, y=y)
    cg.add_computation_node("sigy", "sigmoid", ("y",))
    cg.add_computation_node("num", "add", ("x", "sigy"))
    cg.add_computation_node("sigx", "sigmoid", ("x",))
    cg.add_computation_node("xpy", "add", ("x", "y"))
    cg.add_computation_node("sq", "square", ("xpy",))
    cg.add_computation_node("denom", "add", ("sigx", "sq"))
    cg.add_computation_node("f", "div", ("num", "denom"))
    return cg


def _classic_second(x: float, y: float) -> dict[tuple[str, str], float]:
    """The Hessian of N / D by the quotient rule, N = x + s(y), D = s(x) + (x + y)^2.

    f_ij = N_ij / D - (N_i D_j + N_j D_i) / D^2 - N D_ij / D^2 + 2 N D_i D_j / D^3.
    """

    def s(t: float) -> float:
        return 1 / (1 + math.exp(-t))

    def ds(t: float) -> float:
        return s(t) * (1 - s(t))

    def dds(t: float) -> float:
        return ds(t) * (1 - 2 * s(t))

    n = x + s(y)
    d = s(x) + (x + y) ** 2
    n1 = {"x": 1.0, "y": ds(y)}
    n2 = {("x", "x"): 0.0, ("x", "y"): 0.0, ("y", "x"): 0.0, ("y", "y"): dds(y)}
    d1 = {"x": ds(x) + 2 * (x + y), "y": 2 * (x + y)}
    d2 = {("x", "x"): dds(x) + 2, ("x", "y"): 2.0, ("y", "x"): 2.0, ("y", "y"): 2.0}
    return {
        (i, j): n2[i, j] / d
        - (n1[i] * d1[j] + n1[j] * d1[i]) / d**2
        - n * d2[i, j] / d**2
        + 2 * n * d1[i] * d1[j] / d**3
        for i in "xy"
        for j in "xy"
    }


def forward_over_forward(cg: ComputationalGraph, i: str, j: str) -> float:
    inner = cg.tangent_graph("f", {i: 1.0})
    outer = inner.tangent_graph("tangent/f/f", {j: 1.0})
    return outer.forward("tangent/tangent/f/f/tangent/f/f")


def reverse_over_forward(cg: ComputationalGraph, i: str, j: str) -> float:
    inner = cg.tangent_graph("f", {i: 1.0})
    inner.forward("tangent/f/f")
    return inner.backward("tangent/f/f")[j]


def forward_over_reverse(cg: ComputationalGraph, i: str, j: str) -> float:
    inner = cg.gradient_graph("f", ["x", "y"] if "y" in cg.inputs else ["x"])
    return inner.jvp(f"grad/f/{i}", tangents={j: 1.0})[1]


def forward_over_reverse_as_a_graph(cg: ComputationalGraph, i: str, j: str) -> float:
    inner = cg.gradient_graph("f", i)
    outer = inner.tangent_graph(f"grad/f/{i}", {j: 1.0})
    return outer.forward(f"tangent/grad/f/{i}/grad/f/{i}")


def reverse_over_reverse(cg: ComputationalGraph, i: str, j: str) -> float:
    inner = cg.gradient_graph("f", ["x", "y"] if "y" in cg.inputs else ["x"])
    inner.forward(f"grad/f/{i}")
    return inner.backward(f"grad/f/{i}")[j]


COMPOSITIONS = [
    forward_over_forward,
    reverse_over_forward,
    forward_over_reverse,
    forward_over_reverse_as_a_graph,
    reverse_over_reverse,
]
PROBLEMS = [
    pytest.param(_cubic_sine, _cubic_sine_second, (0.7,), id="x^3 sin x at 0.7"),
    pytest.param(_cubic_sine, _cubic_sine_second, (-2.3,), id="x^3 sin x at -2.3"),
    pytest.param(_classic, _classic_second, (2.0, -4.0), id="seed f(x, y) at (2, -4)"),
    pytest.param(_classic, _classic_second, (-0.5, 1.5), id="seed f(x, y) at (-0.5, 1.5)"),
]


@pytest.mark.parametrize("composition", COMPOSITIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("build", "analytic", "point"), PROBLEMS)
def test_every_composition_of_modes_gives_the_analytic_second_derivatives(
    composition, build, analytic, point
):
    for (i, j), expected in analytic(*point).items():
        got = composition(build(*point), i, j)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), (i, j)


def test_the_tangent_graph_names_every_tangent_and_leaves_the_graph_unchanged():
    cg = _classic(2.0, -4.0)
    before = cg.summary()
    tg = cg.tangent_graph("f", {"x": 1.0})
    assert cg.summary() == before
    assert tg.inputs["tangent/f/x"].output == 1.0
    for name in ("sigx", "num", "xpy", "sq", "denom", "f"):  # every node x reaches
        assert f"tangent/f/{name}" in tg
    assert "tangent/f/sigy" not in tg  # y has no tangent
    assert tg.forward("tangent/f/f") == pytest.approx(cg.jvp("f", {"x": 1.0})[1], rel=1e-15)
    # Feeding the tangent input moves the direction without rebuilding the graph.
    assert tg.forward("tangent/f/f", feed={"tangent/f/x": 2.0}) == pytest.approx(
        2 * cg.jvp("f", {"x": 1.0})[1], rel=1e-15
    )


def test_a_tangent_that_reaches_nothing_gives_a_zero_root_tangent():
    cg = _classic(2.0, -4.0)
    cg.add_inputs(z=1.0)
    tg = cg.tangent_graph("f", {"z": 1.0})
    assert tg.forward("tangent/f/f") == 0.0
