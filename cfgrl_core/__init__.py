"""cfgrl_core: flow matching, classifier-free guided sampling and the checks behind the notebooks.

The core (this folder), which imports nothing from the subpackages:
  flow       x_t = (1 - t) x_0 + t x_1, target x_1 - x_0, the flow-matching loss (paper Eq. 13)
  networks   the conditional vector field v_theta(x_t, t, s, c) with a learned null condition
  guidance   v_uncond + w (v_cond - v_uncond); the guided sampler (`sample_rows`, a whole vector of w in one call)
             and the Euler integrator under it (`euler_integrate`, also PGD's and the exact mixture's)
  likelihood the exact density of what the Euler sampler draws (change of variables per step, 2x2 Jacobians by
             forward-mode autodiff; any action by inverting the map) and KL(pi_w || pi_hat) by Monte Carlo
  train      THE training loop (`run_training`: scanned, runs vmapped, chunked), the learner contract (`Learner`),
             the one optimiser step and Polyak average, the CFG learners
  checks     input validation with clear errors
  progress   progress bars and stage lines (terminal, JupyterLab, `make figures`)
  widgets    the notebooks' slider plots (an Output that redraws a figure when a slider moves)
  tabular    exact finite MDPs (V, Q, A, J, occupancies); theory: pi_hat f(A)^w and the theorem checks

Subpackages, each importing the core and only the rooms named here (tests/test_layout.py checks it, and that no
two modules import each other in a cycle):
  io           files only: atomic writes, provenance (clean commit, dataset hashes), orbax checkpoints, figures,
               summaries, notebook runs
  toys         the 2-D product toy, Gaussian mixtures, sample metrics, the exact bandit, per-example gradients (io)
  agents       the offline-RL learners: AWR, the IQL critic and its actors, CFGRL's actor, TD3+BC (io)
  ogbench      OGBench without downloads: datasets generated locally, goal batches, lockstep evaluation, validation
               tasks, the goal-conditioned methods and HCFGRL (io, agents)
  pgd          Policy-Guided Diffusion and its world: the point-mass world, windows, the trajectory model, policy
               guidance, the exact tilt, the world model, mixed replay, the reward task (io)
  experiments  the top: one module per notebook's experiment over one run protocol, its statistics and reports,
               and the scripts' command-line base (every room above)
"""

__version__ = "0.1.0"
