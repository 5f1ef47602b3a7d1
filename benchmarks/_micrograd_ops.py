"""The operations micrograd 0.1.0 lacks, written exactly in the style of its own.

micrograd 0.1.0 (PyPI) has only ``+``, ``*``, ``**`` (by a number), ``relu``
and what is derived from them (``-``, ``/``). Each function here makes one
``Value`` whose ``_backward`` closure adds the local derivative times the
upstream gradient into its inputs, as ``Value.__mul__`` does, so one extra op
costs micrograd what one of its built-in ops does.
"""

from __future__ import annotations

import math

from micrograd.engine import Value


def exp(v: Value) -> Value:
    """e^v; d/dv = e^v."""
    out = Value(math.exp(v.data), (v,), "exp")

    def _backward():
        v.grad += out.data * out.grad

    out._backward = _backward
    return out


def sin(v: Value) -> Value:
    """sin v; d/dv = cos v."""
    out = Value(math.sin(v.data), (v,), "sin")

    def _backward():
        v.grad += math.cos(v.data) * out.grad

    out._backward = _backward
    return out


def tanh(v: Value) -> Value:
    """tanh v; d/dv = 1 - tanh^2 v."""
    out = Value(math.tanh(v.data), (v,), "tanh")

    def _backward():
        v.grad += (1 - out.data * out.data) * out.grad

    out._backward = _backward
    return out


def sigmoid(v: Value) -> Value:
    """1 / (1 + e^-v) as one node; d/dv = s (1 - s)."""
    out = Value(1 / (1 + math.exp(-v.data)), (v,), "sigmoid")

    def _backward():
        v.grad += out.data * (1 - out.data) * out.grad

    out._backward = _backward
    return out


def maximum(a: Value, b: Value) -> Value:
    """max(a, b); the gradient goes to the larger input, split equally on a tie (as torch)."""
    out = Value(max(a.data, b.data), (a, b), "maximum")

    def _backward():
        share = 0.5 if a.data == b.data else 1.0
        if a.data >= b.data:
            a.grad += share * out.grad
        if b.data >= a.data:
            b.grad += share * out.grad

    out._backward = _backward
    return out
