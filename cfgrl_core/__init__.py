"""cfgrl_core: flow matching, classifier-free guided sampling and the checks behind the notebooks.

The core (this folder), which imports nothing from the subpackages:
  flow       x_t = (1 - t) x_0 + t x_1, target x_1 - x_0, the flow-matching loss (paper Eq. 13)
  networks   the conditional vector field v_theta(x_t, t, s, c) with a learned null condition
  guidance   v_uncond + w (v_cond - v_uncond); THE sampler (`sample_rows`) and a whole vector of w in one call
  train      THE training loop (`run_training`: scanned, runs vmapped, chunked, resumable) and the CFG learner
  checks     input validation with clear errors
  progress   progress bars and stage lines (terminal, JupyterLab, `make figures`)
  tabular    exact finite MDPs (V, Q, A, J, occupancies); theory: pi_hat f(A)^w and the theorem checks

One subpackage per domain, each importing the core (and io), never another domain:
  io         atomic writes, provenance (clean commit, dataset hashes), orbax checkpoints, figures, notebook runs
  toys       the 2-D product toy, Gaussian mixtures, sample metrics, the exact bandit, per-example gradients
  agents     AWR (and the offline-RL critics and actors to come)
  ogbench    OGBench datasets generated locally, goal batches, lockstep evaluation, notebook 04's experiment
  pgd        reserved for Policy-Guided Diffusion
"""

__version__ = "0.1.0"
