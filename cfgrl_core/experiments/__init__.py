"""The experiments wing: how each notebook's runs are made, kept and reported, over one run protocol.

The run protocol, written once for every experiment:
  protocol       a preset registry per experiment (`Experiment`), where results live (results/<experiment>/<preset>,
                 $CFGRL_RESULTS_DIR instead of results/), the resumable run folder, "load if finished, else run"
  resumable      training with checkpoints that resumes from the latest and keeps chosen steps
  stats          mean ± std, paired difference ± SE, the one verdict rule, selection on validation data
  cli            the command-line base of every scripts/run_*.py

One module per notebook's experiment (the runner, its results on disk, and the values its Summary and the
README report, so the notebook and scripts/render_readme.py compute each number once, by calling the same function):
  gcbc_cfgrl     notebook 04: GCBC vs CFGRL on OGBench mazes, one goal-conditioned flow per seed, the w-curve
  gc_cost        what a notebook-04 run will cost, measured on this machine before it starts
  offline_rl     notebook 05: an IQL critic with CFGRL and AWR actors on OGBench single-task data
  pgd_pointmass  notebook 06: PGD's trajectory model, world model and guided samples in the point-mass world
  pgd_agents     notebook 07: TD3+BC and IQL on real, unguided and regenerated PGD data
  gc_studies     notebook 08: cube-single, shared vs separate networks, HCFGRL (through gcbc_cfgrl's runner)
  kl_budget      notebook 09: KL(pi_w || pi_hat) of notebook 04's (and 08's ablation's) trained policies, exactly
                 (`cfgrl_core.likelihood`), and w chosen by a KL budget; trains nothing

This is the top of the house: it imports the core and the domain subpackages (io, toys, agents, ogbench, pgd), and
nothing imports it but the notebooks, the scripts and the tests.
"""
