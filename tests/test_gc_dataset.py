"""Hindsight-relabelled goal sampling (cfgrl_core.ogbench.gc_dataset): goals are future states of the same episode,
drawn with the authors' law (uniform over t+1..T_e, half weight on the two end points), on device inside lax.scan.

Synthetic episodes with known boundaries, plus one tiny generated pointmaze file read by OGBench's own loader.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core import train
from cfgrl_core.networks import ModelConfig
from cfgrl_core.ogbench import gc_dataset as gcd

LENGTHS = (5, 1, 9, 3)  # episode lengths in rows, one of them a single row


def synthetic(lengths=LENGTHS) -> dict:
    """Row i of episode e: observation (e, t), action (t, -t), goal rep (100 e + t,); terminal on each last row."""
    ep = np.concatenate([np.full(n, e) for e, n in enumerate(lengths)])
    t = np.concatenate([np.arange(n) for n in lengths])
    terminals = np.concatenate([np.arange(n) == n - 1 for n in lengths])
    return {
        "observations": np.stack([ep, t], 1).astype(np.float32),
        "actions": np.stack([t, -t], 1).astype(np.float32),
        "terminals": terminals.astype(np.float32),
        "oracle_reps": (100 * ep + t)[:, None].astype(np.float32),
    }


def expected_law(lo: int, hi: int) -> np.ndarray:
    """P(k = lo..hi) of k = lo + round((hi - lo) u), u ~ U[0, 1): end points half weight."""
    if hi == lo:
        return np.ones(1)
    p = np.ones(hi - lo + 1)
    p[[0, -1]] = 0.5
    return p / p.sum()


def test_episode_final_index():
    np.testing.assert_array_equal(gcd.episode_final_index([0, 0, 1, 1, 0, 1]), [2, 2, 2, 3, 5, 5])


def test_goals_are_future_states_of_the_same_episode():
    raw = synthetic()
    data = gcd.prepare_gc_dataset(raw)
    batch = jax.jit(gcd.sample_gc_batch, static_argnums=2)(data, jax.random.PRNGKey(0), 4096)
    idxs, gidx = np.asarray(batch["idxs"]), np.asarray(batch["goal_idxs"])
    obs = raw["observations"]
    final = gcd.episode_final_index(raw["terminals"])
    assert np.all(obs[gidx, 0] == obs[idxs, 0])  # same episode
    last = idxs == final[idxs]
    assert np.all(gidx[~last] > idxs[~last]) and np.all(gidx <= final[idxs])  # strictly future, not past the end
    assert np.all(gidx[last] == idxs[last])  # an episode's last row has no later state: its own state (authors)
    np.testing.assert_array_equal(np.asarray(batch["observations"]), obs[idxs])
    np.testing.assert_array_equal(np.asarray(batch["actions"]), raw["actions"][idxs])
    np.testing.assert_array_equal(np.asarray(batch["conditions"]), raw["oracle_reps"][gidx])
    assert len(np.unique(idxs)) == len(obs)  # every row gets drawn


@pytest.mark.parametrize("t", [0, 4, 7])
def test_goal_law_matches_the_authors_rounding(t):
    """Chi-square of 20k draws for one row of the 9-row episode against the exact discrete law."""
    final_idx = jnp.asarray(gcd.episode_final_index(synthetic()["terminals"]), jnp.int32)
    row = LENGTHS[0] + LENGTHS[1] + t
    n = 20000
    gidx = np.asarray(gcd.sample_goal_idxs(final_idx, jnp.full(n, row, jnp.int32), jax.random.PRNGKey(t)))
    lo, hi = row + 1, int(final_idx[row])
    counts = np.bincount(gidx - lo, minlength=hi - lo + 1)
    assert counts.sum() == n and len(counts) == hi - lo + 1
    exp = n * expected_law(lo, hi)
    chi2 = ((counts - exp) ** 2 / exp).sum()
    assert chi2 < 3 * (hi - lo) + 10, (chi2, counts, exp)  # mean chi2 = dof = hi - lo
    # The mean is the midpoint of the future window (uniform over t+1..T_e).
    assert abs(gidx.mean() - (lo + hi) / 2) < 0.05 * (hi - lo + 1)


def test_compact_layout_never_samples_the_invalid_last_row():
    """OGBench compact layout: valids 0 on each episode's last row, terminals 1 on its last two rows."""
    raw = synthetic((4, 6))
    valids = 1.0 - raw["terminals"]
    term = raw["terminals"]
    raw["terminals"] = np.minimum(term + np.concatenate([term[1:], [1.0]]), 1.0)
    raw["valids"] = valids
    batch = gcd.sample_gc_batch(gcd.prepare_gc_dataset(raw), jax.random.PRNGKey(1), 2000)
    idxs, gidx = np.asarray(batch["idxs"]), np.asarray(batch["goal_idxs"])
    assert np.all(valids[idxs] == 1)
    assert np.all(valids[gidx] == 1)  # goals stop at the last valid state, as in the authors' code
    assert set(np.unique(idxs)) == set(np.flatnonzero(valids))
    assert np.all(raw["observations"][gidx, 0] == raw["observations"][idxs, 0])


def test_goal_dim_without_oracle_reps():
    raw = synthetic()
    del raw["oracle_reps"]
    data = gcd.prepare_gc_dataset(raw, goal_dim=1)
    assert data["goal_reps"].shape == (len(raw["actions"]), 1)
    batch = gcd.sample_gc_batch(data, jax.random.PRNGKey(0), 64)
    np.testing.assert_array_equal(np.asarray(batch["conditions"])[:, 0], raw["observations"][batch["goal_idxs"], 0])


def test_training_with_the_sampler_inside_lax_scan():
    """train.train_chunk with make_gc_sampler's sample_fn: 200 updates in one jitted lax.scan."""
    raw = synthetic()
    data, sample_fn = gcd.make_gc_sampler(raw)
    mc = ModelConfig(action_dim=2, obs_dim=2, cond_dim=1, hidden_dims=(16,))
    learner = train.CFGLearner(mc, train.TrainConfig(batch_size=32))
    states = train.create_runs(learner, jax.random.split(jax.random.PRNGKey(0), 1))
    states, info = train.train_chunk(
        states, data, jax.random.split(jax.random.PRNGKey(1), 1), learner=learner, num_steps=200, batch_size=32,
        sample_fn=sample_fn,
    )  # fmt: skip
    losses = np.asarray(info["flow_loss"])[0]
    assert losses.shape == (200,) and np.all(np.isfinite(losses)) and int(states.step[0]) == 200
    assert losses[-50:].mean() < losses[:50].mean()


def test_generated_pointmaze_file_through_ogbench_loader(tmp_path):
    """A tiny local pointmaze file, loaded by OGBench's loader (regular layout): goals are future x-y positions."""
    import ogbench

    from cfgrl_core.ogbench import datasets as od

    name = "pointmaze-medium-navigate-v0"
    train_path, _ = od.generate_dataset(
        name, seed=0, data_dir=tmp_path, num_episodes=2, episode_length=40, num_val_episodes=1, progress=False
    )
    _, ds, _ = ogbench.make_env_and_datasets(name, dataset_path=str(train_path))
    assert ds["observations"].shape == (2 * 39, 2)  # the loader drops each episode's last row
    batch = gcd.sample_gc_batch(gcd.prepare_gc_dataset(ds), jax.random.PRNGKey(0), 500)
    idxs, gidx = np.asarray(batch["idxs"]), np.asarray(batch["goal_idxs"])
    assert np.all(idxs // 39 == gidx // 39)
    assert np.all((gidx > idxs) | (idxs % 39 == 38)) and np.all(gidx[idxs % 39 == 38] == idxs[idxs % 39 == 38])
    np.testing.assert_array_equal(np.asarray(batch["conditions"]), ds["observations"][gidx])


def test_bad_inputs():
    raw = synthetic()
    with pytest.raises(KeyError, match="terminals"):
        gcd.prepare_gc_dataset({k: v for k, v in raw.items() if k != "terminals"})
    with pytest.raises(ValueError, match="last row"):
        gcd.prepare_gc_dataset({**raw, "terminals": np.zeros(len(raw["actions"]))})
    with pytest.raises(ValueError, match="row counts"):
        gcd.prepare_gc_dataset({**raw, "actions": raw["actions"][:-1]})
    with pytest.raises(ValueError, match="observations and actions"):
        gcd.prepare_gc_dataset({**raw, "observations": raw["observations"][:, 0]})
    with pytest.raises(ValueError, match="oracle_reps"):
        gcd.prepare_gc_dataset({**raw, "oracle_reps": raw["oracle_reps"][:-1]})
    with pytest.raises(ValueError, match="non-finite"):
        gcd.prepare_gc_dataset({**raw, "observations": raw["observations"] * np.nan})
    no_rep = {k: v for k, v in raw.items() if k != "oracle_reps"}
    with pytest.raises(ValueError, match="goal_dim"):
        gcd.prepare_gc_dataset(no_rep, goal_dim=3)
    with pytest.raises(ValueError, match="valids"):
        gcd.prepare_gc_dataset({**raw, "valids": np.zeros(len(raw["actions"]))})


def test_fit_takes_the_goal_sampler():
    """train.fit with sample_fn: hindsight-relabelled goals, several seeds in one program."""
    data, sample_fn = gcd.make_gc_sampler(synthetic())
    mc = ModelConfig(action_dim=2, obs_dim=2, cond_dim=1, hidden_dims=(16,))
    tc = train.TrainConfig(batch_size=32)
    kw = dict(num_steps=100, model_config=mc, train_config=tc, progress=False, sample_fn=sample_fn)
    state, losses = train.fit(jax.random.PRNGKey(0), data, num_seeds=2, **kw)
    assert losses.shape == (2, 100) and np.all(np.isfinite(losses))
    _, again = train.fit(jax.random.PRNGKey(0), data, num_seeds=2, **kw)
    np.testing.assert_array_equal(losses, again)
