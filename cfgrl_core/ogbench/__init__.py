"""OGBench without downloads: datasets generated with OGBench's own oracles, goal-conditioned training, evaluation.

datasets     one table of recipes (navigate mazes, cube play), seeded workers, atomic npz files in OGBench's format
maze, cube   the episode samplers of the two domains (BFS oracle; CubePlanOracle); maze geometry and its drawing
episodes     the fixed-length rows of one generated episode
env_rng      IsolatedRNG: a private stream for code that draws from numpy's global RNG (teleports, oracles)
gc_dataset   hindsight-relabelled goal batches, sampled on device
evaluation   every (task x episode x w) rollout in lockstep, one batched policy call per step; EnvPool
validation   validation start/goal tasks for choosing w
experiment   notebook 04's experiment: presets, resumable runs, results and weights on disk, seeds over devices
methods      the three goal-conditioned methods one experiment runs: shared network, separate networks, hierarchy
hierarchy    HCFGRL: subgoal targets K steps ahead, the two-level guided policy
studies      notebook 08's studies (cube-single, shared vs separate, HCFGRL on giant) and their tiers
cost         a cost estimate measured on this machine before a run starts
"""
