"""Offline-RL learners other than the CFG flow itself, trained by the core loop (`cfgrl_core.train.run_training`).

  awr          advantage-weighted regression: a Gaussian actor (the paper's baseline) and an AWR-weighted flow actor
  iql          the IQL critic (twin Q, expectile V) that AWR and CFGRL extract their policies from
  cfgrl_actor  CFGRL's offline-RL actor: a flow conditioned on the optimality label 1[A >= 0]
  offline      one learner of a critic and every actor extracted from it, trained together
  td3_bc       TD3+BC, one of PGD's two offline agents
  iql_agent    IQL as a complete agent (critic + Gaussian AWR actor), PGD's other agent

Each is a learner of the core's contract (`cfgrl_core.train.Learner`): its losses, with the optimiser step, the Adam
and the Polyak average of the core.
"""
