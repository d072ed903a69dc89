"""A weight at an exact half bin (or one float32 step either side) decodes to the same bits as
the quantizer's hard weight: the file's bins are read off hard()'s own output, not recomputed
op by op (which once rounded such a weight the other way: 1 weight in 13,000 of a model)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mdl.compress import leaves_with_paths, quantizer
from mdl.compress.files import decode_compressed, encode_compressed
from mdl.models import MLP
from mdl.params import split_params


@pytest.mark.parametrize("groups", [1, 4])
@pytest.mark.parametrize("log_step", [-7.3, -4.1, -2.0])
def test_half_bin_weights_decode_to_hard(log_step, groups):
    model = MLP([12, 64, 8], rngs=nnx.Rngs(0))
    graphdef, params = split_params(model)
    compressor = quantizer(lambda p, w: True, prior="spike_laplace", step_groups=groups)
    cstate = compressor.init(params)
    cstate = {
        path: state._replace(log_step=jnp.full_like(state.log_step, log_step))
        for path, state in cstate.items()
    }
    rng = np.random.default_rng(int(-10 * log_step) + groups)
    step = np.float32(np.exp(np.float32(log_step)))
    flat = []
    for _, leaf in leaves_with_paths(params):
        k = rng.integers(-6, 6, size=np.shape(leaf))
        values = ((k + 0.5) * step).astype(np.float32)
        nudge = rng.choice([-1.0, 0.0, 1.0], size=values.shape)
        toward = np.where(nudge > 0, np.inf, -np.inf).astype(np.float32)
        values = np.where(nudge == 0, values, np.nextafter(values, toward)).astype(np.float32)
        flat.append(jnp.asarray(values))
    params = jax.tree_util.tree_unflatten(jax.tree.structure(params), flat)
    model = nnx.merge(graphdef, params)
    hard = compressor.hard(params, cstate)
    data = encode_compressed(model, compressor, cstate, compact=True)
    decoded = split_params(decode_compressed(data, model))[1]
    for a, b in zip(jax.tree.leaves(hard), jax.tree.leaves(decoded), strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
