"""Drawings, DOT text and the Jupyter picture of a graph (cgraph.viz, cgraph.viz.layout)."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from conftest import build_classic_graph
from graph_state import assert_same_state, snapshot

import cgraph
from cgraph import ComputationalGraph, Operation
from cgraph.engine.allocation import cyclic_gc_paused
from cgraph.viz.layout import build_view, layout

CLASSIC_NAMES = ["x", "y", "sigy", "num", "sigx", "xpy", "sq", "denom", "f"]


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def computed_classic() -> ComputationalGraph:
    cg = build_classic_graph()
    cg.forward("f")
    cg.backward("f")
    return cg


def chain(length: int) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(n0=0.5)
    with cyclic_gc_paused():
        for i in range(1, length):
            cg.add_computation_node(f"n{i}", "sin", (f"n{i - 1}",))
    return cg


def layered() -> ComputationalGraph:
    """Two 'layers' of named nodes, as a model's would be."""
    cg = ComputationalGraph()
    cg.add_inputs(**{"x": 1.0, "layer1/w": 2.0, "layer1/b": 0.5, "layer2/w": -1.0})
    cg.add_computation_node("layer1/wx", "mul", ("layer1/w", "x"))
    cg.add_computation_node("layer1/h", "add", ("layer1/wx", "layer1/b"))
    cg.add_computation_node("layer1/dense/a", "tanh", ("layer1/h",))
    cg.add_computation_node("layer2/out", "mul", ("layer2/w", "layer1/dense/a"))
    cg.add_computation_node("loss", "square", ("layer2/out",))
    return cg


def dot_names(dot: str) -> list[str]:
    """The names of the node statements of a DOT text, unescaped, in order."""
    return [
        re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), text)
        for text in re.findall(r'^\s*"((?:[^"\\]|\\.)*)" \[', dot, re.MULTILINE)
    ]


def dot_edges(dot: str) -> list[tuple[str, str]]:
    return re.findall(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)";$', dot, re.MULTILINE)


# ------------------------------------------------------------------------------------------
# DOT
# ------------------------------------------------------------------------------------------


def test_dot_text_of_a_small_graph():
    cg = ComputationalGraph()
    cg.add_inputs(x=3.0)
    cg.add_input("t", 1.0, trainable=False)
    cg.add_constant("half", 0.5)
    cg.add_computation_node("sq", "mul", ("x", "x"))
    cg.add_computation_node("e", "sub", ("sq", "t"))
    cg.add_computation_node("loss", "mul", ("half", "e"))
    cg.forward("loss")
    cg.backward("loss")
    assert cg.to_dot() == "\n".join(
        [
            "digraph cgraph {",
            "    rankdir=LR;",
            '    node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
            'fontname="Helvetica"];',
            '    "x" [label=<<b>x</b><br/>input<br/><font color="#1a7f37">value 3</font><br/>'
            '<font color="#cf222e">grad 3</font>>, fillcolor="#dbeafe"];',
            '    "t" [label=<<b>t</b><br/>input (fixed)<br/>'
            '<font color="#1a7f37">value 1</font>>, fillcolor="#e5e7eb"];',
            '    "half" [label=<<b>half</b><br/>constant<br/>'
            '<font color="#1a7f37">value 0.5</font>>, fillcolor="#e5e7eb"];',
            '    "sq" [label=<<b>sq</b><br/>mul<br/><font color="#1a7f37">value 9</font><br/>'
            '<font color="#cf222e">grad 0.5</font>>];',
            '    "e" [label=<<b>e</b><br/>sub<br/><font color="#1a7f37">value 8</font><br/>'
            '<font color="#cf222e">grad 0.5</font>>];',
            '    "loss" [label=<<b>loss</b><br/>mul<br/><font color="#1a7f37">value 4</font><br/>'
            '<font color="#cf222e">grad 1</font>>];',
            '    "x" -> "sq";',
            '    "x" -> "sq";',
            '    "sq" -> "e";',
            '    "t" -> "e";',
            '    "half" -> "loss";',
            '    "e" -> "loss";',
            "}",
        ]
    )


def test_dot_labels_follow_the_graph_state():
    cg = build_classic_graph()
    assert "value" not in cg.to_dot().split('"sigy"')[1]  # not computed yet
    cg.forward("f")
    assert "value 0.0179862" in cg.to_dot()
    assert "grad" not in cg.to_dot()
    cg.backward("f")
    assert cg.to_dot().count("grad ") == 9
    cg.forward("f", feed={"x": 1.0})  # the gradients are stale now
    assert "grad" not in cg.to_dot()


def test_dot_escapes_any_name():
    names = ['a "quoted" name', "with/slash", "back\\slash\\", "new\nline", "<b>&amp;"]
    cg = ComputationalGraph()
    cg.add_inputs(**{names[0]: 1.0, names[1]: 2.0})
    cg.add_computation_node(names[2], "add", (names[0], names[1]))
    cg.add_computation_node(names[3], "neg", (names[2],))
    cg.add_computation_node(names[4], "mul", (names[3], names[3]))
    dot = cg.to_dot()
    assert dot_names(dot) == names
    assert dot_edges(dot)[-1] == dot_edges(dot)[-2]
    assert "<b>&lt;b&gt;&amp;amp;</b>" in dot  # the label shows the name as text, not HTML


def test_dot_shows_array_shapes_and_op_parameters():
    class ScaleBy(Operation):
        """y = k x with a parameter k; dy/dx = k."""

        name = "test_viz_scale_by"

        def __init__(self, k: float = 2.0) -> None:
            self.k = k

        def params(self):
            return {"k": self.k}

        def forward(self, x):
            return self.k * x

        def backward(self, upstream):
            return (self.k * upstream,)

    cg = ComputationalGraph()
    cg.add_inputs(w=np.arange(12.0).reshape(3, 4))
    cg.add_computation_node("y", ScaleBy(k=3.0), ("w",))
    cg.forward("y")
    dot = cg.to_dot()
    assert "test_viz_scale_by(k=3.0)" in dot
    assert "value array(3, 4) [0, 3, 6, ...]" in dot


def test_root_keeps_only_its_ancestors():
    cg = build_classic_graph()
    assert dot_names(cg.to_dot(root="denom")) == ["x", "y", "sigx", "xpy", "sq", "denom"]
    assert dot_names(cg.to_dot(root="x")) == ["x"]


def test_depth_stops_a_few_steps_above_the_root_and_marks_the_cut():
    cg = build_classic_graph()
    dot = cg.to_dot(root="denom", depth=1)
    assert dot_names(dot) == ["sigx", "sq", "denom"]
    assert dot.count("dashed") == 2  # sigx and sq have inputs left out
    assert dot_names(cg.to_dot(root="f", depth=0)) == ["f"]
    assert dot_names(cg.to_dot(root="f", depth=10)) == CLASSIC_NAMES


def test_depth_counts_the_shortest_distance():
    cg = build_classic_graph()  # x is 2 steps above f through num, 3 through denom
    names = dot_names(cg.to_dot(root="f", depth=2))
    assert names == ["x", "sigy", "num", "sigx", "sq", "denom", "f"]


def test_collapse_true_makes_one_box_per_prefix():
    cg = layered()
    dot = cg.to_dot(collapse=True)
    assert dot_names(dot) == ["x", "layer1/*", "layer2/*", "loss"]
    assert "<b>layer1/...</b><br/>5 nodes" in dot
    assert "<b>layer2/...</b><br/>2 nodes" in dot
    assert dot_edges(dot) == [("x", "layer1/*"), ("layer1/*", "layer2/*"), ("layer2/*", "loss")]


def test_collapse_named_prefixes_longest_first():
    cg = layered()
    dot = cg.to_dot(collapse=["layer1", "layer1/dense/"])
    assert dot_names(dot) == ["x", "layer1/*", "layer2/w", "layer1/dense/*", "layer2/out", "loss"]
    assert cg.to_dot(collapse="layer2").count("2 nodes") == 1


def test_collapse_of_a_prefix_no_node_has_is_an_unknown_node():
    cg = layered()
    before = snapshot(cg)
    with pytest.raises(cgraph.UnknownNodeError, match="layr1/"):
        cg.to_dot(collapse=["layr1"])
    with pytest.raises(cgraph.GraphError, match="prefixes"):
        cg.to_dot(collapse=[1])
    assert_same_state(before, snapshot(cg))
    assert "layer1/*" not in cg.to_dot(root="layer2/w", collapse=["layer1"])  # outside the view


def test_collapsing_into_a_loop_still_lays_out():
    # a -> g/1 -> b -> g/2: collapsing g makes a loop between g/* and b.
    cg = ComputationalGraph()
    cg.add_inputs(a=1.0)
    cg.add_computation_node("g/1", "sin", ("a",))
    cg.add_computation_node("b", "cos", ("g/1",))
    cg.add_computation_node("g/2", "tanh", ("b",))
    view = build_view(cg, collapse=True)
    assert [box.key for box in view.boxes] == ["a", "g/*", "b"]
    assert sorted(layout(view).positions) == [(0, 0), (1, 0), (2, 0)]


def test_unknown_root_and_bad_depth_are_refused():
    cg = build_classic_graph()
    before = snapshot(cg)
    with pytest.raises(cgraph.UnknownNodeError, match="did you mean"):
        cg.to_dot(root="sigz")
    with pytest.raises(cgraph.GraphError, match="root="):
        cg.to_dot(depth=2)
    with pytest.raises(cgraph.GraphError, match="depth"):
        cg.to_dot(root="f", depth=-1)
    assert_same_state(before, snapshot(cg))


def test_too_large_a_graph_is_refused_with_what_to_do():
    cg = chain(1200)
    with pytest.raises(cgraph.GraphError) as caught:
        cg.to_dot()
    for hint in ("root=", "depth=", "collapse=", "max_nodes"):
        assert hint in str(caught.value)
    with pytest.raises(cgraph.GraphError, match="'n1199' and its ancestors"):
        cg.to_dot(root="n1199", max_nodes=50)
    assert len(dot_names(cg.to_dot(max_nodes=1200))) == 1200


def test_a_part_of_a_huge_deep_graph_is_quick_and_needs_no_recursion():
    cg = chain(200_000)
    assert dot_names(cg.to_dot(root="n199999", depth=3)) == [
        "n199996",
        "n199997",
        "n199998",
        "n199999",
    ]
    view = build_view(chain(5000), max_nodes=5000)
    assert layout(view).positions[-1] == (4999, 0)


# ------------------------------------------------------------------------------------------
# Drawing
# ------------------------------------------------------------------------------------------


def test_drawing_has_one_name_label_per_node(plt):
    cg = computed_classic()
    fig = cg.draw()
    texts = [text for text in fig.axes[0].texts if text.get_text()]
    names = [text.get_text() for text in texts if text.get_fontweight() == "bold"]
    assert sorted(names) == sorted(CLASSIC_NAMES)
    values = [t for t in texts if t.get_text().startswith("value ")]
    grads = [t for t in texts if t.get_text().startswith("grad ")]
    assert len(values) == len(grads) == 9
    assert {t.get_color() for t in values} == {"#1a7f37"}
    assert {t.get_color() for t in grads} == {"#cf222e"}
    assert "grad 0.534832" in {t.get_text() for t in grads}


def test_drawing_goes_left_to_right(plt):
    cg = computed_classic()
    fig = cg.draw()
    x_of = {t.get_text(): t.get_position()[0] for t in fig.axes[0].texts if t.get_text()}
    for name in CLASSIC_NAMES:
        for parent in cg.nodes[name].parents:
            assert x_of[parent.name] < x_of[name]


def test_drawing_on_given_axes_with_both_edges_of_a_repeated_input(plt):
    from matplotlib.patches import FancyArrowPatch

    cg = ComputationalGraph()
    cg.add_inputs(x=3.0)
    cg.add_computation_node("y", "mul", ("x", "x"))
    fig, ax = plt.subplots()
    assert cg.draw(ax=ax) is fig
    arrows = [patch for patch in ax.patches if isinstance(patch, FancyArrowPatch)]
    assert len(arrows) == 2


def test_png_and_svg_files(plt, tmp_path):
    cg = computed_classic()
    png, svg = tmp_path / "graph.png", tmp_path / "graph.svg"
    cg.draw(path=png)
    cg.draw(path=str(svg), root="denom")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert png.stat().st_size > 10_000
    root = ElementTree.fromstring(svg.read_text())
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    assert sorted(t for t in texts if t in CLASSIC_NAMES) == sorted(
        ["x", "y", "sigx", "xpy", "sq", "denom"]
    )
    assert plt.get_fignums() == []  # figures made only to be saved are closed


def test_unknown_file_format_is_refused_before_drawing(plt, tmp_path):
    cg = build_classic_graph()
    with pytest.raises(cgraph.GraphError, match=r"\.png or \.svg"):
        cg.draw(path=tmp_path / "graph.txt")
    assert list(tmp_path.iterdir()) == []
    assert plt.get_fignums() == []


def test_drawing_refuses_what_it_cannot_show(plt):
    with pytest.raises(cgraph.GraphError, match="empty"):
        ComputationalGraph().draw()
    cg = chain(300)
    before = snapshot(cg)
    with pytest.raises(cgraph.GraphError, match="collapse=True"):
        cg.draw()
    assert_same_state(before, snapshot(cg))
    assert plt.get_fignums() == []
    fig = cg.draw(root="n299", depth=4)
    assert len([t for t in fig.axes[0].texts if t.get_fontweight() == "bold"]) == 5


def test_collapsed_drawing(plt):
    fig = layered().draw(collapse=True)
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert {"layer1/...", "5 nodes", "layer2/...", "2 nodes", "x", "loss"} <= labels


def tour_model() -> ComputationalGraph:
    """notebooks/01_tour.ipynb's small model, evaluated: its loss box's text once spilled."""
    cg = ComputationalGraph()
    cg.add_input("data", np.array([0.5, -1.0, 2.0]), trainable=False)
    cg.add_inputs(**{"layer1/w": np.array([0.1, 0.2, 0.3]), "layer1/b": 0.1, "layer2/w": 2.0})
    cg.add_computation_node("layer1/wx", "mul", ("layer1/w", "data"))
    cg.add_computation_node("layer1/z", "add", ("layer1/wx", "layer1/b"))
    cg.add_computation_node("layer1/h", "tanh", ("layer1/z",))
    cg.add_computation_node("layer2/out", "mul", ("layer2/w", "layer1/h"))
    cg.add_computation_node("loss", "square", ("layer2/out",))
    cg.forward("loss")
    cg.backward("loss")
    return cg


def wide_labels() -> ComputationalGraph:
    """Labels of digits and of wide capitals, and a short one beside them."""
    cg = ComputationalGraph()
    cg.add_inputs(WWWWWWWWWWWWWWWW=np.array([-0.888888, 0.999999, -8.88888]), i=0.5)
    cg.add_computation_node("MMMMMMMMMMMMMMMMMMMM", "mul", ("WWWWWWWWWWWWWWWW", "i"))
    cg.forward("MMMMMMMMMMMMMMMMMMMM")
    return cg


def assert_text_inside_boxes(fig) -> None:
    """Every label's drawn extent lies inside the box its anchor is in, as rendered."""
    from matplotlib.patches import FancyBboxPatch

    (ax,) = fig.axes
    fig.canvas.draw()  # applies the equal aspect, which shrinks what does not fit
    renderer = fig.canvas.get_renderer()
    boxes = [
        patch.get_window_extent(renderer)
        for patch in ax.patches
        if isinstance(patch, FancyBboxPatch)
    ]
    texts = [text for text in ax.texts if text.get_text()]
    assert texts
    for text in texts:
        anchor = ax.transData.transform(text.get_position())
        (box,) = [box for box in boxes if box.contains(*anchor)]
        drawn = text.get_window_extent(renderer)
        inside = (
            box.x0 <= drawn.x0 <= drawn.x1 <= box.x1 and box.y0 <= drawn.y0 <= drawn.y1 <= box.y1
        )
        assert inside, (
            f"{text.get_text()!r} spans x {drawn.x0:.1f}..{drawn.x1:.1f}, "
            f"y {drawn.y0:.1f}..{drawn.y1:.1f}: outside its box, x {box.x0:.1f}..{box.x1:.1f}, "
            f"y {box.y0:.1f}..{box.y1:.1f}"
        )


@pytest.mark.parametrize(
    ("graph", "options"),
    [
        (tour_model, {"collapse": True}),
        (tour_model, {"root": "loss", "depth": 2}),
        (tour_model, {}),
        (computed_classic, {}),
        (wide_labels, {}),
        (lambda: chain(150), {}),  # scaled down to _MAX_FIGURE_INCHES: text shrinks with boxes
    ],
    ids=["collapsed", "depth", "whole", "classic", "wide", "long-chain"],
)
def test_each_label_stays_inside_its_box(plt, graph, options):
    assert_text_inside_boxes(graph().draw(**options))


# Text about 6 pixels high or more: pixel hinting draws smaller text up to 25% wider than
# its font says, and such text is unreadable anyway.
@pytest.mark.parametrize(("figsize", "dpi"), [((11, 4), 100), ((6, 8), 200), ((12, 2), 72)])
def test_labels_stay_inside_boxes_on_given_axes_of_any_shape(plt, figsize, dpi):
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    tour_model().draw(collapse=True, ax=ax)
    assert_text_inside_boxes(fig)


# ------------------------------------------------------------------------------------------
# Jupyter, and drawing without matplotlib
# ------------------------------------------------------------------------------------------


def test_jupyter_repr_is_an_svg_with_values_and_gradients(plt):
    cg = computed_classic()
    svg = cg._repr_svg_()
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {element.text for element in root.iter("{http://www.w3.org/2000/svg}text")}
    assert set(CLASSIC_NAMES) <= texts
    assert {"value 0.413454", "grad 0.534832"} <= texts
    assert plt.get_fignums() == []  # showing a graph leaves no pyplot figure behind


def test_jupyter_repr_falls_back_to_text_when_it_cannot_draw(plt):
    assert ComputationalGraph()._repr_svg_() is None
    assert chain(150)._repr_svg_() is None
    assert "n149" in repr(chain(150))  # the text repr still summarises it


def test_without_matplotlib_drawing_says_how_to_install_it(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    cg = build_classic_graph()
    with pytest.raises(ImportError, match=r'pip install "cgraph\[viz\]"'):
        cg.draw()
    assert cg._repr_svg_() is None
    assert dot_names(cg.to_dot()) == CLASSIC_NAMES


def test_importing_cgraph_does_not_import_matplotlib():
    code = (
        "import sys, cgraph; cgraph.ComputationalGraph().to_dot(); "
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
