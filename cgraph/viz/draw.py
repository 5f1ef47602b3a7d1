"""Seeing a graph: a matplotlib drawing, Graphviz DOT text and Jupyter's inline picture.

Every node is a box with its name, its op, and once computed its value (green)
and gradient (red); inputs are blue, fixed inputs and constants grey. Boxes are
laid out left to right in layers by the longest path from the leaves, so data
flows one way. A large graph is drawn in part: ``root=`` keeps one node's
ancestors, ``depth=`` only those a few steps above it, and ``collapse=`` draws the
nodes named ``layer1/...`` as one box per prefix. A graph too large to read is
refused with an error that says so, never drawn as a blur. A loop is one box;
``expand=`` draws its body too, as a cluster labelled with what the loop is, each
carry's update fed back to the carry by a dashed back edge.

matplotlib is imported only when drawing (``pip install "cgraph[viz]"``); DOT
text needs nothing. Nothing here recurses over the graph.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cgraph.errors import GraphError
from cgraph.viz.layout import Box, Collapse, View, build_view, layout
from cgraph.viz.loops import Expand

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["draw", "to_dot", "repr_svg"]

VALUE_COLOUR = "#1a7f37"  # green: forward values
GRADIENT_COLOUR = "#cf222e"  # red: gradients
FILL = {"input": "#dbeafe", "fixed": "#e5e7eb", "operation": "#ffffff", "group": "#fef3c7"}
LOOP_COLOUR = "#7c3aed"  # purple: a loop's body and its back edges
CLUSTER_FILL = "#f5f3ff"


# --------------------------------------------------------------------------------------
# DOT
# --------------------------------------------------------------------------------------


def to_dot(
    cg: GraphCore,
    root: str | None = None,
    *,
    depth: int | None = None,
    collapse: Collapse = None,
    max_nodes: int = 1000,
    expand: Expand = None,
) -> str:
    """The graph as Graphviz DOT text, laid out left to right, for ``dot -Tsvg``.

    An expanded loop's body is a ``subgraph cluster_N`` labelled with what the
    loop is, inside the cluster of the loop holding it, if any; each carry's
    feedback is a dashed edge that does not constrain the layout.

    Parameters
    ----------
    root, depth, collapse, expand
        As for :func:`draw`.
    max_nodes : int, default 1000
        Refuse graphs with more boxes than this.

    Returns
    -------
    str

    Raises
    ------
    UnknownNodeError, GraphError
        As for :func:`draw`.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "mul", ("x", "x"))
    >>> print(cg.to_dot())  # doctest: +ELLIPSIS
    digraph cgraph {
        rankdir=LR;
    ...
        "x" -> "y";
        "x" -> "y";
    }
    """
    view = build_view(cg, root, depth, collapse, max_nodes, expand)
    lines = [
        "digraph cgraph {",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
    ]
    lines += _dot_boxes(view)
    for source, child in view.edges:
        lines.append(f"    {_quoted(view.boxes[source].key)} -> {_quoted(view.boxes[child].key)};")
    for source, child in view.back_edges:
        lines.append(
            f"    {_quoted(view.boxes[source].key)} -> {_quoted(view.boxes[child].key)} "
            f'[style=dashed, color="{LOOP_COLOUR}", constraint=false];'
        )
    lines.append("}")
    return "\n".join(lines)


def _dot_boxes(view: View) -> list[str]:
    """Each box's line, those of a loop's body inside its (nested) cluster, walked by a stack."""
    inside: dict[int | None, list[int]] = {None: []}  # cluster -> its boxes, then its clusters
    for number in range(len(view.clusters)):
        inside[number] = []
    for position, box in enumerate(view.boxes):
        inside[box.cluster].append(position)
    nested: dict[int | None, list[int]] = {key: [] for key in inside}
    for number, held in enumerate(view.clusters):
        nested[held.parent].append(number)
    lines: list[str] = []
    # Each item: a box to write, a cluster to open, or the end of one, with its indent.
    stack: list[tuple[str, int, str]] = [("open", -1, "    ")]
    while stack:
        what, number, indent = stack.pop()
        if what == "box":
            lines.append(f"{indent}{_dot_box(view.boxes[number])}")
            continue
        if what == "close":
            lines.append(f"{indent}}}")
            continue
        cluster = None if number < 0 else number  # None: the graph's own boxes
        if cluster is not None:
            lines.append(f"{indent}subgraph cluster_{number} {{")
            indent += "    "
            label = _quoted(view.clusters[number].label)
            lines.append(
                f'{indent}label={label}; style="rounded,dashed"; color="{LOOP_COLOUR}"; '
                f'bgcolor="{CLUSTER_FILL}"; fontname="Helvetica";'
            )
            stack.append(("close", number, indent[:-4]))
        stack.extend(("open", child, indent) for child in reversed(nested[cluster]))
        stack.extend(("box", box, indent) for box in reversed(inside[cluster]))
    return lines


def _dot_box(box: Box) -> str:
    attrs = [f"label=<{_html_label(box)}>"]
    if box.kind != "operation":
        attrs.append(f'fillcolor="{FILL[box.kind]}"')
    if box.cut:
        attrs.append('style="rounded,filled,dashed"')
    return f"{_quoted(box.key)} [{', '.join(attrs)}];"


def _quoted(name: str) -> str:
    """A DOT identifier for any name: quoted, with backslashes, quotes and newlines escaped."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _html_label(box: Box) -> str:
    parts = []
    for role, text in box.lines:
        text = html.escape(text)
        if role == "name":
            text = f"<b>{text}</b>"
        elif role in ("value", "grad"):
            colour = VALUE_COLOUR if role == "value" else GRADIENT_COLOUR
            text = f'<font color="{colour}">{text}</font>'
        parts.append(text)
    return "<br/>".join(parts)


# --------------------------------------------------------------------------------------
# Drawing with matplotlib
# --------------------------------------------------------------------------------------

_FONT_SIZE = 9.0  # points, at full scale
_TEXT_PADDING = 0.1  # inches between a box's widest line and each of its sides
_TEXT_SLACK = 1.1  # pixel hinting widens small text (3 to 8 pixels high) by up to 8%
_LINE_HEIGHT = 0.18  # inches per line of text at _FONT_SIZE
_MARGIN = 0.2  # inches around the drawing
_MAX_FIGURE_INCHES = 40.0  # larger drawings are scaled down, text with them
_CLUSTER_INDENT = 0.08  # inches from a cluster's left side to its label
REPR_MAX_NODES = 100  # Jupyter falls back to the text repr beyond this


def draw(
    cg: GraphCore,
    root: str | None = None,
    *,
    depth: int | None = None,
    collapse: Collapse = None,
    ax: Any = None,
    path: str | Path | None = None,
    max_nodes: int = 200,
    expand: Expand = None,
) -> Any:
    """Draw the graph with matplotlib, left to right, with values and gradients once known.

    Each box shows a node's name and op, its value (green) after ``forward``
    and its gradient (red) after ``backward``; inputs are blue, constants and
    fixed inputs grey. Needs matplotlib (``pip install "cgraph[viz]"``).

    Parameters
    ----------
    root : str, optional
        Draw only this node and its ancestors.
    depth : int, optional
        With ``root``: only nodes at most this many steps above it.
    collapse : bool, str or iterable of str, optional
        Draw the nodes named ``prefix/...`` as one box per prefix: ``True`` for
        every prefix before the first ``/``, or the prefixes to collapse. By
        default each use of a subgraph (``add_subgraph``) is one box; ``False``
        draws every node.
    ax : matplotlib.axes.Axes, optional
        Draw on these axes; by default on a new pyplot figure sized to the graph.
    path : str, optional
        Also save the drawing to this file, in the format its extension names
        (``.png``, ``.svg``, ``.pdf``); a new figure is then closed after saving.
    max_nodes : int, default 200
        Refuse to draw more boxes than this (those of expanded bodies included).
    expand : bool, str or iterable of str, optional
        Draw the body of these loop nodes (``add_loop``), not only their box:
        ``True`` for every loop, or their names (a loop in a loop's body by
        its path, ``"outer/inner"``). Each body is a cluster of boxes labelled
        with the loop's name, count and carries (``loop h: 3 steps over xs;
        carry h <- h_next``), fed by the outer nodes bound to its inputs; the
        node the loop gives feeds the loop's box, and a dashed back edge runs
        from each carry's update to the carry. By default a loop is one box.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    UnknownNodeError
        If ``root`` is not a node, no node is named with a prefix in
        ``collapse``, or no loop has a name in ``expand``.
    InvalidValueError
        If ``expand`` names a node that is not a loop.
    GraphError
        If there would be more than ``max_nodes`` boxes, or ``path`` has an extension
        matplotlib cannot write.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> _ = cg.forward("y"); _ = cg.backward("y")
    >>> fig = cg.draw()
    >>> sorted(text.get_text() for text in fig.axes[0].texts if text.get_text())
    ['grad 1', 'grad 6', 'input', 'square', 'value 3', 'value 9', 'x', 'y']
    """
    plt = _pyplot()
    if path is not None:
        _check_format(path)
    view = build_view(cg, root, depth, collapse, max_nodes, expand)
    if not view.boxes:
        raise GraphError("the graph is empty: declare inputs and operations before drawing it")
    geometry = _Geometry(view)
    created = ax is None
    if created:
        _, ax = plt.subplots(figsize=geometry.figure_size())
        ax.set_position((0.0, 0.0, 1.0, 1.0))
    _render(view, geometry, ax)
    if path is not None:
        _save(ax.figure, path)
        if created:  # a figure drawn only to be saved would otherwise stay open in pyplot
            plt.close(ax.figure)
    return ax.figure


def repr_svg(cg: GraphCore) -> str | None:
    """The drawing as SVG text for Jupyter, or None (the text repr) when it cannot be drawn.

    Made on a bare Figure, not pyplot's, so showing a graph opens no window and
    leaves no figure behind; None without matplotlib, for an empty graph, or one
    with more than 100 boxes.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> repr_svg(cg).lstrip().startswith("<?xml")
    True
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    try:
        view = build_view(cg, max_nodes=REPR_MAX_NODES)
    except GraphError:
        return None
    if not view.boxes:
        return None
    geometry = _Geometry(view)
    fig = Figure(figsize=geometry.figure_size())
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    _render(view, geometry, ax)
    buffer = io.StringIO()
    _save(fig, buffer, "svg")
    return buffer.getvalue()


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            'drawing a graph needs matplotlib: pip install "cgraph[viz]" (to_dot() needs nothing)'
        ) from error
    return plt


def _check_format(path: str | Path) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    if Path(path).suffix.lstrip(".").lower() not in supported:
        others = ", ".join(f".{kind}" for kind in sorted(supported))
        raise GraphError(
            f"cannot save a drawing as {str(path)!r}: end the file name with .png "
            f"or .svg (or one of {others})"
        )


def _save(fig: Any, target: Any, kind: str | None = None) -> None:
    import matplotlib

    kind = kind or Path(target).suffix.lstrip(".").lower()
    # SVG text stays text (searchable, small) instead of being drawn as glyph outlines.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(target, format=kind, bbox_inches="tight", facecolor="white")


class _Geometry:
    """Sizes in inches at full scale: box width and heights, and the spacing between boxes.

    An expanded loop's cluster is drawn around its boxes with a padding that
    grows with the clusters nested in it; the rows are spaced to leave room for
    it, so that no cluster touches a box outside it.
    """

    def __init__(self, view: View) -> None:
        self.layout = layout(view)
        self.width = max(1.0, _TEXT_SLACK * _widest_line(view) + 2 * _TEXT_PADDING)
        self.heights = [_LINE_HEIGHT * len(box.lines) + 0.15 for box in view.boxes]
        self.column = self.width + 0.6
        self.nesting = _nesting(view)
        self.side = _pad(max(self.nesting, default=-1))[0]  # beside the outermost clusters
        self.row = max(self.heights) + 0.35 + 2 * _pad(max(self.nesting, default=-1))[1]
        self.layers = max(self.layout.slots) + 1
        self.rows = max(self.layout.slots.values())
        # A cluster's label may run past its last layer: the drawing is widened to hold it.
        self.right = max(
            [
                first * self.column - self.width / 2 - _pad(levels)[0] + _label_width(cluster.label)
                for cluster, (first, *_), levels in zip(
                    view.clusters, self.layout.clusters, self.nesting, strict=True
                )
            ],
            default=0.0,
        )

    def extent(self) -> tuple[float, float]:
        """The axes' limits' width and height, margins included: what must fit the Axes."""
        right = max((self.layers - 1) * self.column + self.width / 2, self.right)
        across = right + self.width / 2 + 2 * (_MARGIN + self.side)
        return across, self.rows * self.row + 2 * _MARGIN

    def cluster(self, number: int) -> tuple[float, float, float, float]:
        """The rectangle around a cluster: left, bottom, width, height."""
        first, last, top, bottom = self.layout.clusters[number]
        side, above = _pad(self.nesting[number])
        half, box = self.width / 2, max(self.heights) / 2
        left = first * self.column - half - side
        right = last * self.column + half + side
        high = self.centre((first, top))[1] + box + above
        low = self.centre((first, bottom))[1] - box - above
        return left, low, right - left, high - low

    def figure_size(self) -> tuple[float, float]:
        width, height = self.extent()
        scale = min(1.0, _MAX_FIGURE_INCHES / width, _MAX_FIGURE_INCHES / height)
        return width * scale, height * scale

    def centre(self, place: tuple[int, int]) -> tuple[float, float]:
        layer, slot = place
        # Each layer's slots are centred vertically on the tallest layer.
        return layer * self.column, -(slot - (self.layout.slots[layer] - 1) / 2) * self.row


def _widest_line(view: View) -> float:
    """How wide the widest line of any box is drawn at _FONT_SIZE, in inches.

    Each line is measured as the sum of its characters' advances in the font itself,
    as text is laid out: digits and capitals are wider than the average letter, so
    a count of characters is not enough. Kerning, pixel hinting and an SVG viewer's
    own copy of the font change the width a little; _TEXT_SLACK absorbs that.
    """
    advance: dict[tuple[str, str], float] = {}  # (weight, character) -> points, measured once
    widest = 0.0
    for box in view.boxes:
        for role, text in box.lines:
            weight = "bold" if role == "name" else "normal"  # as _render draws them
            widest = max(widest, _text_width(text, weight, advance))
    return widest


def _text_width(text: str, weight: str, advance: dict[tuple[str, str], float]) -> float:
    """How wide ``text`` is drawn at _FONT_SIZE, in inches; ``advance`` caches each character."""
    from matplotlib.font_manager import FontProperties, findfont, get_font

    for char in text:
        if (weight, char) not in advance:
            font = get_font(findfont(FontProperties(weight=weight)))  # cached
            font.set_size(_FONT_SIZE, 72)  # at 72 dots per inch a dot is a point
            # linearHoriAdvance: the advance before hinting, in 16.16 fixed point
            advance[weight, char] = font.load_char(ord(char)).linearHoriAdvance / 65536
    return sum(advance[weight, char] for char in text) / 72.0


def _label_width(label: str) -> float:
    """The inches a cluster's label takes from the cluster's left side, its indent included."""
    return _CLUSTER_INDENT + _TEXT_SLACK * _text_width(label, "normal", {})


def _nesting(view: View) -> list[int]:
    """For each cluster, how many levels of clusters it holds (0: none)."""
    levels = [0] * len(view.clusters)
    for number in reversed(range(len(view.clusters))):  # a cluster comes after its parent
        parent = view.clusters[number].parent
        if parent is not None:
            levels[parent] = max(levels[parent], levels[number] + 1)
    return levels


def _pad(levels: int) -> tuple[float, float]:
    """A cluster's padding around its boxes, across and up and down, by the levels it holds.

    -1 (no cluster) gives none; each level adds to it, so nested rectangles stay apart.
    """
    if levels < 0:
        return 0.0, 0.0
    return 0.12 + 0.08 * levels, 0.06 + 0.05 * levels


def _render(view: View, geometry: _Geometry, ax: Any) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as CurvePath

    width, height = geometry.extent()
    box = ax.get_position()
    axes_inches = (box.width * ax.figure.get_figwidth(), box.height * ax.figure.get_figheight())
    # The equal aspect fits the limits to the Axes by this factor, inches per unit; the text
    # shrinks with the boxes, however small, so it stays inside them (zoom into an SVG).
    scale = min(axes_inches[0] / width, axes_inches[1] / height)
    font = _FONT_SIZE * min(scale, 1.5)
    half = geometry.width / 2
    colours = {"value": VALUE_COLOUR, "grad": GRADIENT_COLOUR, "op": "#333333"}
    positions = geometry.layout.positions
    _render_clusters(view, geometry, ax, font, scale)
    for item, place in zip(view.boxes, positions, strict=True):
        x, y = geometry.centre(place)
        box_height = _LINE_HEIGHT * len(item.lines) + 0.15
        ax.add_patch(
            FancyBboxPatch(
                (x - half, y - box_height / 2),
                geometry.width,
                box_height,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor=FILL[item.kind],
                edgecolor="#444444",
                linewidth=1.0,
                linestyle="--" if item.cut else "-",
                zorder=2,
            )
        )
        top = y + (len(item.lines) - 1) * _LINE_HEIGHT / 2
        for number, (role, text) in enumerate(item.lines):
            ax.text(
                x,
                top - number * _LINE_HEIGHT,
                text,
                ha="center",
                va="center",
                fontsize=font,
                color=colours.get(role, "black"),
                fontweight="bold" if role == "name" else "normal",
                zorder=3,
                parse_math=False,
                usetex=False,
            )  # names shown as written: '$a$' is no alpha
    repeats: dict[tuple[int, int], int] = {}
    for (source, child), bends in zip(view.edges, geometry.layout.bends, strict=True):
        x0, y0 = geometry.centre(positions[source])
        x1, y1 = geometry.centre(positions[child])
        # An edge that skips layers runs straight through its slot in each layer it crosses.
        points = [(x0 + half, y0)]
        for place in bends:
            x, y = geometry.centre(place)
            points += [(x - half, y), (x + half, y)]
        points.append((x1 - half, y1))
        seen = repeats[(source, child)] = repeats.get((source, child), -1) + 1
        # The same input twice (mul(x, x)): bend the second arrow one way, the third the other.
        bend = 0.0 if seen == 0 or bends else 0.3 * ((seen + 1) // 2) * (1 if seen % 2 else -1)
        ax.add_patch(
            FancyArrowPatch(
                path=CurvePath(points) if bends else None,
                posA=None if bends else points[0],
                posB=None if bends else points[-1],
                arrowstyle="-|>",
                mutation_scale=10 * min(scale, 1),
                connectionstyle=f"arc3,rad={bend}",
                color="#555555",
                linewidth=0.8,
                shrinkA=0,
                shrinkB=0,
                zorder=1,
            )
        )
    # The limits span exactly geometry.extent(): the slots are centred on y = 0.
    left = -half - _MARGIN - geometry.side
    ax.set_xlim(left, left + width)
    ax.set_ylim(-height / 2, height / 2)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _render_clusters(view: View, geometry: _Geometry, ax: Any, font: float, scale: float) -> None:
    """Each expanded loop's rectangle and label (outer ones first), and its back edges."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    for number, cluster in enumerate(view.clusters):
        left, bottom, across, high = geometry.cluster(number)
        ax.add_patch(
            FancyBboxPatch(
                (left, bottom),
                across,
                high,
                boxstyle="round,pad=0,rounding_size=0.12",
                facecolor=CLUSTER_FILL,
                edgecolor=LOOP_COLOUR,
                linewidth=1.0,
                linestyle="--",
                zorder=0,
                gid=f"cluster {cluster.key}",
            )
        )
        first, _, top, _ = geometry.layout.clusters[number]
        ax.text(
            left + _CLUSTER_INDENT,
            geometry.centre((first, top))[1],
            cluster.label,
            ha="left",
            va="center",
            fontsize=font,
            color=LOOP_COLOUR,
            fontstyle="italic",
            zorder=3,
            parse_math=False,
            usetex=False,
            gid=f"cluster label {cluster.key}",
        )
    half = geometry.width / 2
    for update, carry in view.back_edges:
        (x0, y0), (x1, y1) = (
            geometry.centre(geometry.layout.positions[b]) for b in (update, carry)
        )
        y0 += geometry.heights[update] / 2
        y1 += geometry.heights[carry] / 2
        if update == carry:  # a carry that is its own update: a loop over its top
            x0, x1 = x0 + half / 2, x1 - half / 2
        # An arc about a row high (right to left, rad > 0 bends it up), however long.
        rad = min(0.3, geometry.row / max(abs(x1 - x0), 1e-9))
        ax.add_patch(
            FancyArrowPatch(
                posA=(x0, y0),
                posB=(x1, y1),
                arrowstyle="-|>",
                mutation_scale=10 * min(scale, 1),
                connectionstyle=f"arc3,rad={rad}",
                color=LOOP_COLOUR,
                linewidth=0.9,
                linestyle="--",
                shrinkA=0,
                shrinkB=0,
                zorder=1,
                gid="back edge",
            )
        )
