import os

# Tests run on the CPU, deterministically, and never write into the committed figures/ folder.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
