"""Everything that leaves the process: files written atomically, provenance, checkpoints, figures, notebook runs.

  atomic         atomic_write_bytes / atomic_write_json: temporary file + fsync + rename, never half a file
  provenance     REPO_ROOT, the clean commit of the tree, device, sha256 of data files, the standard record
  checkpoints    orbax checkpoints of a TrainState (+ loss curve) per step, the model config as JSON beside them
  figures        save_figure: figNN_slug.png + .csv (the plotted numbers) + .json (provenance); FAST mode
  run_notebooks  headless execution of the notebooks (`make figures`)

Used by every domain subpackage; imports nothing from them (nor do the core modules import this package).
"""
