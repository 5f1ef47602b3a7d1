"""Loops in drawings (cgraph.viz.loops): a loop's body drawn expanded, and loops explained.

A loop is one box unless ``expand=`` names it; then its body is a cluster of boxes
labelled with what the loop is, the outer nodes bound to the body's inputs feed
them, the node the loop gives feeds the loop's box, and each carry's update is fed
back to the carry by a back edge. These tests read the structure of the view, the
layout, the DOT text and the matplotlib figure, never pixels.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import cgraph
from cgraph import ComputationalGraph, GraphError, InvalidValueError, UnknownNodeError
from cgraph.viz.layout import View, build_view, layout
from cgraph.viz.loops import loop_summary


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def rnn() -> ComputationalGraph:
    """h' = tanh(w h + x) over three elements, then a loss; the cell binds an unread input."""
    cell = ComputationalGraph()
    cell.add_inputs(h=0.0, x=0.0, w=0.5, unread=0.0)
    cell.add_expression("h_next", "tanh(w * h + x)")
    cg = ComputationalGraph()
    cg.add_inputs(h0=0.0, w=0.5, xs=[1.0, -0.5, 2.0])
    cg.add_loop(
        "h",
        cell,
        carry={"h": "h0"},
        updates={"h": "h_next"},
        xs={"x": "xs"},
        inputs={"w": "w", "unread": "w"},
    )
    cg.add_computation_node("loss", "square", ("h",))
    return cg


def nested(levels: int = 1) -> ComputationalGraph:
    """``levels`` loops, each in the body of the next: a' = sin(a) s, 3 steps each."""
    body = ComputationalGraph()
    body.add_inputs(a=0.0, s=1.0)
    body.add_expression("a_next", "sin(a) * s")
    for level in range(levels):
        outer = ComputationalGraph()
        outer.add_inputs(a=0.0, s=1.0)
        outer.add_loop(
            "inner" if level == 0 else f"inner{level}",
            body,
            carry={"a": "a"},
            updates={"a": "a_next"},
            inputs={"s": "s"},
            steps=3,
        )
        outer.add_expression("a_next", f"{'inner' if level == 0 else f'inner{level}'} + s")
        body = outer
    cg = ComputationalGraph()
    cg.add_inputs(a0=0.1, s=0.9, c=2.0)
    cg.add_loop("m", body, carry={"a": "a0"}, updates={"a": "a_next"}, inputs={"s": "s"}, steps=2)
    cg.add_expression("f", "m * c")
    return cg


def keys(view: View, pairs: list[tuple[int, int]]) -> set[tuple[str, str]]:
    return {(view.boxes[a].key, view.boxes[b].key) for a, b in pairs}


def lines_of(view: View, key: str) -> list[tuple[str, str]]:
    (box,) = [box for box in view.boxes if box.key == key]
    return box.lines


# --------------------------------------------------------------------------------------
# The view: boxes, edges, back edges and clusters
# --------------------------------------------------------------------------------------


def test_a_loop_is_one_box_unless_expanded():
    view = build_view(rnn())
    assert [box.key for box in view.boxes] == ["h0", "w", "xs", "h", "loss"]
    assert (view.clusters, view.back_edges) == ([], [])
    assert keys(view, view.edges) == {("h0", "h"), ("w", "h"), ("xs", "h"), ("h", "loss")}


def test_an_expanded_loop_draws_its_body_bound_to_the_outer_nodes():
    view = build_view(rnn(), expand=True)
    body = ["h/h", "h/x", "h/w", "h/h_next/mul", "h/h_next/add", "h/h_next", "h/unread"]
    assert [box.key for box in view.boxes] == ["h0", "w", "xs", "h", "loss", *body]
    assert [box.cluster for box in view.boxes] == [None] * 5 + [0] * len(body)
    (cluster,) = view.clusters
    assert (cluster.key, cluster.loop, cluster.parent) == ("h", 3, None)
    assert cluster.label == "loop h: 3 steps over xs; carry h <- h_next"
    assert keys(view, view.edges) == {
        # the outer nodes feed the body's inputs, not the loop's box
        ("h0", "h/h"),
        ("xs", "h/x"),
        ("w", "h/w"),
        ("w", "h/unread"),
        # the body
        ("h/w", "h/h_next/mul"),
        ("h/h", "h/h_next/mul"),
        ("h/h_next/mul", "h/h_next/add"),
        ("h/x", "h/h_next/add"),
        ("h/h_next/add", "h/h_next"),
        # what the loop gives, and what uses it
        ("h/h_next", "h"),
        ("h", "loss"),
    }
    assert keys(view, view.back_edges) == {("h/h_next", "h/h")}
    assert lines_of(view, "h/h") == [("name", "h"), ("op", "carry")]
    assert lines_of(view, "h/x") == [("name", "x"), ("op", "element of a sequence")]
    assert lines_of(view, "h/unread") == [("name", "unread"), ("op", "loop input")]
    assert lines_of(view, "h/h_next") == [("name", "h_next"), ("op", "tanh")]


def test_body_constants_show_their_value_and_a_computed_graph_its_values_outside():
    cell = ComputationalGraph()
    cell.add_inputs(x=0.0)
    cell.add_constant("half", 0.5)
    cell.add_computation_node("x_next", "mul", ("x", "half"))
    cg = ComputationalGraph()
    cg.add_inputs(x0=3.0)
    cg.add_loop("x", cell, carry={"x": "x0"}, updates={"x": "x_next"}, steps=2)
    cg.forward("x")
    view = build_view(cg, expand="x")
    assert lines_of(view, "x/half") == [
        ("name", "half"),
        ("op", "constant"),
        ("value", "value 0.5"),
    ]
    assert lines_of(view, "x/x_next") == [("name", "x_next"), ("op", "mul")]  # no value
    assert ("value", "value 0.75") in lines_of(view, "x")
    assert view.clusters[0].label == "loop x: 2 steps; carry x <- x_next"


@pytest.mark.parametrize(
    ("options", "label"),
    [
        ({"until": "done", "max_steps": 50}, "until done, at most 50 steps; carry x <- x_next"),
        ({"steps": 1, "output": "done"}, "1 step; carry x <- x_next; gives done"),
        (
            {"steps": 4, "stack": True, "checkpoint": 2},
            "4 steps; carry x <- x_next; stacks x; checkpoint every 2",
        ),
    ],
    ids=["until", "body node", "stacked"],
)  # fmt: skip
def test_the_cluster_label_says_what_the_loop_is(options, label):
    step = ComputationalGraph()
    step.add_inputs(x=1.0, a=2.0)
    step.add_constant("tol", 1e-12)
    step.add_expression("x_next", "0.5 * (x + a / x)")
    step.add_expression("done", "abs(x_next - x) < tol")
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0, a=2.0)
    cg.add_loop("r", step, carry={"x": "x0"}, updates={"x": "x_next"}, inputs={"a": "a"}, **options)
    assert build_view(cg, expand=["r"]).clusters[0].label == f"loop r: {label}"
    assert loop_summary(cg.operations["r"]) == f"loop r: {label}"


def test_a_carry_that_is_its_own_update_feeds_back_to_itself():
    step = ComputationalGraph()
    step.add_inputs(c=0.0, x=0.0)
    step.add_expression("total", "c + x")
    cg = ComputationalGraph()
    cg.add_inputs(c0=1.0, xs=np.arange(3.0))
    cg.add_loop(
        "kept",
        step,
        carry={"c": "c0"},
        updates={"c": "c"},
        xs={"x": "xs"},
        output="total",
    )
    view = build_view(cg, expand=True)
    assert keys(view, view.back_edges) == {("kept/c", "kept/c")}
    assert ("kept/total", "kept") in keys(view, view.edges)


def test_expand_names_loops_and_nested_loops_by_path():
    cg = nested()
    inner_only_as_a_box = build_view(cg, expand="m")
    assert [c.key for c in inner_only_as_a_box.clusters] == ["m"]
    assert ("m/a", "m/inner") in keys(inner_only_as_a_box, inner_only_as_a_box.edges)
    both = build_view(cg, expand=["m", "m/inner"])
    assert build_view(cg, expand=True).clusters == both.clusters
    outer, inner = both.clusters
    assert (outer.key, outer.parent, inner.key, inner.parent) == ("m", None, "m/inner", 0)
    assert inner.label == "loop inner: 3 steps; carry a <- a_next"
    assert [box.key for box in both.boxes if box.cluster == 1] == [
        "m/inner/a",
        "m/inner/s",
        "m/inner/a_next/sin",
        "m/inner/a_next",
    ]
    assert inner.loop == [box.key for box in both.boxes].index("m/inner")
    assert keys(both, both.edges) >= {
        ("m/a", "m/inner/a"),  # the outer body's nodes feed the inner body
        ("m/s", "m/inner/s"),
        ("m/inner/a_next", "m/inner"),
    }
    assert ("m/a", "m/inner") not in keys(both, both.edges)
    assert keys(both, both.back_edges) == {("m/a_next", "m/a"), ("m/inner/a_next", "m/inner/a")}


def test_expand_refuses_what_is_not_a_loop():
    cg = nested()
    with pytest.raises(InvalidValueError, match="node 'c' is not a loop") as info:
        build_view(cg, expand=["m", "c"])
    assert info.value.nodes == ("c",)
    with pytest.raises(
        UnknownNodeError, match=r"no loop is named 'm/iner'.*did you mean 'm/inner'"
    ):
        build_view(cg, expand="m/iner")
    with pytest.raises(InvalidValueError, match="expand="):
        build_view(cg, expand=[3])


def test_a_body_key_never_clashes_with_a_node_name():
    cg = rnn()
    cg.add_inputs(**{"h/h": 1.0})
    view = build_view(cg, expand=True)
    assert len({box.key for box in view.boxes}) == len(view.boxes)
    assert lines_of(view, "h/h'") == [("name", "h"), ("op", "carry")]


def test_expanded_bodies_count_against_max_nodes_and_root_keeps_the_shown_bindings():
    with pytest.raises(GraphError, match="more than 8 boxes"):
        build_view(rnn(), expand=True, max_nodes=8)
    view = build_view(rnn(), root="h", depth=0, expand=True)  # the loop's inputs left out
    assert not any(box.cluster is None and box.key != "h" for box in view.boxes)
    assert not any(b.key in ("h0", "w", "xs") for b in view.boxes)
    assert keys(view, view.edges) >= {("h/h_next", "h")}


def test_a_loop_inside_a_collapsed_group_stays_hidden():
    cell = ComputationalGraph()
    cell.add_inputs(h=0.0)
    cell.add_expression("h_next", "cos(h)")
    cg = ComputationalGraph()
    cg.add_inputs(h0=1.0)
    cg.add_loop("block/h", cell, carry={"h": "h0"}, updates={"h": "h_next"}, steps=2)
    cg.add_computation_node("f", "square", ("block/h",))
    view = build_view(cg, collapse=True, expand=True)
    assert view.clusters == []
    assert "block/*" in [box.key for box in view.boxes]


def test_expanding_deep_nesting_needs_no_recursion():
    levels = sys.getrecursionlimit() + 100
    cg = nested(levels)
    view = build_view(cg, expand=True, max_nodes=10**6)
    assert len(view.clusters) == levels + 1
    assert [cluster.parent for cluster in view.clusters] == [None, *range(levels)]
    dot = cgraph.viz.to_dot(cg, expand=True, max_nodes=10**6)
    assert dot.count("subgraph cluster_") == levels + 1
    assert dot.count("{") == dot.count("}")


# --------------------------------------------------------------------------------------
# The layout: each body a band of rows that no other box enters
# --------------------------------------------------------------------------------------


def assert_clusters_hold_their_boxes_only(view: View) -> None:
    result = layout(view)
    assert len(set(result.positions)) == len(result.positions)  # no two boxes in one slot
    assert set(result.slots.values()) == {max(result.slots.values())}  # rows shared by layers
    for number, (first, last, top, bottom) in enumerate(result.clusters):
        for box, (layer, row) in zip(view.boxes, result.positions, strict=True):
            within, cluster = False, box.cluster
            while cluster is not None and not within:
                within, cluster = cluster == number, view.clusters[cluster].parent
            inside = first <= layer <= last and top <= row <= bottom
            assert inside == within, (box.key, number)
            assert row != top or not within  # the cluster's first row is its label's
        for edge, bends in zip(view.edges, result.bends, strict=True):
            for layer, row in bends:  # an edge passing through is inside only if its ends are
                ends = {view.boxes[end].cluster for end in edge}
                if first <= layer <= last and top <= row <= bottom:
                    assert ends & {number, *range(number + 1, len(view.clusters))}


@pytest.mark.parametrize(
    "build", [rnn, nested, lambda: nested(3)], ids=["rnn", "nested", "three levels"]
)
def test_each_cluster_holds_its_boxes_and_no_other(build):
    cg = build()
    cg.add_inputs(other=1.0, more=2.0, many=3.0)  # boxes beside the loop, in its layers
    cg.add_expression("side", "other * more + many")
    assert_clusters_hold_their_boxes_only(build_view(cg, expand=True))


def test_the_layout_without_loops_expanded_is_unchanged():
    view = build_view(rnn())
    result = layout(view)
    assert result.clusters == []
    assert result.positions == [(0, 0), (0, 1), (0, 2), (1, 0), (2, 0)]


# --------------------------------------------------------------------------------------
# DOT and matplotlib
# --------------------------------------------------------------------------------------


def test_dot_puts_each_body_in_a_nested_cluster_with_dashed_back_edges():
    dot = cgraph.viz.to_dot(nested(), expand=True)
    lines = dot.splitlines()
    start = lines.index("    subgraph cluster_0 {")
    assert lines[start + 1].startswith('        label="loop m: 2 steps; carry a <- a_next";')
    inner = lines.index("        subgraph cluster_1 {")
    assert start < inner
    assert '            "m/inner/a_next" [label=<<b>a_next</b><br/>mul>];' in lines
    assert lines[start:].count("    }") == 1  # the outer cluster closes once, after the inner
    assert (
        '    "m/inner/a_next" -> "m/inner/a" [style=dashed, color="#7c3aed", constraint=false];'
        in lines
    )
    assert '    "m/inner/a_next" -> "m/inner";' in lines
    assert dot.count("{") == dot.count("}")
    assert "subgraph" not in cgraph.viz.to_dot(nested())  # one box unless expanded


def test_dot_quotes_a_cluster_label_of_any_name():
    step = ComputationalGraph()
    step.add_inputs(x=0.0)
    step.add_expression("x_next", "cos(x)")
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0)
    cg.add_loop('say "hi"', step, carry={"x": "x0"}, updates={"x": "x_next"}, steps=2)
    assert 'label="loop say \\"hi\\": 2 steps; carry x <- x_next";' in cgraph.viz.to_dot(
        cg, expand=True
    )


def test_the_drawing_shows_each_cluster_its_label_and_back_edges(plt):
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    cg = nested()
    view = build_view(cg, expand=True)
    fig = cgraph.viz.draw(cg, expand=True)
    (ax,) = fig.axes
    clusters = [p for p in ax.patches if (p.get_gid() or "").startswith("cluster ")]
    assert [p.get_gid() for p in clusters] == ["cluster m", "cluster m/inner"]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch) and p not in clusters]
    assert len(boxes) == len(view.boxes)
    back = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "back edge"]
    assert len(back) == 2
    assert all(p.get_linestyle() == "--" for p in back)
    texts = {t.get_text() for t in ax.texts}
    assert {"loop m: 2 steps; carry a <- a_next", "loop inner: 3 steps; carry a <- a_next"} <= texts
    assert {"inner", "a_next/sin", "carry", "loop input"} <= texts
    # Each cluster's rectangle holds its boxes' and its label, and no other box.
    for patch, cluster in zip(clusters, view.clusters, strict=True):
        bounds = patch.get_bbox()
        number = view.clusters.index(cluster)
        members = {number} | {n for n, c in enumerate(view.clusters) if c.parent == number}
        for box, item in zip(boxes, view.boxes, strict=True):
            corners = box.get_bbox()
            inside = bounds.x0 < corners.x0 < corners.x1 < bounds.x1 and (
                bounds.y0 < corners.y0 < corners.y1 < bounds.y1
            )
            assert inside == (item.cluster in members), (item.key, cluster.key)
        (label,) = [t for t in ax.texts if t.get_text() == cluster.label]
        assert bounds.contains(*label.get_position())


def test_the_drawing_is_widened_for_a_long_label_and_saves(plt, tmp_path):
    step = ComputationalGraph()
    step.add_inputs(x=0.0)
    step.add_expression("x_next", "cos(x)")
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0)
    cg.add_loop(
        "a_loop_with_a_long_name" * 3, step, carry={"x": "x0"}, updates={"x": "x_next"}, steps=2
    )
    cgraph.viz.draw(cg, expand=True, path=tmp_path / "loop.svg")
    fig = cgraph.viz.draw(cg, expand=True)
    (ax,) = fig.axes
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (label,) = [t for t in ax.texts if t.get_text().startswith("loop a_loop")]
    assert label.get_window_extent(renderer).x1 <= ax.get_window_extent(renderer).x1
    svg = (tmp_path / "loop.svg").read_text()
    assert re.search(r'id="cluster a_loop', svg)


# --------------------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------------------


def test_explain_says_what_a_loop_on_the_path_is():
    cg = rnn()
    cg.forward("loss")
    cg.backward("loss")
    text = str(cg.explain("w"))
    # w is bound twice (to w and to the unread input): two paths, told apart by argument.
    assert "h = Loop(h0, xs, w, w), argument 3: 3 steps over xs; carry h <- h_next" in text
    assert "h = Loop(h0, xs, w, w), argument 4: 3 steps over xs; carry h <- h_next" in text
    first, _ = cg.explain("w").paths
    assert first.steps[1].about == "3 steps over xs; carry h <- h_next"
    assert first.steps[0].about == ""
