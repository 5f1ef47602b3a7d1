"""Handwritten digits: logistic regression and a small neural network, trained by a plain loop.

The data is scikit-learn's copy of the UCI handwritten digits: 1797 images of
8 x 8 pixels, each labelled 0 to 9. Each image is a row of 64 pixel
intensities, scaled to [0, 1]; a quarter of the images, stratified by label,
are held out to measure accuracy on digits the models never trained on.

Two models turn an image x into 10 class scores (logits):

    logistic regression:  logits = x W1^T + b1                      64 -> 10
    MLP:                  logits = relu(x W1^T + b1) W2^T + b2      64 -> 64 -> 10

Each layer is one call to ``dense``, which declares its weight ``layer1/W``,
bias ``layer1/b``, pre-activation ``layer1/z`` and activation ``layer1/a`` as
named nodes. The loss is the cross-entropy of the logits and the integer
labels, averaged over a batch.

Training is mini-batch gradient descent written out: every epoch shuffles the
training images, and for each batch of 10, ``forward`` the loss with the batch
fed in for ``X`` and ``labels``, ``backward`` it, and move every weight and
bias against its gradient. After each epoch the example prints the loss on the
whole training set and the accuracy on the held-out images. Everything is
seeded, so every run prints the same numbers.

Run it with ``python examples/digits_classifier.py``. It needs scikit-learn,
which ships the data: ``pip install -e ".[data]"``.
"""

import sys
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from cgraph import ComputationalGraph, dense

try:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
except ImportError:
    sys.exit('digits_classifier.py needs scikit-learn for its data: pip install -e ".[data]"')

SEED = 0
TEST_FRACTION = 0.25
CLASSES = 10
HIDDEN_UNITS = 64
EPOCHS = 15
BATCH_SIZE = 10
LEARNING_RATE = 0.1


class Digits(NamedTuple):
    """Images (one row of 64 pixels in [0, 1] each) and their labels, split in two."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_data() -> Digits:
    """The digits, scaled to [0, 1], with a stratified quarter held out for testing."""
    digits = load_digits()
    pixels = digits.data / 16.0  # intensities run from 0 to 16
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, digits.target, test_size=TEST_FRACTION, stratify=digits.target, random_state=SEED
    )
    return Digits(x_train, y_train, x_test, y_test)


# ------------------------------------------------------------------------------------------
# The two models, one dense layer per line
# ------------------------------------------------------------------------------------------


def graph_with_data(data: Digits) -> ComputationalGraph:
    """A graph with the training data as inputs that are not trained: images and labels."""
    cg = ComputationalGraph()
    cg.add_input("X", data.x_train, trainable=False)
    cg.add_input("labels", data.y_train, trainable=False)  # stays integer, gets no gradient
    return cg


def logistic_regression(data: Digits, rng: np.random.Generator) -> tuple[ComputationalGraph, str]:
    """Logits = X W1^T + b1, and the cross-entropy loss; returns the graph and the logits."""
    cg = graph_with_data(data)
    logits = dense(cg, "layer1", "X", CLASSES, activation=None, rng=rng)
    cg.add_computation_node("loss", "cross_entropy", (logits, "labels"))
    return cg, logits


def mlp(data: Digits, rng: np.random.Generator) -> tuple[ComputationalGraph, str]:
    """Logits = relu(X W1^T + b1) W2^T + b2, and the loss; returns the graph and the logits."""
    cg = graph_with_data(data)
    hidden = dense(cg, "layer1", "X", HIDDEN_UNITS, activation="relu", rng=rng)  # He init
    logits = dense(cg, "layer2", hidden, CLASSES, activation=None, rng=rng)
    cg.add_computation_node("loss", "cross_entropy", (logits, "labels"))
    return cg, logits


# ------------------------------------------------------------------------------------------
# Training and evaluation
# ------------------------------------------------------------------------------------------


def batches(count: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The indices 0 .. count - 1 shuffled, in slices of BATCH_SIZE."""
    order = rng.permutation(count)
    for start in range(0, count, BATCH_SIZE):
        yield order[start : start + BATCH_SIZE]


def accuracy(cg: ComputationalGraph, logits: str, images: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of images whose highest score is their label's."""
    scores = cg.forward(logits, feed={"X": images})
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def train(cg: ComputationalGraph, logits: str, data: Digits, rng: np.random.Generator) -> None:
    """Mini-batch gradient descent on ``loss``, printing the losses and accuracy per epoch."""
    for epoch in range(1, EPOCHS + 1):
        for batch in batches(len(data.x_train), rng):
            cg.forward("loss", feed={"X": data.x_train[batch], "labels": data.y_train[batch]})
            gradients = cg.backward("loss")  # of every trainable input: the weights and biases
            for name, gradient in gradients.items():
                cg.inputs[name].output -= LEARNING_RATE * gradient
        train_loss = cg.forward("loss")  # nothing fed: the whole training set
        test_accuracy = accuracy(cg, logits, data.x_test, data.y_test)
        print(f"epoch {epoch:2d}: train loss {train_loss:.4f}, test accuracy {test_accuracy:.3f}")


def fit(
    title: str, build: Callable[..., tuple[ComputationalGraph, str]], data: Digits
) -> tuple[ComputationalGraph, str]:
    """Build a model with its own seeded generator, train it, and return it and its logits."""
    rng = np.random.default_rng(SEED)  # one per model: its numbers depend on it alone
    cg, logits = build(data, rng)
    weights = sum(node.output.size for node in cg.inputs.values() if node.trainable)
    print(f"\nTraining {title} ({weights} weights and biases)")
    train(cg, logits, data, rng)
    return cg, logits


def show_nodes(cg: ComputationalGraph, names: list[str]) -> None:
    """Print the shape, norm and gradient norm of some nodes, read back by name."""
    cg.forward("loss")  # the whole training set, as the gradients to show are of its loss
    cg.backward("loss")
    print("The trained MLP's nodes, read by name, with the gradient of the training loss:")
    print(f"  {'name':9}  {'shape':11}  {'|value|':>8}  {'|gradient|':>10}")
    for name in names:
        value, gradient = cg.get_value(name), cg.get_gradient(name)
        print(
            f"  {name:9}  {np.shape(value)!s:11}  {np.linalg.norm(value):8.3f}  "
            f"{np.linalg.norm(gradient):10.2e}"
        )
    active = np.mean(np.sum(cg.get_value("layer1/a") > 0, axis=1))
    print(
        f"On average {active:.0f} of the {HIDDEN_UNITS} hidden units (layer1/a > 0) "
        "are active for a training image."
    )


def main() -> None:
    """Train both models on the digits and compare their accuracy on the held-out images."""
    data = load_data()
    print(
        f"{len(data.x_train) + len(data.x_test)} digits of 8 x 8 pixels: "
        f"{len(data.x_train)} to train on, {len(data.x_test)} held out for testing"
    )
    linear, linear_logits = fit("logistic regression", logistic_regression, data)
    network, network_logits = fit("MLP", mlp, data)

    print()
    show_nodes(network, ["layer1/W", "layer1/b", "layer1/z", "layer1/a", "layer2/W", "layer2/b"])
    print()
    for title, cg, logits in [
        ("logistic regression", linear, linear_logits),
        ("MLP", network, network_logits),
    ]:
        print(f"{title}: test accuracy {accuracy(cg, logits, data.x_test, data.y_test):.3f}")


if __name__ == "__main__":
    main()
