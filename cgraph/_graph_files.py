"""ComputationalGraph's methods for saving and loading graph files.

The work itself is in :mod:`cgraph.io`; these thin methods only call it, imported
when called. They live apart so that ``graph.py`` stays the core: declare,
schedule, forward, backward.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cgraph.graph import ComputationalGraph


class GraphFiles:
    """Mixin of ComputationalGraph: save and load."""

    def save(self, path: str | os.PathLike[str], *, array_threshold: int | None = None) -> None:
        """Write the graph to a JSON file: every node in declaration order, with its values.

        Inputs and constants are saved with their values (dtype and shape, exactly),
        operations by their registered name, ``params()`` and input names. An array
        of more than ``array_threshold`` elements goes to an ``.npz`` beside the file,
        named after it and its sha256 digest (``graph.json`` ->
        ``graph.<16 hex digits>.npz``), which the file records. Floats, NaN payloads
        and ``-nan`` included, come back bit for bit. Cached outputs and gradients
        are not saved: ``forward`` and ``backward`` recompute them.

        The save is atomic: the new ``.npz`` gets a new name, then the JSON is
        written to a temporary file and renamed into place, the one commit point. A
        save that raises (an OSError, a KeyboardInterrupt) at any step before it
        leaves the old file and its ``.npz`` loadable with the same values, and no
        temporary file; after it, the old ``.npz`` is removed. The format is
        described in :mod:`cgraph.io`.

        Parameters
        ----------
        path : str or os.PathLike
            The JSON file to write, e.g. ``"graph.json"``; it is replaced if it exists.
        array_threshold : int, optional
            Arrays with more elements go to the ``.npz``; 1000 by default.

        Raises
        ------
        GraphFileError
            If an op is not registered under a name, its ``params()`` cannot be written
            (or do not rebuild it, or nest more than 100 levels deep), or a value is
            not a real number or numeric array; then no file is written.
        OSError
            If a file cannot be written.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> import pathlib, tempfile
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "sum", ("x",), axis=None)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     cg.save(pathlib.Path(tmp) / "graph.json")
        ...     print((pathlib.Path(tmp) / "graph.json").read_text(), end="")
        {"format": "cgraph", "version": 1, "nodes": [
          {"name": "x", "kind": "input", "trainable": true, "value": 2.0},
          {"name": "y", "kind": "operation", "op": "sum", "inputs": ["x"], "params": {"axis": null, "keepdims": false}}
        ]}
        """  # noqa: E501
        from cgraph.io import ARRAY_THRESHOLD, save

        save(self, path, array_threshold=ARRAY_THRESHOLD if array_threshold is None
             else array_threshold)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ComputationalGraph:
        """Read a graph written by :meth:`save`: the same nodes, values and gradients.

        The file is checked as strictly as declaring: its format and version, every
        record's fields and types (an unknown field is refused, not ignored), dtypes
        (real numbers only), shapes against data, and the ``.npz`` beside it (present
        and the one saved with the file). The nodes are then declared in the file's
        order through :meth:`add_input`, :meth:`add_constant` and
        :meth:`add_computation_node`, so duplicate names, unknown inputs, cycles and
        wrong arities are refused as there. Ops are found by their registered name
        only: a custom op must be defined (imported) in this process before loading.
        Nothing is unpickled, evaluated or imported.

        Any file, however hostile, is refused with a GraphFileError in bounded memory
        and time: only regular files are read (a FIFO or a device, even through a
        symlink, is refused before it is opened), within ``cgraph.io.MAX_JSON_BYTES``
        and ``MAX_NPZ_BYTES``; numbers must fit a float; parameters nest at most 100
        levels; ``.npz`` members must be stored uncompressed, and each npy header's
        dtype, shape and size must agree with the record before an array is allocated.

        Parameters
        ----------
        path : str or os.PathLike
            The JSON file written by :meth:`save`.

        Returns
        -------
        ComputationalGraph
            A new graph; nothing has been evaluated yet.

        Raises
        ------
        GraphFileError
            If the file (or its ``.npz``) cannot be read, is not a regular file, is too
            large, is not valid JSON, is not a cgraph file of a version this cgraph
            reads, or a record or an npz member is malformed.
        InvalidOperationError
            If an op name is not registered in this process, or its parameters are refused.
        DuplicateNodeError, UnknownNodeError, CycleError, ArityError
            If the records declare what declaring refuses.

        Every message names the file, the record's position and the node; when
        loading fails no graph is returned.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> import pathlib, tempfile
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     cg.save(pathlib.Path(tmp) / "graph.json")
        ...     loaded = ComputationalGraph.load(pathlib.Path(tmp) / "graph.json")
        >>> loaded.forward("y"), loaded.backward("y")
        (9.0, {'x': 6.0})
        """
        from cgraph.io import load

        return load(path, graph_class=cls)
