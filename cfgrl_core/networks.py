"""The conditional vector field v_theta(x_t, t, s, c) with a learned null condition.

One network learns both the conditional velocity (c = an optimality label o or a goal g) and the
unconditional one (c = null, the learned "unspecified" embedding, written as the empty set in the paper).
During training the condition is replaced by the null embedding with probability p_uncond per example
(`cfgrl_core.train`), so the two velocities share every weight but the condition input.

Architecture: an MLP with GELU and no LayerNorm on concat(observation, condition embedding, x_t, t), t fed raw
as one scalar, as in the authors' OGBench agents. One difference from them: every Dense layer keeps Flax's
default initialisation (LeCun-normal kernels, zero biases), where the authors use Glorot-uniform
(variance_scaling 1, fan_avg, uniform) on every Dense layer (`shared/reference/cfgrl.md` §2). All committed
results were trained with Flax's default.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class ModelConfig:
    action_dim: int  # A, dimension of the action x_1
    hidden_dims: Sequence[int] = (256, 256, 256, 256)  # widths of the MLP's hidden layers
    obs_dim: int = 0  # O, dimension of the observation s; 0 for state-free problems (a bandit)
    num_labels: int = 0  # >0: discrete condition o in {0, .., num_labels-1}, embedded to label_embed_dim
    cond_dim: int = 0  # >0: continuous condition (a goal g of dimension C), fed raw
    label_embed_dim: int = 32  # width of the label embedding (discrete conditions only)
    compute_dtype: str = "float32"  # matmul dtype of the hidden layers; "bfloat16" = mixed precision (params
    # stay float32, the output layer computes in float32); fast on GPUs and on CPUs with AMX/AVX512-BF16

    def __post_init__(self):
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))  # hashable: jit static arg
        if self.action_dim <= 0:
            raise ValueError(f"action_dim must be positive, got {self.action_dim}")
        if (self.num_labels > 0) == (self.cond_dim > 0):
            raise ValueError(
                "give exactly one of num_labels (discrete condition) or cond_dim (continuous goal), "
                f"got num_labels={self.num_labels}, cond_dim={self.cond_dim}"
            )
        if not self.hidden_dims or min(self.hidden_dims) <= 0:
            raise ValueError(f"hidden_dims must be non-empty positive widths, got {self.hidden_dims}")
        if self.compute_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"compute_dtype must be 'float32' or 'bfloat16', got {self.compute_dtype!r}")
        if self.obs_dim < 0:
            raise ValueError(f"obs_dim must be >= 0, got {self.obs_dim}")


class VectorField(nn.Module):
    """v_theta(x_t, t, s, c).

    Shapes: x_t [B, A], t [B, 1], conditions [B] int or [B, C] float, null_mask [B] bool
    (True = use the learned null embedding instead of the condition), observations [B, O] or None.
    Returns v [B, A].
    """

    config: ModelConfig

    @nn.compact
    def __call__(self, x_t, t, conditions, null_mask, observations=None):
        cfg = self.config
        if cfg.num_labels > 0:
            cond = nn.Embed(cfg.num_labels, cfg.label_embed_dim, name="label_embedding")(conditions)
            null = self.param("null_embedding", nn.initializers.normal(1.0), (cfg.label_embed_dim,))
        else:
            cond = conditions
            null = self.param("null_embedding", nn.initializers.normal(1.0), (cfg.cond_dim,))
        cond = jnp.where(null_mask[:, None], null.astype(cond.dtype), cond)
        parts = [cond, x_t, t]
        if cfg.obs_dim > 0:
            if observations is None:
                raise ValueError(f"the model expects observations of dimension {cfg.obs_dim}, got None")
            parts = [observations, *parts]
        h = jnp.concatenate(parts, axis=-1)
        dense = nn.Dense
        if cfg.compute_dtype == "bfloat16":  # bf16 inputs and weights, float32 accumulation and activations
            dot = functools.partial(jax.lax.dot_general, preferred_element_type=jnp.float32)
            dense = functools.partial(nn.Dense, dtype=jnp.bfloat16, dot_general=dot)
        for width in cfg.hidden_dims:
            h = nn.gelu(dense(width)(h).astype(jnp.float32))
        return nn.Dense(cfg.action_dim, dtype=jnp.float32)(h.astype(jnp.float32))


def init_params(config: ModelConfig, key: jax.Array):
    """Initialise the parameters of VectorField(config) with a batch of one."""
    x = jnp.zeros((1, config.action_dim))
    t = jnp.zeros((1, 1))
    cond = jnp.zeros((1,), jnp.int32) if config.num_labels > 0 else jnp.zeros((1, config.cond_dim))
    obs = jnp.zeros((1, config.obs_dim)) if config.obs_dim > 0 else None
    return VectorField(config).init(key, x, t, cond, jnp.zeros((1,), bool), obs)


def count_params(params) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))
