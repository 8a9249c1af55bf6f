"""Policy-Guided Diffusion (Jackson et al., 2024): reserved for the second paper (trajectory model, policy
guidance, the world-model baseline). It will import the core (flow, networks, train) and `io`, as the other rooms.
"""
