"""OGBench without downloads: datasets generated with OGBench's own oracles, goal-conditioned training, evaluation.

datasets     one table of recipes (navigate mazes, cube play), seeded workers, atomic npz files in OGBench's format;
             `generate_and_load` (generate where missing, check every byte, load with OGBench's loader)
maze, cube   the episode samplers of the two domains (BFS oracle; CubePlanOracle); maze geometry and its drawing
episodes     the fixed-length rows of one generated episode
env_rng      IsolatedRNG: a private stream for code that draws from numpy's global RNG (teleports, oracles)
gc_dataset   hindsight-relabelled goal batches, sampled on device
singletask   OGBench's single-task relabelling as transitions, the offline-RL actors as evaluation policies,
             starts along a task's shortest path
evaluation   every (task x episode x w) rollout in lockstep, one batched policy call per step; EnvPool
validation   validation start/goal tasks for choosing w
methods      the three goal-conditioned methods: shared network, separate networks, hierarchy (learner, minibatch
             sampler, evaluation policy)
hierarchy    HCFGRL: subgoal targets K steps ahead, the two-level guided policy
scratch      every env is built inside `scratch.env_files()`: OGBench's maze XML files go to a folder removed
             after, MuJoCo's warnings to Python's warnings (no MUJOCO_LOG.TXT in the current folder)

The notebooks' experiments on these (04, 05, 08) live in `cfgrl_core.experiments`.
"""
