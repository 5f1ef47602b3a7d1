"""A 2-D convolution's forward and backward pass: how close is cgraph to numpy by hand?

One call evaluates ``loss = sum(conv2d(x, w, b)^2)`` with 3 x 3 kernels,
stride 1 and padding 1, and its gradients with respect to the input, the
weight and the bias: the work of one convolutional layer in a training step.
Two layers are measured: the first layer of examples/digits_cnn.py (a batch
of 32 images of 1 x 8 x 8 into 16 channels) and a wider one (32 images of
16 x 16 x 16 into 32 channels). Contenders, in float64 on one thread:

- ``numpy floor``: the pass written by hand with the calls cgraph's ops make:
  the padded input's windows as a strided view (``sliding_window_view``),
  one ``tensordot`` for the output and one for the weight's gradient, and the
  input's gradient as the transposed convolution, one strided addition per
  kernel offset; the least a numpy engine doing im2col could do.
- ``cgraph``: the graph ``conv2d`` -> ``square`` -> ``sum`` declared once;
  a call is ``forward`` and ``backward``.
- ``torch``: eager ``F.conv2d`` and ``backward`` (its own CPU convolution
  kernels, not im2col in numpy), gradients set to None before each call.

Before timing, every contender must give the same loss and gradients to 1e-9.

Run ``python benchmarks/bench_conv2d.py [--quick] [--write]``.
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS too: set before numpy is first imported.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import _harness  # noqa: E402
import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from cgraph import ComputationalGraph  # noqa: E402

#: (label, batch, input channels, output channels, image side) of each measured layer.
LAYERS = (("digits layer 1x8x8 -> 16", 32, 1, 16, 8), ("wide layer 16x16x16 -> 32", 32, 16, 32, 16))
QUICK_LAYERS = (("quick layer 2x6x6 -> 4", 4, 2, 4, 6),)
KERNEL = 3


def problem(batch, c_in, c_out, side):
    """The input and the layer's weight and bias: ``(x, w, b)``."""
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(batch, c_in, side, side)),
        rng.normal(0, (c_in * KERNEL * KERNEL) ** -0.5, (c_out, c_in, KERNEL, KERNEL)),
        rng.normal(size=c_out),
    )


def numpy_floor(x, w, b):
    """The pass by hand: im2col and tensordot forward, the three gradients backward."""

    def call():
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = sliding_window_view(padded, (KERNEL, KERNEL), axis=(2, 3))  # N, C, H, W, k, k
        y = (
            np.moveaxis(np.tensordot(windows, w, axes=((1, 4, 5), (1, 2, 3))), -1, 1)
            + b[:, None, None]
        )
        u = 2.0 * y  # d loss / d y
        grad_b = u.sum(axis=(0, 2, 3))
        grad_w = np.tensordot(u, windows, axes=((0, 2, 3), (0, 2, 3)))
        columns = np.moveaxis(np.tensordot(u, w, axes=(1, 0)), 3, 1)  # N, C, H, W, k, k
        grad_padded = np.zeros(padded.shape)
        side_h, side_w = x.shape[2:]
        for i in range(KERNEL):
            for j in range(KERNEL):
                grad_padded[:, :, i : i + side_h, j : j + side_w] += columns[..., i, j]
        grad_x = grad_padded[:, :, 1:-1, 1:-1]
        return [float(np.sum(y * y)), float(grad_x.sum()), float(grad_w.sum()), float(grad_b.sum())]

    return call


def cgraph_engine(x, w, b):
    """The graph declared once, as a user would; a call is forward and backward."""
    cg = ComputationalGraph()
    cg.add_inputs(x=x.copy(), w=w.copy(), b=b.copy())
    cg.add_computation_node("y", "conv2d", ("x", "w", "b"), padding=1)
    cg.add_computation_node("y2", "square", ("y",))
    cg.add_computation_node("loss", "sum", ("y2",))

    def call():
        loss = cg.forward("loss")
        grads = cg.backward("loss")
        return [
            float(loss),
            float(grads["x"].sum()),
            float(grads["w"].sum()),
            float(grads["b"].sum()),
        ]

    return call


def torch_engine(x, w, b):
    """The pass in torch eager mode."""
    torch = _harness.import_torch()
    params = [torch.tensor(value, requires_grad=True) for value in (x, w, b)]

    def call():
        for param in params:
            param.grad = None
        loss = (torch.nn.functional.conv2d(params[0], params[1], params[2], padding=1) ** 2).sum()
        loss.backward()
        return [loss.item(), *(float(param.grad.sum()) for param in params)]

    return call


ENGINES = {"numpy floor": numpy_floor, "cgraph": cgraph_engine, "torch": torch_engine}


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(2, 15))
    tables, targets = [], []
    for label, *sizes in QUICK_LAYERS if options.quick else LAYERS:
        data = problem(*sizes)
        calls = {name: make(*data) for name, make in ENGINES.items()}
        _harness.check_agree(
            f"loss and gradient sums, {label}", {name: call() for name, call in calls.items()}
        )
        times = _harness.time_interleaved(calls, options.repeats, label=label)
        tables.append(
            f"**{label}** (batch {sizes[0]})\n\n"
            + _harness.contender_table(times, "numpy floor", 1, "pass")
        )
        # A small layer's pass takes half a millisecond, so the graph's fixed cost shows.
        goal = 2.0 if sizes[3] <= 8 else 1.25
        targets.append(
            _harness.Target(
                f"cgraph within {goal:.2f}x of the numpy floor, {label}",
                times["cgraph"] / times["numpy floor"],
                goal,
                at_least=False,
            )
        )
    _harness.report(
        "bench_conv2d",
        "A conv2d layer's forward and backward pass",
        "loss = sum(conv2d(x, w, b)^2), 3x3 kernels, padding 1, and its gradients in x, w and "
        "b, in float64; numpy's BLAS and torch on one thread.",
        tables,
        targets,
        options,
    )


if __name__ == "__main__":
    main()
