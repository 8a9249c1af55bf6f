"""Policy-Guided Diffusion (Jackson et al., 2024): trajectory generation guided by a target policy.

One module per concept:
    pointmass         the 2-D world of Figure 2 (our design), its policies and dataset generator
    windows           episode-aware trajectory windows, their flat layout and normaliser
    trajectory_model  the flow-matching window model (the core's network, loss, loop and sampler) and its files
    policy_guidance   lambda grad log q_target added while sampling: guided denoiser or the released code's shift
    tilt              the PGD distribution p_off q^lambda in closed form, and exact p_PGD windows
    world_model       the baseline: an MLP ensemble rolled out k steps under the target policy
    measures          target log-likelihood, dynamics and reward error, the Z(s) tilt
    reward_task       notebook 07's rewarded point-mass task: mixed-quality data, returns, normalised scores
    synthetic_replay  windows as transitions, the real/synthetic batch mix, the agent's guidance density
It imports the core (flow, networks, guidance, train) and `io`, as the other rooms; notebooks 06's and 07's
experiments on it live in `cfgrl_core.experiments` (`pgd_pointmass`, `pgd_agents`).
"""
