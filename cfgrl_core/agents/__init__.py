"""Offline-RL learners other than the CFG flow itself, trained by the core loop (`cfgrl_core.train.run_training`).

  awr   advantage-weighted regression: a Gaussian actor (the paper's baseline) and an AWR-weighted flow actor

The IQL critic and the offline actors of CFGRL's Table 2, and TD3+BC for policy-guided diffusion, belong here.
"""
