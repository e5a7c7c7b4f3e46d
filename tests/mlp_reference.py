"""The NumPy oracle of the tests' small MLPs: a tanh hidden layer, softmax cross-entropy
(mean over the minibatch), gradients derived by hand."""

from __future__ import annotations

import numpy as np


def mlp_loss_and_grads(ps: list, x: np.ndarray, y: np.ndarray) -> tuple[float, list]:
    """``(loss, [dW1, db1, dW2, db2])`` of ``ps = [W1, b1, W2, b2]`` on ``x`` (batch x d) with
    targets ``y`` (batch x k, rows of probabilities)."""
    w1, b1, w2, b2 = ps
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    m = z.max(1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(1, keepdims=True)
    loss = np.mean(np.sum(y * (np.log(s) + m - z), axis=1))
    dz = (e / s * y.sum(1, keepdims=True) - y) / x.shape[0]
    dh = (dz @ w2.T) * (1 - h * h)
    return loss, [x.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
