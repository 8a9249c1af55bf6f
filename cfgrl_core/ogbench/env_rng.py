"""A private numpy RandomState for code that draws from numpy's *global* RNG.

OGBench's maze draws from `np.random` (the process-wide legacy RNG) in `reset` (start-position noise) and in `step`
(pointmaze-teleport: which exit a teleport sends the agent to); its cube plan oracle draws keyframes from it too.
Seeding the global RNG around `reset` is not enough: envs stepped by a thread pool would share one stream, and an
outcome would depend on thread scheduling and on which other rollouts run beside it. An `IsolatedRNG` gives each
env (or each generated episode) a stream of its own:

    rng = IsolatedRNG(seed)           # the same draws as np.random.seed(seed)
    with rng.active():                # the global RNG *is* this stream inside the block; restored after it
        env.reset(...); env.step(a)   # the state carries over to the next `with rng.active()` of this object

Blocks of different objects never interleave: `active()` holds one process-wide lock, because the global RNG is
one shared object. Code whose steps draw no global random numbers (cube envs use their own gymnasium np_random)
need not enter a block, so it keeps stepping in parallel.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

# The one lock that serialises swapping numpy's global RNG state (there is one global RNG per process).
_GLOBAL_RNG_LOCK = threading.RLock()


class IsolatedRNG:
    """A numpy legacy RNG stream that is swapped in as numpy's global RNG inside `active()`."""

    def __init__(self, seed: int):
        self._state = np.random.RandomState(int(seed)).get_state()

    @contextlib.contextmanager
    def active(self):
        """Within the block np.random.* draws from this stream; the caller's global state is restored after."""
        with _GLOBAL_RNG_LOCK:
            outer = np.random.get_state()
            np.random.set_state(self._state)
            try:
                yield self
            finally:
                self._state = np.random.get_state()
                np.random.set_state(outer)
