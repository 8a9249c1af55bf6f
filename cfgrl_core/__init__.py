"""cfgrl_core: flow matching, classifier-free guided sampling and the checks behind the notebooks.

Modules, one concept each:
  flow       x_t = (1 - t) x_0 + t x_1, target x_1 - x_0, the flow-matching loss (paper Eq. 13)
  networks   the conditional vector field v_theta(x_t, t, s, c) with a learned null condition
  guidance   v_uncond + w (v_cond - v_uncond), Euler sampling for a whole vector of w in one call
  train      condition dropout, scanned and seed-vmapped training
  toy        2-D product-policy toys: exact tilts pi_hat f(A)^w by grid and importance resampling
  gmm        Gaussian mixtures with exact flow velocities: CFG with no learning error
  metrics    sample distances (sliced Wasserstein, MMD)
  tabular    exact finite MDPs (V, Q, A, J, occupancies); theory: pi_hat f(A)^w and the theorem checks
  bandit     a contextual bandit with exact advantages; awr: AWR baseline; per_example: grad norms, ESS
  ogbench_data  OGBench pointmaze datasets generated locally in OGBench's own format (no download)
  gc_dataset goal-conditioned batches with hindsight relabelling (uniform future goal, as the authors' code)
  evaluation lockstep evaluation of all (task x episode x w) rollouts, one batched policy call per env step
  figures    where figures, their CSVs and provenance go (atomic writes)
  checks     input validation with clear errors
"""

__version__ = "0.1.0"
