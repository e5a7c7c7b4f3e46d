"""fig1's two NumPy peers train the same model: in-place BLAS updates equal plain NumPy's."""

import numpy as np
import pytest

from bench import fig1


@pytest.mark.parametrize("model,batch", [("mlp500", 1), ("mlp500", 10), ("logreg", 60)])
def test_blas_in_place_updates_equal_plain_numpy(model, batch):
    data = fig1.make_data(batch)
    plain = fig1.numpy_manual(fig1.MODELS[model], batch, data)
    blas = fig1.numpy_blas(fig1.MODELS[model], batch, data)
    losses = np.array([[plain(1)[1], blas(1)[1]] for _ in range(6)])
    assert losses[0, 0] == losses[0, 1]  # the same first step
    np.testing.assert_allclose(losses[:, 1], losses[:, 0], rtol=1e-5)
    assert losses[-1, 0] < losses[0, 0]  # and they do train
