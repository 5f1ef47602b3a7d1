"""An LSTM over a sequence as one loop node, beside the same LSTM unrolled step by step.

The LSTM cell (Hochreiter and Schmidhuber's, with a forget gate) maps the
state (h, c) and the input x_t to the next state:

    i = sigmoid(W_i x + U_i h + b_i)      f = sigmoid(W_f x + U_f h + b_f)
    o = sigmoid(W_o x + U_o h + b_o)      g = tanh(W_g x + U_g h + b_g)
    c' = f * c + i * g                    h' = o * tanh(c')

It is declared once, as a graph, from formulas. ``cg.add_loop`` applies it to
each of the T steps of a sequence (``xs={"x": "xs"}``: step t reads xs[t]),
carrying (h, c), with the weights the same at every step, and stacks h after
every step (``stack=True``): an array of shape (T, HIDDEN), read out by a
linear layer and compared with a target sequence by the mean squared error.

The same network is then declared node by node, one ``add_subgraph`` per
step, and the example prints both forms' node counts, declaration and
evaluation (forward and backward) times, and the largest difference between
their losses and gradients (the same operations in the same order: the
numbers agree to rounding). Finally one weight's gradient is checked against
central differences.

Run it with ``python examples/rnn_loop.py``.
"""

import time

import numpy as np

from cgraph import ComputationalGraph

T, INPUT, HIDDEN = 500, 3, 8
GATES = ("i", "f", "o", "g")


def lstm_cell() -> ComputationalGraph:
    """One LSTM step: inputs h, c, x and the weights; outputs h_next and c_next."""
    cell = ComputationalGraph()
    cell.add_inputs(h=np.zeros(HIDDEN), c=np.zeros(HIDDEN), x=np.zeros(INPUT))
    for gate in GATES:
        cell.add_inputs(
            **{
                f"W_{gate}": np.zeros((HIDDEN, INPUT)),
                f"U_{gate}": np.zeros((HIDDEN, HIDDEN)),
                f"b_{gate}": np.zeros(HIDDEN),
            }
        )
        squash = "tanh" if gate == "g" else "sigmoid"
        cell.add_expression(gate, f"{squash}(W_{gate} @ x + U_{gate} @ h + b_{gate})")
    cell.add_expression("c_next", "f * c + i * g")
    cell.add_expression("h_next", "o * tanh(c_next)")
    return cell


def weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    scale = 1 / np.sqrt(HIDDEN)
    found = {}
    for gate in GATES:
        found[f"W_{gate}"] = rng.uniform(-scale, scale, (HIDDEN, INPUT))
        found[f"U_{gate}"] = rng.uniform(-scale, scale, (HIDDEN, HIDDEN))
        found[f"b_{gate}"] = rng.uniform(-scale, scale, HIDDEN)
    found["w_out"] = rng.uniform(-scale, scale, HIDDEN)
    return found


def outer_graph(
    params: dict[str, np.ndarray], xs: np.ndarray, targets: np.ndarray
) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(h0=np.zeros(HIDDEN), c0=np.zeros(HIDDEN), **params)
    cg.add_input("xs", xs, trainable=False)
    cg.add_input("targets", targets, trainable=False)
    return cg


def read_out(cg: ComputationalGraph, hidden: str) -> None:
    """loss = mean((H w_out - targets)^2) over the T steps, H the stacked hidden states."""
    cg.add_computation_node("y", "matmul", (hidden, "w_out"))
    cg.add_computation_node("loss", "mse", ("y", "targets"))


def as_loop(cell: ComputationalGraph, params, xs, targets) -> ComputationalGraph:
    cg = outer_graph(params, xs, targets)
    shared = {name: name for name in params if name != "w_out"}
    cg.add_loop(
        "H",
        cell,
        carry={"h": "h0", "c": "c0"},
        updates={"h": "h_next", "c": "c_next"},
        xs={"x": "xs"},
        inputs=shared,
        output="h",
        stack=True,
    )
    read_out(cg, "H")
    return cg


def node_by_node(cell: ComputationalGraph, params, xs, targets) -> ComputationalGraph:
    cg = outer_graph(params, xs, targets)
    shared = {name: name for name in params if name != "w_out"}
    h, c, hs = "h0", "c0", []
    for t in range(T):
        cg.add_computation_node(f"x{t}", "index", ("xs",), index=t)
        state = cg.add_subgraph(
            f"lstm@{t}",
            cell,
            {"h": h, "c": c, "x": f"x{t}", **shared},
            outputs=["h_next", "c_next"],
        )
        h, c = state["h_next"], state["c_next"]
        hs.append(h)
    cg.add_computation_node("H", "stack", hs, axis=0)
    read_out(cg, "H")
    return cg


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def main() -> None:
    rng = np.random.default_rng(0)
    params = weights(rng)
    xs = rng.normal(size=(T, INPUT))
    targets = np.sin(np.cumsum(xs[:, 0]) / 4)  # a target that needs memory of the past inputs
    cell = lstm_cell()
    rows, results = [], {}
    for label, build in (("loop", as_loop), ("node by node", node_by_node)):
        cg, declare = timed(lambda build=build: build(cell, params, xs, targets))
        loss, forward = timed(lambda cg=cg: cg.forward("loss"))
        grads, backward = timed(lambda cg=cg: cg.backward("loss"))
        rows.append((label, len(cg), declare, forward, backward))
        results[label] = (cg, loss, grads)
    loop, loss, grads = results["loop"]
    _, unrolled_loss, unrolled_grads = results["node by node"]
    print(
        f"LSTM, {T} steps, input {INPUT}, hidden {HIDDEN}: the cell is "
        f"{len(cell.operations)} operations"
    )
    print(f"loss by the loop         = {loss:.15f}")
    print(f"loss node by node        = {unrolled_loss:.15f}")
    largest = max(float(np.max(np.abs(grads[name] - unrolled_grads[name]))) for name in grads)
    print(f"largest gradient difference = {largest:.1e}")
    print(f"stacked hidden states H: shape {loop.get_value('H').shape}")
    print()
    print(f"{'':14}{'nodes':>8}{'declare':>11}{'forward':>11}{'backward':>11}  (first passes)")
    for label, nodes, *times in rows:
        cells = "".join(f"{seconds * 1e3:9.1f}ms" for seconds in times)
        print(f"{label:14}{nodes:8d}{cells}")

    # The largest element of one gradient, against central differences of the loop.
    i, j = np.unravel_index(np.argmax(np.abs(grads["U_f"])), grads["U_f"].shape)
    eps = 1e-6
    bumped = params["U_f"].copy()
    bumped[i, j] += eps
    up = loop.forward("loss", feed={"U_f": bumped})
    bumped[i, j] -= 2 * eps
    down = loop.forward("loss", feed={"U_f": bumped})
    print()
    print(f"dloss/dU_f[{i}, {j}] by backward = {grads['U_f'][i, j]:.10f}")
    print(f"central differences          = {(up - down) / (2 * eps):.10f}")


if __name__ == "__main__":
    main()
