"""The ``cgraph`` command: gradients, checks, minimisation, drawings and the chain rule.

::

    cgraph grad "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)" --at x=2 y=-4
    cgraph check "x * sin(y)" --at x=2 y=-4
    cgraph minimize "x**2 + y**2 + 400*x + 8*y" --from x=0 y=0 --optimizer adam --lr 10
    cgraph draw "x * sin(y)" --at x=2 y=-4 -o graph.svg
    cgraph explain "x * sin(x)" --wrt x --at x=2

The first argument is an expression, or the path of a graph file saved by
``cg.save`` (a path ending in ``.json`` is always read as a file). An
expression's names are its inputs and must all be given values with ``--at``
(``--from`` for ``minimize``); a file's inputs keep their saved values unless
``--at`` gives others. The root is the graph's only sink unless ``--root``
names another node. Values are numbers (``2``, ``-4.5e-3``, ``nan``) or lists
of them for arrays (``"[1, 2, 3]"``, ``"[[1, 0], [0, 1]]"``), read as data,
never evaluated. An expression that starts with ``-`` must be written in
parentheses, ``"(-x**2)"``, or it reads as an option.

Before anything is evaluated, every value's shape is worked out (see
:mod:`cgraph.cli.limits`) and a graph with a value over ``--max-elements``
elements is refused. The formula may also follow ``--at``'s values.

Exit status: 0 for an answer, 1 when the answer is no (``check`` found a
gradient that disagrees with central differences; ``minimize`` stopped without
meeting its tolerance), 2 for bad input (an expression or file that cannot be
read, an unknown or missing input, a value that is not a number, a bad option,
a value over the size limit, a missing extra, a run that diverged, see
:mod:`cgraph.cli.minimize`), reported in one line on stderr; 130 after Ctrl-C;
141, quietly, when the reader of stdout goes away.

``--json`` prints one JSON object instead of text, floats exact (see
:mod:`cgraph.cli.output`; NaN and infinities as the strings ``"nan"``,
``"inf"``, ``"-inf"``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from cgraph.cli.inputs import UsageError, listed, load_graph, parse_assignments, root_of
from cgraph.cli.limits import DEFAULT_MAX_ELEMENTS, TooLargeError, check_sizes
from cgraph.cli.minimize import (
    DEFAULT_LR,
    OPTIMIZERS,
    DivergenceWatch,
    check_method,
    learning_rate,
    make_optimizer,
    progress_wanted,
)
from cgraph.cli.output import aligned, check_table, to_json
from cgraph.cli.process import positive_int, run_as_process, version
from cgraph.errors import GraphError
from cgraph.graph import ComputationalGraph

__all__ = ["main", "build_parser", "UsageError"]

EXIT_OK, EXIT_NO, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (raised to main) instead of usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ------------------------------------------------------------------------------------------
# The commands
# ------------------------------------------------------------------------------------------


def _graph(args: argparse.Namespace) -> tuple[ComputationalGraph, str]:
    """The graph and its root, refused before any evaluation if a value would be too large."""
    flag = "--from" if args.command == "minimize" else "--at"
    cg = load_graph(args.source, parse_assignments(args.at, flag), flag)
    root = root_of(cg, args.root)
    check_sizes(cg, root, args.max_elements)
    return cg, root


def _grad(args: argparse.Namespace) -> int:
    cg, root = _graph(args)
    value = cg.forward(root)
    gradients = cg.backward(root)
    if args.json:
        print(to_json({"root": root, "value": value, "gradient": gradients}))
    else:
        print(
            aligned(
                [(root, value), *((f"d{root}/d{name}", grad) for name, grad in gradients.items())]
            )
        )
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from cgraph.transforms.gradcheck import check_gradients

    cg, root = _graph(args)
    # gradcheck's own test, row by row (it checks eps, atol and rtol too).
    rows = check_gradients(cg, root, eps=args.eps, atol=args.atol, rtol=args.rtol)
    passed = all(row["passed"] for row in rows.values())
    if args.json:
        print(
            to_json(
                {
                    "root": root,
                    "passed": passed,
                    "eps": args.eps,
                    "atol": args.atol,
                    "rtol": args.rtol,
                    "inputs": rows,
                }
            )
        )
    else:
        print(check_table(root, rows, args.eps, args.atol, args.rtol))
    return EXIT_OK if passed else EXIT_NO


def _minimize(args: argparse.Namespace) -> int:
    from cgraph.optim.minimize import minimize

    if args.plot:
        _check_image_path(args.plot, "--plot", "a plot")  # before the run, not after it
    if args.method is not None:
        check_method(args.method, args.lr)
    lr = learning_rate(args.lr)
    cg, root = _graph(args)
    optimizer = None if args.method else make_optimizer(args.optimizer, lr)
    watch = DivergenceWatch(root, float(np.sum(cg.forward(root))))
    result = minimize(
        cg,
        root,
        optimizer=optimizer,
        method=args.method,
        steps=args.steps,
        tol=args.tol,
        ftol=args.ftol,
        progress=progress_wanted(args),
        callback=watch,
    )
    if watch.problem is not None:
        raise UsageError(watch.problem)
    plotted = _save_plot(cg, root, result, args.plot) if args.plot else None
    fields = {
        "fun": result.fun,
        "nit": result.nit,
        "success": result.success,
        "message": result.message,
        "method": result.method,
    }
    if args.json:
        print(
            to_json(
                {
                    "root": root,
                    "x": result.x,
                    **fields,
                    "jac": result.jac,
                    "nfev": result.nfev,
                    "plot": args.plot,
                }
            )
        )
    else:
        rows = [*result.x.items(), *((key, str(value)) for key, value in fields.items())]
        print(aligned(rows + ([("plot", f"{args.plot} ({plotted})")] if plotted else [])))
    return EXIT_OK if result.success else EXIT_NO


def _save_plot(cg: ComputationalGraph, root: str, result: Any, path: str) -> str:
    """Save the contours with the path for two scalar parameters, else the loss curve; say which."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from cgraph.plots import plot_contour, plot_loss

    if len(result.x) == 2 and all(np.ndim(value) == 0 for value in result.x.values()):
        ax, what = plot_contour(cg, root, result=result), f"the contours of {root} with the path"
    else:
        ax, what = plot_loss(result), f"the loss curve of {root}"
    figure = ax.figure
    assert isinstance(figure, Figure)  # not a SubFigure: each plot makes its own figure
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)
    return what


def _check_image_path(path: str, flag: str, what: str) -> None:
    """Refuse an image name matplotlib cannot write, or a missing matplotlib, before any work."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError(f'{flag} needs matplotlib for {what}: pip install "cgraph[viz]"') from None
    matplotlib.use("Agg")  # files only: never open a window
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    if Path(path).suffix.lstrip(".").lower() not in supported:
        kinds = ", ".join(f".{kind}" for kind in sorted(supported))
        dot = " or .dot" if flag == "-o" else ""
        raise UsageError(
            f"{flag} {path!r}: end the file name with .png, .svg{dot} (or one of {kinds})"
        )


def _draw(args: argparse.Namespace) -> int:
    cg, root = _graph(args)
    cg.forward(root)
    cg.backward(root)
    shown = {
        "root": args.root,
        "depth": args.depth,
        "collapse": True if args.collapse == [] else args.collapse,
    }
    output = args.output
    if output is None or output.lower().endswith(".dot"):
        dot = cg.to_dot(**shown)
        if output is None:
            print(dot)
            return EXIT_OK
        Path(output).write_text(dot + "\n", encoding="utf-8")
    else:
        _check_image_path(output, "-o", "a drawing")
        cg.draw(path=output, **shown)
    if args.json:
        print(to_json({"root": root, "output": output}))
    else:
        print(f"wrote {output}: the graph of {root} with its values and gradients")
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    cg, root = _graph(args)
    if args.wrt not in cg:
        raise UsageError(
            f"--wrt {args.wrt!r} is not a node of the graph; its inputs are {listed(cg.inputs)}"
        )
    cg.forward(root)
    cg.backward(root)
    explanation = cg.explain(args.wrt, root)
    if args.json:
        paths = [
            {"nodes": list(path.nodes), "factors": list(path.factors), "product": path.product}
            for path in explanation.paths
        ]
        print(
            to_json(
                {
                    "root": root,
                    "wrt": args.wrt,
                    "paths": paths,
                    "total": explanation.total,
                    "gradient": explanation.gradient,
                }
            )
        )
    else:
        print(explanation)
    return EXIT_OK


# ------------------------------------------------------------------------------------------
# The parser and main
# ------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cgraph`` command and its five subcommands.

    Examples
    --------
    >>> args = build_parser().parse_args(["grad", "x**2", "--at", "x=3"])
    >>> args.command, args.source, args.at
    ('grad', 'x**2', ['x=3'])
    """
    parser = _Parser(
        prog="cgraph",
        description="Gradients, gradient checks, minimisation, "
        "drawings and the chain rule of a formula or a saved graph, from the shell.",
        epilog="Exit status: 0 an answer, 1 a failed check or a run that did "
        "not converge, 2 bad input, 130 interrupted. See "
        "'cgraph COMMAND --help'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    source = _Parser(add_help=False)
    source.add_argument(
        "source",
        metavar="EXPR|FILE.json",
        nargs="?",
        help="an expression such as 'x * sin(y)', or a graph file saved by "
        "cg.save (a path ending in .json)",
    )
    source.add_argument(
        "--root", metavar="NODE", help="the node to use; by default the graph's only sink"
    )
    source.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object, floats exact (NaN and infinities as "
        "the strings 'nan', 'inf', '-inf')",
    )
    source.add_argument(
        "--max-elements",
        type=positive_int,
        default=DEFAULT_MAX_ELEMENTS,
        metavar="N",
        help="refuse, before evaluating, a graph any of whose "
        f"values would hold more than N elements (default {DEFAULT_MAX_ELEMENTS})",
    )
    at = _Parser(add_help=False)
    at.add_argument(
        "--at",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME=VALUE",
        help="input values: numbers, or lists such as '[1, 2]' for arrays",
    )

    def command(name: str, run: Any, help_text: str, parents: list[Any]) -> Any:
        sub = commands.add_parser(name, parents=parents, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        return sub

    command("grad", _grad, "the value and every gradient by name", [source, at])
    check = command(
        "check",
        _check,
        "the gradients checked against central differences, "
        "worst element per input; exit status 1 on a mismatch",
        [source, at],
    )
    check.add_argument("--eps", type=float, default=1e-6, help="the step (default 1e-6)")
    check.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (1e-5)")
    check.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (1e-3)")
    run = command(
        "minimize",
        _minimize,
        "minimise over the inputs: the result, exit status 1 if no tolerance was met",
        [source],
    )
    run.add_argument(
        "--from",
        "--at",
        dest="at",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME=VALUE",
        help="the starting point",
    )
    how = run.add_mutually_exclusive_group()
    how.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="adam",
        help="gradient descent, momentum (0.9) or Adam (the default)",
    )
    how.add_argument(
        "--method",
        metavar="SCIPY_METHOD",
        help="a gradient-based scipy method instead: L-BFGS-B, BFGS, CG, ... "
        "(needs the scipy extra)",
    )
    run.add_argument(
        "--lr", type=float, help=f"the optimiser's learning rate, > 0 (default {DEFAULT_LR})"
    )
    run.add_argument(
        "--steps",
        type=int,
        default=1000,
        help="the step budget (1000); a run whose loss rises over a million times "
        "its starting size, or whose parameters pass 1e100, is reported as "
        "diverged (exit status 2)",
    )
    run.add_argument(
        "--tol", type=float, default=1e-8, help="stop when no gradient element exceeds this (1e-8)"
    )
    run.add_argument(
        "--ftol", type=float, help="stop when the loss changes by less than this, relatively"
    )
    run.add_argument(
        "--plot",
        metavar="FILE.png",
        help="save the contours with the path (two scalar inputs), else the "
        "loss curve (needs the viz extra)",
    )
    bar = run.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        action="store_true",
        help="a progress bar on stderr even when it is not a terminal (needs tqdm)",
    )
    bar.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (by default shown when stderr is a terminal and tqdm is installed)",
    )
    draw = command("draw", _draw, "draw the graph with its values and gradients", [source, at])
    draw.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="graph.png, graph.svg (need the viz extra) or graph.dot; by "
        "default the DOT text on stdout",
    )
    draw.add_argument("--depth", type=int, help="with --root: only nodes this close to it")
    draw.add_argument(
        "--collapse",
        nargs="*",
        metavar="PREFIX",
        help="one box per name prefix (prefix/...), for all prefixes or those given",
    )
    explain = command(
        "explain", _explain, "the chain rule for one gradient, path by path", [source, at]
    )
    explain.add_argument(
        "--wrt", required=True, metavar="NODE", help="the input (or node) whose gradient to explain"
    )
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; the formula may also come after --at's values (which swallow it)."""
    args = build_parser().parse_args(argv)
    if getattr(args, "source", "") is None:
        # --at x=1 y=2 "x*y": the one value that is no NAME=VALUE pair is the formula.
        loose = [item for item in args.at if "=" not in item]
        if len(loose) != 1:
            raise UsageError(
                f"{args.command} needs a formula or a graph file: write it first, "
                f"'cgraph {args.command} \"x*y\" --at x=1 y=2', or after '--' "
                "that ends the option's values"
            )
        args.source = loose[0]
        args.at = [item for item in args.at if item != loose[0]]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cgraph`` command with ``argv`` (by default the process's arguments).

    Bad input is reported as one line, ``cgraph: error: ...``, on stderr; Ctrl-C
    as ``cgraph: interrupted`` (exit status 130). When the reader of stdout goes
    away (``cgraph grad ... | head -1``) the command stops quietly with status
    141, as a program killed by SIGPIPE does. Text the terminal's encoding cannot
    show is written with backslash escapes.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        The exit status: 0 an answer, 1 a failed check or unconverged run, 2 bad input,
        130 interrupted, 141 stdout closed.

    Examples
    --------
    >>> main(["grad", "x**2", "--at", "x=3"])
    f     = 9.0
    df/dx = 6.0
    0
    """
    return run_as_process(lambda: _run(argv))


def _run(argv: Sequence[str] | None) -> int:
    """The command's exit status; bad input printed as one line."""
    try:
        args = _parse(argv)
        # A NaN or infinity is shown in the output; numpy's warning would only repeat it.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            status = int(args.run(args))
        sys.stdout.flush()  # here, so that a closed pipe is seen here and not at exit
        return status
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else EXIT_OK
    except BrokenPipeError:
        raise
    except (UsageError, GraphError, TooLargeError, ImportError) as error:
        problem = str(error)
    except OSError as error:  # a file that cannot be read or written
        problem = str(error.strerror or error) + (f": {error.filename!r}" if error.filename else "")
    except RecursionError:
        problem = "the input nests too deeply to read"
    except MemoryError:
        problem = "out of memory; lower --max-elements or the sizes of the values"
    print(f"cgraph: error: {problem}".replace("\n", " "), file=sys.stderr)
    return EXIT_BAD_INPUT
