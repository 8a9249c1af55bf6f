"""Everything that leaves the process, and files only: nothing here trains, samples or evaluates.

  atomic         atomic_write_bytes / atomic_write_json: temporary file + fsync + rename, never half a file
  provenance     REPO_ROOT, the clean commit of the tree, device, sha256 of data files, the standard record
  checkpoints    orbax checkpoints of any pytree per step (CheckpointDir), weights folders, JSON beside them
  figures        save_figure: figNN_slug.png + .csv (the plotted numbers) + .json (provenance); FAST mode
  summary        a notebook's Summary: prose whose every number is filled in from the data, saved as JSON
  run_notebooks  headless execution of the notebooks (`make figures`)

Used by every subpackage; imports nothing from them and no training code (only `checks` and `progress` of the core).
Training that checkpoints and resumes is `cfgrl_core.experiments.resumable`.
"""
