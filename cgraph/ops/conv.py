"""The layers of small convolutional networks: convolution and max pooling.

Layouts are torch's: a batch of images is ``(N, C, H, W)`` (``(N, C, L)`` for
signals) and a convolution's weight ``(C_out, C_in, kH, kW)``. Like
``torch.nn.functional.conv2d`` a convolution is a cross-correlation (the
kernel is not flipped), computed as one matrix product over the image's
windows (im2col: a strided view of the padded input, then ``np.tensordot``).

Each op states one rule. A convolution is linear in its input and in its
weight separately, and its pullbacks are the two adjoint maps, each an op of
its own so that gradient graphs can declare them: ``conv_input_grad`` (the
transposed convolution of the upstream gradient with the weight) and
``conv_weight_grad`` (the correlation of the input with the upstream
gradient). The three ops are each other's adjoints,

    <conv(x, w), u> = <x, conv_input_grad(u, w)> = <w, conv_weight_grad(x, u)>,

so every derivative of every order is one of them. Max pooling routes each
window's gradient to the window's maximum (``max_pool2d_grad``), whose adjoint
picks values at those maxima (``max_pool2d_gather``): another closed pair.

Each op computes with its inputs' array library: numpy for numpy arrays, else
their array-API namespace, which has neither strided views nor padding nor
scatters. There the windows are gathered (``take``) at the positions numpy
computes from the shapes alone, padding read from one appended value, and what
numpy adds into the windows (the transposed convolution, the pooling gradient)
is gathered back once per window holding a pixel, in numpy's order.
"""

from __future__ import annotations

import math
from functools import lru_cache
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cgraph.errors import ArityError, InvalidOperationError, ShapeError
from cgraph.ops.arrays import float_dtype, tangent_sum
from cgraph.ops.kinds import Multilinear
from cgraph.ops.namespaces import namespace
from cgraph.ops.operation import Operation
from cgraph.ops.tensor import _adopt, _scatter_last, _scatter_plan, _take_last

__all__ = [
    "Conv1d",
    "Conv2d",
    "ConvInputGrad",
    "ConvWeightGrad",
    "MaxPool2d",
    "MaxPool2dGrad",
    "MaxPool2dGather",
]

Sizes = tuple[int, ...]


def _sizes(name: str, what: str, value: Any, dims: int, least: int) -> Sizes:
    """An int or a tuple of ``dims`` ints, each at least ``least``, as a tuple."""
    values = (value,) * dims if np.ndim(value) == 0 else tuple(value)
    if len(values) != dims or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= least for v in values
    ):
        raise InvalidOperationError(
            f"{name}: {what} must be an int >= {least} or a tuple of {dims} of them, not {value!r}"
        )
    return tuple(int(v) for v in values)


def _out_sizes(name: str, size: Sizes, kernel: Sizes, stride: Sizes, padding: Sizes) -> Sizes:
    """The output's spatial sizes, floor((size + 2 padding - kernel) / stride) + 1, as torch's."""
    out = tuple(
        (s + 2 * p - k) // st + 1 for s, k, st, p in zip(size, kernel, stride, padding, strict=True)
    )
    if any(o < 1 for o in out):
        raise ShapeError(
            f"{name}: a kernel of size {kernel} does not fit an input of spatial "
            f"size {size} padded by {padding}; pad more or use a smaller kernel"
        )
    return out


def _windows(
    x: np.ndarray, kernel: Sizes, stride: Sizes, padding: Sizes, fill: float = 0.0
) -> np.ndarray:
    """A view (N, C, *out, *kernel) of the windows of x padded with ``fill``, every ``stride``."""
    dims = len(kernel)
    if any(padding):
        x = np.pad(x, ((0, 0), (0, 0), *((p, p) for p in padding)), constant_values=fill)
    windows = sliding_window_view(x, kernel, axis=tuple(range(2, 2 + dims)))
    return windows[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]


def _checked(name: str, x: Any, dims: int, what: str = "input") -> Any:
    """x as an array of ``dims`` spatial axes (numpy's, or as it is for another library)."""
    if namespace(x) is np:
        x = np.asarray(x)
    if x.ndim != dims + 2:
        layout = "(N, C, L)" if dims == 1 else "(N, C, H, W)"
        raise ShapeError(f"{name}: the {what} must have shape {layout}, not {tuple(x.shape)}")
    return x


@lru_cache(maxsize=64)
def _window_positions(size: Sizes, kernel: Sizes, stride: Sizes, padding: Sizes) -> np.ndarray:
    """The flat position in an image of ``size`` of each window's elements, (*out, *kernel);
    ``prod(size)`` (one past the last pixel) where a window reaches into the padding."""
    dims = len(size)
    out = tuple(
        (s + 2 * p - k) // st + 1 for s, k, st, p in zip(size, kernel, stride, padding, strict=True)
    )
    strides = np.cumprod((1, *size[:0:-1]))[::-1]
    flat = np.zeros((1,) * (2 * dims), dtype=np.intp)
    inside = np.ones((1,) * (2 * dims), dtype=bool)
    for d in range(dims):
        along = [1] * (2 * dims)
        along[d], along[dims + d] = out[d], kernel[d]
        starts = np.arange(out[d]) * stride[d] - padding[d]
        coordinate = (starts[:, None] + np.arange(kernel[d])).reshape(along)
        inside = inside & (coordinate >= 0) & (coordinate < size[d])
        flat = flat + coordinate * int(strides[d])
    positions = np.where(inside, flat, math.prod(size))
    positions.flags.writeable = False  # cached: shared by every call
    return positions


@lru_cache(maxsize=64)
def _window_sums(
    size: Sizes, kernel: Sizes, stride: Sizes, padding: Sizes, kernel_first: bool
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The window positions (kernel axes first where ``kernel_first``) and the plan adding
    values at them into an image of ``size`` and one place for the padding: computed once."""
    positions = _window_positions(size, kernel, stride, padding)
    if kernel_first:
        dims = len(size)
        positions = np.transpose(positions, (*range(dims, 2 * dims), *range(dims)))
    plan = _scatter_plan(positions, math.prod(size) + 1)
    for inverse in plan:  # cached: shared by every call
        inverse.flags.writeable = False
    return positions, tuple(plan)


def _foreign_windows(
    xp: ModuleType, x: Any, kernel: Sizes, stride: Sizes, padding: Sizes, fill: float = 0.0
) -> Any:
    """_windows for an array of another library: (N, C, *out, *kernel), gathered."""
    size = tuple(x.shape[2:])
    positions = _window_positions(size, kernel, stride, padding)
    pixels = xp.reshape(x, (*x.shape[:2], -1))
    return _take_last(xp, pixels, positions, fill=fill if any(padding) else None)


def _add_windows(xp: ModuleType, columns: Any, size: Sizes, stride: Sizes, padding: Sizes) -> Any:
    """Each window's values (N, C, *out, *kernel) added into an image of ``size`` at the
    window's pixels (what falls in the padding dropped), kernel offset by kernel offset as
    numpy's loop adds them: the transpose of _foreign_windows."""
    dims = len(size)
    kernel = tuple(columns.shape[2 + dims :])
    positions, plan = _window_sums(size, kernel, stride, padding, kernel_first=True)
    # Kernel offsets first: a pixel's sum then runs in the order of numpy's loop over them.
    order = (*range(dims, 2 * dims), *range(dims))
    columns = xp.permute_dims(columns, (0, 1, *(2 + axis for axis in order)))
    pixels = math.prod(size)
    image = _scatter_last(xp, columns, positions, pixels + 1, plan=plan)
    return xp.reshape(image[..., :pixels], (*columns.shape[:2], *size))


# --------------------------------------------------------------------------------------
# Convolution and its two adjoints
# --------------------------------------------------------------------------------------


def _convolve(name: str, x: Any, weight: Any, stride: Sizes, padding: Sizes) -> np.ndarray:
    """y[n, o, *i] = sum over c and the kernel of w[o, c, *k] x_padded[n, c, *(i stride + k)]."""
    dims = len(stride)
    x, weight = _checked(name, x, dims), _checked(name, weight, dims, "weight")
    if weight.shape[1] != x.shape[1]:
        raise ShapeError(
            f"{name}: the weight {weight.shape} takes {weight.shape[1]} input "
            f"channel(s) but the input {x.shape} has {x.shape[1]}"
        )
    kernel = tuple(weight.shape[2:])
    _out_sizes(name, tuple(x.shape[2:]), kernel, stride, padding)
    spatial = tuple(range(2, 2 + dims))
    axes = ((1, *(s + dims for s in spatial)), (1, *spatial))
    xp = namespace(x, weight)
    if xp is not np:
        windows = _foreign_windows(xp, _adopt(xp, x), kernel, stride, padding)
        return xp.moveaxis(xp.tensordot(windows, _adopt(xp, weight), axes=axes), -1, 1)
    windows = _windows(x, kernel, stride, padding)  # (N, C, *out, *kernel)
    product = np.tensordot(windows, weight, axes=axes)  # (N, *out, O)
    return np.moveaxis(product, -1, 1)


def _input_grad(
    upstream: Any, weight: Any, size: Sizes, stride: Sizes, padding: Sizes
) -> np.ndarray:
    """The transposed convolution: each output's upstream spread over its window, by the weight."""
    dims = len(size)
    upstream = _checked("conv_input_grad", upstream, dims, "upstream gradient")
    weight = _checked("conv_input_grad", weight, dims, "weight")
    kernel = tuple(weight.shape[2:])
    out = _out_sizes("conv_input_grad", size, kernel, stride, padding)
    if tuple(upstream.shape[2:]) != out or upstream.shape[1] != weight.shape[0]:
        raise ShapeError(
            f"conv_input_grad: an upstream gradient of shape {tuple(upstream.shape)} does not "
            f"come from a weight {tuple(weight.shape)} over inputs of spatial size {size}; "
            f"its shape should be (N, {weight.shape[0]}, {', '.join(map(str, out))})"
        )
    xp = namespace(upstream, weight)
    if xp is not np:
        upstream, weight = _adopt(xp, upstream), _adopt(xp, weight)
        columns = xp.moveaxis(xp.tensordot(upstream, weight, axes=([1], [0])), 1 + dims, 1)
        return _add_windows(xp, columns, size, stride, padding)
    columns = np.moveaxis(np.tensordot(upstream, weight, axes=(1, 0)), 1 + dims, 1)
    padded = np.zeros(
        (
            upstream.shape[0],
            weight.shape[1],
            *(s + 2 * p for s, p in zip(size, padding, strict=True)),
        ),
        np.result_type(columns),
    )
    # One strided addition per kernel offset (k*k of them), never a loop over pixels.
    for offset in np.ndindex(*kernel):
        window = tuple(
            slice(k, k + st * (o - 1) + 1, st) for k, st, o in zip(offset, stride, out, strict=True)
        )
        padded[(slice(None), slice(None), *window)] += columns[(Ellipsis, *offset)]
    if not any(padding):
        return padded
    inside = tuple(slice(p, p + s) for p, s in zip(padding, size, strict=True))
    return np.ascontiguousarray(padded[(slice(None), slice(None), *inside)])


def _weight_grad(x: Any, upstream: Any, kernel: Sizes, stride: Sizes, padding: Sizes) -> np.ndarray:
    """The correlation of the input's windows with the upstream, summed over the batch."""
    dims = len(kernel)
    x = _checked("conv_weight_grad", x, dims)
    upstream = _checked("conv_weight_grad", upstream, dims, "upstream gradient")
    out = _out_sizes("conv_weight_grad", tuple(x.shape[2:]), kernel, stride, padding)
    if tuple(upstream.shape[2:]) != out or upstream.shape[0] != x.shape[0]:
        raise ShapeError(
            f"conv_weight_grad: an upstream gradient of shape {tuple(upstream.shape)} does not "
            f"come from an input {tuple(x.shape)} and a kernel of size {kernel}; its shape "
            f"should be ({x.shape[0]}, C_out, {', '.join(map(str, out))})"
        )
    axes = (0, *range(2, 2 + dims))
    xp = namespace(x, upstream)
    if xp is not np:
        windows = _foreign_windows(xp, _adopt(xp, x), kernel, stride, padding)
        return xp.tensordot(_adopt(xp, upstream), windows, axes=(axes, axes))
    return np.tensordot(upstream, _windows(x, kernel, stride, padding), axes=(axes, axes))


class _Conv(Operation):
    """Convolution over ``dims`` spatial axes, with an optional bias as a third input."""

    name: ClassVar[str]  # each concrete class is registered under one
    dims: int
    arity = None
    min_arity = 2  # input and weight; the bias is optional, as in torch

    def __init__(self, stride: int | Sizes = 1, padding: int | Sizes = 0) -> None:
        self.stride = _sizes(self.name, "stride", stride, self.dims, 1)
        self.padding = _sizes(self.name, "padding", padding, self.dims, 0)

    def params(self) -> dict[str, Any]:
        return {"stride": self.stride, "padding": self.padding}

    def forward(self, x: Any, weight: Any, *bias: Any) -> Any:
        if len(bias) > 1:
            raise ArityError(
                f"{self.name} takes an input, a weight and an optional bias, "
                f"not {2 + len(bias)} inputs"
            )
        y = _convolve(self.name, x, weight, self.stride, self.padding)
        if not bias:
            return y
        xp = namespace(y, bias[0])
        b = np.asarray(bias[0]) if xp is np else bias[0]
        if tuple(b.shape) != (y.shape[1],):
            raise ShapeError(
                f"{self.name}: the bias must have one value per output channel, "
                f"shape ({y.shape[1]},), not {tuple(b.shape)}"
            )
        return y + xp.reshape(_adopt(xp, b), (-1, *(1,) * self.dims))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, weight: Any, *bias: Any) -> Any:
        conv = {"stride": self.stride, "padding": self.padding}
        grads = (
            p.conv_input_grad(upstream, weight, size=p.shape(x)[2:], **conv)
            if self.wants_grad(0)
            else None,
            p.conv_weight_grad(x, upstream, size=p.shape(weight)[2:], **conv)
            if self.wants_grad(1)
            else None,
        )
        if not bias:
            return grads
        return (
            *grads,
            p.sum(upstream, axis=(0, *range(2, 2 + self.dims))) if self.wants_grad(2) else None,
        )

    def pushforward(
        self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any, weight: Any, *bias: Any
    ) -> Any:
        # Bilinear in (x, w) plus b, as Linear: the bias's tangent is added once, per channel.
        tx, tw, *tb = tangents
        return tangent_sum(
            None if tx is None else p.call(self, tx, weight),
            None if tw is None else p.call(self, x, tw),
            None if not tb or tb[0] is None else p.reshape(tb[0], (-1, *(1,) * self.dims)),
        )


class Conv1d(_Conv):
    """1-D convolution y = w * x + b, as torch's F.conv1d; x (N, C_in, L), w (C_out, C_in, k).

    dL/dx = conv_input_grad(u, w) (the transposed convolution), dL/dw =
    conv_weight_grad(x, u) (the input's windows correlated with u), dL/db = u
    summed over the batch and length. The bias, of shape (C_out,), is an
    optional third input. ``stride`` and ``padding`` (zeros on both sides) are
    torch's; dilation and groups are not supported.

    Examples
    --------
    >>> import numpy as np
    >>> op = Conv1d()
    >>> op.forward(np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, -1.0]]]))
    array([[[-1., -1., -1.]]])
    >>> Conv1d(stride=2, padding=1).forward(np.ones((1, 1, 4)), np.ones((1, 1, 3)), np.ones(1))
    array([[[3., 4.]]])
    """

    name = "conv1d"
    dims = 1


class Conv2d(_Conv):
    """2-D convolution y = w * x + b, as torch's F.conv2d; x (N, C, H, W), w (C_out, C, kH, kW).

    dL/dx = conv_input_grad(u, w) (the transposed convolution), dL/dw =
    conv_weight_grad(x, u) (the input's windows correlated with u), dL/db = u
    summed over the batch, height and width. The bias, of shape (C_out,), is an
    optional third input. ``stride`` and ``padding`` (zeros on every side) take
    an int or a pair, as in torch; dilation and groups are not supported.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> edge = np.array([[[[1.0, -1.0]]]])        # x[i, j] - x[i, j + 1]
    >>> Conv2d().forward(x, edge)
    array([[[[-1., -1.],
             [-1., -1.],
             [-1., -1.]]]])
    >>> Conv2d(padding=1).forward(x, np.ones((2, 1, 3, 3)), np.array([0.0, 100.0])).shape
    (1, 2, 3, 3)
    >>> from cgraph.ops import numeric
    >>> Conv2d().pullback(numeric, np.ones((1, 1, 3, 2)), None, x, edge)[0]
    array([[[[ 1.,  0., -1.],
             [ 1.,  0., -1.],
             [ 1.,  0., -1.]]]])
    """

    name = "conv2d"
    dims = 2


class _ConvAdjoint(Multilinear):
    """An adjoint of convolution, for ``size`` (the spatial sizes it produces), stride, padding."""

    name: ClassVar[str]  # each concrete class is registered under one

    def __init__(
        self, size: int | Sizes, stride: int | Sizes = 1, padding: int | Sizes = 0
    ) -> None:
        self.size = _sizes(self.name, "size", size, np.size(size), 1)
        if len(self.size) not in (1, 2):
            raise InvalidOperationError(
                f"{self.name}: size must give 1 or 2 spatial sizes, not {size!r}"
            )
        self.stride = _sizes(self.name, "stride", stride, len(self.size), 1)
        self.padding = _sizes(self.name, "padding", padding, len(self.size), 0)

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "stride": self.stride, "padding": self.padding}

    def _conv(self, p: Any, x: Any, weight: Any) -> Any:
        """The convolution these are the adjoints of, applied to x and a weight."""
        conv = p.conv1d if len(self.size) == 1 else p.conv2d
        return conv(x, weight, stride=self.stride, padding=self.padding)


class ConvInputGrad(_ConvAdjoint):
    """Transposed convolution z = conv^T(u, w) onto inputs of spatial ``size``: conv's dL/dx.

    The adjoint of convolution in its input: <conv(x, w), u> = <x, z>.
    dL/du = conv(v, w) and dL/dw = conv_weight_grad(v, u) for an upstream v.
    ``size`` (the input's spatial sizes) fixes the output's, which a stride leaves open.

    Examples
    --------
    >>> import numpy as np
    >>> ConvInputGrad(size=(3, 3)).forward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    """

    name = "conv_input_grad"

    def forward(self, upstream: Any, weight: Any) -> Any:
        return _input_grad(upstream, weight, self.size, self.stride, self.padding)

    def pullback(self, p: Any, upstream: Any, output: Any, u: Any, weight: Any) -> Any:
        return (
            self._conv(p, upstream, weight) if self.wants_grad(0) else None,
            p.conv_weight_grad(
                upstream, u, size=p.shape(weight)[2:], stride=self.stride, padding=self.padding
            )
            if self.wants_grad(1)
            else None,
        )


class ConvWeightGrad(_ConvAdjoint):
    """Correlation z = corr(x, u) of the input with u, kernel of spatial ``size``: conv's dL/dw.

    The adjoint of convolution in its weight: <conv(x, w), u> = <w, z>.
    dL/dx = conv_input_grad(u, v) and dL/du = conv(x, v) for an upstream v.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> ConvWeightGrad(size=(2, 2)).forward(x, np.ones((1, 1, 2, 2)))  # sums of 2x2 windows
    array([[[[ 8., 12.],
             [20., 24.]]]])
    """

    name = "conv_weight_grad"

    def forward(self, x: Any, upstream: Any) -> Any:
        return _weight_grad(x, upstream, self.size, self.stride, self.padding)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, u: Any) -> Any:
        return (
            p.conv_input_grad(
                u, upstream, size=p.shape(x)[2:], stride=self.stride, padding=self.padding
            )
            if self.wants_grad(0)
            else None,
            self._conv(p, x, upstream) if self.wants_grad(1) else None,
        )


# --------------------------------------------------------------------------------------
# Max pooling and the pair that routes its gradient
# --------------------------------------------------------------------------------------


class _Pool(Operation):
    """An op over the ``kernel_size`` windows of (N, C, H, W) images, every ``stride``."""

    name: ClassVar[str]  # each concrete class is registered under one

    def __init__(
        self, kernel_size: int | Sizes, stride: int | Sizes | None = None, padding: int | Sizes = 0
    ) -> None:
        self.kernel_size = _sizes(self.name, "kernel_size", kernel_size, 2, 1)
        self.stride = (
            self.kernel_size if stride is None else _sizes(self.name, "stride", stride, 2, 1)
        )
        self.padding = _sizes(self.name, "padding", padding, 2, 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise InvalidOperationError(
                f"{self.name}: padding {self.padding} must be at most "
                f"half the kernel size {self.kernel_size}, as in torch"
            )

    def params(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def _windows(self, x: Any) -> Any:
        """(N, C, P, Q, kH, kW): the windows of x, padded with -inf (never a maximum)."""
        x = _checked(self.name, x, 2)
        _out_sizes(self.name, tuple(x.shape[2:]), self.kernel_size, self.stride, self.padding)
        xp = namespace(x)
        if xp is not np:
            if any(self.padding):
                x = xp.astype(x, float_dtype(x))  # -inf needs a float type
            return _foreign_windows(
                xp, x, self.kernel_size, self.stride, self.padding, fill=-math.inf
            )
        if any(self.padding):
            x = x.astype(float_dtype(x), copy=False)  # -inf needs a float type
        return _windows(x, self.kernel_size, self.stride, self.padding, fill=-np.inf)

    def _foreign_argmax(self, xp: ModuleType, x: Any) -> tuple[Any, Sizes]:
        """For an array of another library: a mask (N, C, P, Q, kH kW), True at each window's
        first maximum in row-major order (torch's choice); and the pooled shape."""
        windows = self._windows(_adopt(xp, x))
        pooled = tuple(windows.shape[:4])
        flat = xp.reshape(windows, (*pooled, -1))
        best = xp.argmax(flat, axis=-1)
        return xp.expand_dims(best, axis=-1) == xp.arange(flat.shape[-1]), pooled

    def _argmax(self, x: Any) -> tuple[np.ndarray, Sizes]:
        """Each window's first maximum in row-major order (torch's choice), as a flat index
        into x's last two axes, shape (N, C, P * Q); and the pooled shape (N, C, P, Q)."""
        windows = self._windows(x)
        pooled = windows.shape[:4]
        best = np.argmax(windows.reshape(*pooled, -1), axis=-1)
        i, j = np.divmod(best, self.kernel_size[1])
        i += (np.arange(pooled[2]) * self.stride[0] - self.padding[0])[:, np.newaxis]
        j += np.arange(pooled[3]) * self.stride[1] - self.padding[1]
        return (i * np.shape(x)[3] + j).reshape(*pooled[:2], -1), pooled


class MaxPool2d(_Pool):
    """Max pooling y = the maximum of each window, as torch.nn.functional.max_pool2d.

    dL/dx = max_pool2d_grad(x, u): each window's upstream goes to its maximum,
    and to the first one in row-major order when several tie (torch's choice;
    the ``max`` op splits ties instead). Overlapping windows add up. ``stride``
    defaults to ``kernel_size``; ``padding`` (implicit -inf, at most half the
    kernel) as in torch; dilation and ceil_mode are not supported.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 2.0, 5.0, 0.0],
    ...                 [3.0, 4.0, 1.0, 1.0]]]])
    >>> op = MaxPool2d(kernel_size=2)
    >>> op.forward(x)
    array([[[[4., 5.]]]])
    >>> from cgraph.ops import numeric
    >>> op.pullback(numeric, np.array([[[[10.0, 20.0]]]]), None, x)
    (array([[[[ 0.,  0., 20.,  0.],
             [ 0., 10.,  0.,  0.]]]]),)
    """

    name = "max_pool2d"

    def forward(self, x: Any) -> Any:
        windows = self._windows(x)
        xp = namespace(windows)
        return windows.max(axis=(-2, -1)) if xp is np else xp.max(windows, axis=(-2, -1))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.max_pool2d_grad(x, upstream, **self.params()),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any) -> Any:
        return p.max_pool2d_gather(x, tangents[0], **self.params())


class MaxPool2dGrad(_Pool):
    """Max pooling's gradient z = u routed to the maximum of each window of x; dL/du = gather.

    Zeros shaped like x, with each window's u added at the window's maximum
    (the first in row-major order among ties). Linear in u; piecewise constant
    in x (derivative 0). dL/du = max_pool2d_gather(x, v) for an upstream v.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 2.0, 5.0, 0.0]]]])
    >>> MaxPool2dGrad(kernel_size=(1, 2)).forward(x, np.array([[[[10.0, 20.0]]]]))
    array([[[[ 0., 10., 20.,  0.]]]])
    """

    name = "max_pool2d_grad"

    def forward(self, x: Any, upstream: Any) -> Any:
        xp = namespace(x, upstream)
        if xp is not np:
            return self._foreign_route(xp, x, upstream)
        index, pooled = self._argmax(x)
        upstream = np.asarray(upstream)
        if upstream.shape != pooled:
            raise ShapeError(
                f"{self.name}: the upstream gradient {upstream.shape} must be "
                f"shaped like the pooled input, {pooled}"
            )
        # Windows may overlap (stride < kernel): bincount adds the gradients that meet.
        images, pixels = pooled[0] * pooled[1], math.prod(np.shape(x)[2:])
        flat = index + (np.arange(images) * pixels).reshape(*pooled[:2], 1)
        summed = np.bincount(flat.ravel(), weights=upstream.ravel(), minlength=images * pixels)
        return summed.reshape(np.shape(x)).astype(float_dtype(upstream), copy=False)

    def _foreign_route(self, xp: ModuleType, x: Any, upstream: Any) -> Any:
        """forward for arrays of another library: each window's u put at its maximum, then
        the windows added into the image (pixel by pixel in the windows' order, as bincount)."""
        best, pooled = self._foreign_argmax(xp, x)
        if tuple(upstream.shape) != pooled:
            raise ShapeError(
                f"{self.name}: the upstream gradient {tuple(upstream.shape)} must be "
                f"shaped like the pooled input, {pooled}"
            )
        upstream = xp.astype(_adopt(xp, upstream), float_dtype(upstream))
        routed = xp.where(best, xp.expand_dims(upstream, axis=-1), 0.0)
        columns = xp.reshape(routed, (*pooled, *self.kernel_size))
        size = tuple(x.shape[2:])
        positions, plan = _window_sums(
            size, self.kernel_size, self.stride, self.padding, kernel_first=False
        )
        pixels = math.prod(size)
        image = _scatter_last(xp, columns, positions, pixels + 1, plan=plan)
        return xp.reshape(image[..., :pixels], tuple(x.shape))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, u: Any) -> Any:
        return None, p.max_pool2d_gather(x, upstream, **self.params())

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any, u: Any) -> Any:
        return None if tangents[1] is None else p.max_pool2d_grad(x, tangents[1], **self.params())


class MaxPool2dGather(_Pool):
    """v picked at the maximum of each window of x: z = v[argmax]; dL/dv = max_pool2d_grad.

    The adjoint of max_pool2d_grad, and max pooling's tangent: max_pool2d(x) is
    max_pool2d_gather(x, x). Linear in v; piecewise constant in x (derivative 0).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 2.0, 5.0, 0.0]]]])
    >>> MaxPool2dGather(kernel_size=(1, 2)).forward(x, np.array([[[[1.0, 2.0, 3.0, 4.0]]]]))
    array([[[[2., 3.]]]])
    """

    name = "max_pool2d_gather"

    def forward(self, x: Any, values: Any) -> Any:
        xp = namespace(x, values)
        if xp is not np:
            best, pooled = self._foreign_argmax(xp, x)
            if tuple(values.shape) != tuple(x.shape):
                raise ShapeError(
                    f"{self.name}: the values {tuple(values.shape)} must be shaped like the "
                    f"input {tuple(x.shape)}"
                )
            values = _adopt(xp, values)
            windows = _foreign_windows(xp, values, self.kernel_size, self.stride, self.padding)
            picked = xp.where(best, xp.reshape(windows, (*pooled, -1)), 0.0)
            return xp.sum(picked, axis=-1)  # one value and zeros: that value, exactly
        index, pooled = self._argmax(x)
        values = np.asarray(values)
        if values.shape != np.shape(x):
            raise ShapeError(
                f"{self.name}: the values {values.shape} must be shaped like the "
                f"input {np.shape(x)}"
            )
        return np.take_along_axis(values.reshape(*pooled[:2], -1), index, axis=2).reshape(pooled)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, values: Any) -> Any:
        return None, p.max_pool2d_grad(x, upstream, **self.params())

    def pushforward(
        self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any, values: Any
    ) -> Any:
        return None if tangents[1] is None else p.max_pool2d_gather(x, tangents[1], **self.params())
