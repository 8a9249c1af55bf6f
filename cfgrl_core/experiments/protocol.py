"""The run protocol every experiment of the notebooks follows, written once.

    EXPERIMENT = Experiment("gcbc_cfgrl", PRESETS, script="scripts/run_gcbc_cfgrl.py")
    preset = EXPERIMENT.preset("cpu")                   # by name, or a preset passed through
    folder = EXPERIMENT.results_dir(preset.name)        # results/gcbc_cfgrl/cpu
    EXPERIMENT.paper_dirs()                             # [results/gcbc_cfgrl/paper-trial, ...]: GPU-made runs
    run = RunFolder(folder / "pointmaze-large-navigate-v0", config)   # config.json, train/, evals/ (resumable)
    obtain(what, result_file, reuse=..., load=..., run=..., discard=...)   # load a finished run, or run it and load it

Where results live: results/<experiment>/<preset>/ in the repository. $CFGRL_RESULTS_DIR, when set, takes the
place of results/ for every experiment at once (each keeps its own <experiment>/<preset>/ subfolder there, so
nothing of one experiment can land in another's folder).

A run folder is resumable: its config.json says which run it holds (a folder holding another configuration is
refused, never overwritten), train/ holds training checkpoints (`cfgrl_core.experiments.resumable`), evals/ each
finished evaluation as JSON; a run killed at any point and started again continues from what is there. Once a
result is complete the runner writes it and its weights, then deletes train/ and evals/ (`RunFolder.clear_work`).

A finished result is loaded instead of being made again when the caller asks for it (`reuse`: what `make app`
and CFGRL_REUSE_RESULTS=1 do) or when this very clean commit made it (`make figures` stopped half-way and started
again does not redo what it finished); otherwise it is discarded and made again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cfgrl_core.checks import InputError
from cfgrl_core.io.atomic import atomic_write_json
from cfgrl_core.io.checkpoints import CheckpointDir, load_json, save_json
from cfgrl_core.io.provenance import REPO_ROOT, made_by_this_commit

RESULTS_ENV = "CFGRL_RESULTS_DIR"  # replaces the repository's results/ folder (tests, trials, other machines)
COMMITTED_RESULTS = REPO_ROOT / "results"  # the repository's results/ folder, where committed results live


def results_root() -> Path:
    """$CFGRL_RESULTS_DIR when set, else the repository's results/ folder."""
    return Path(os.environ.get(RESULTS_ENV) or COMMITTED_RESULTS)


@dataclass(frozen=True)
class Experiment:
    """One notebook's experiment: its name (its results folder), its presets and the script that runs it."""

    name: str  # results/<name>/<preset>/
    presets: Mapping  # preset name -> preset (a frozen dataclass; notebook 08: a tier of studies)
    script: str  # the command-line runner, named in errors about missing results

    def preset(self, name_or_preset):
        """A preset by name, or a preset object passed through unchanged."""
        if not isinstance(name_or_preset, str):
            return name_or_preset
        if name_or_preset not in self.presets:
            raise InputError(f"unknown preset {name_or_preset!r}; choose one of {sorted(self.presets)}")
        return self.presets[name_or_preset]

    def results_dir(self, preset_name: str) -> Path:
        """results/<experiment>/<preset> (or $CFGRL_RESULTS_DIR/<experiment>/<preset>)."""
        return results_root() / self.name / preset_name

    def committed_dir(self, preset_name: str) -> Path:
        """The repository's results/<experiment>/<preset>, whatever $CFGRL_RESULTS_DIR says (committed results)."""
        return COMMITTED_RESULTS / self.name / preset_name

    def paper_dirs(self, root=None) -> list[Path]:
        """The folders of paper-type runs that exist: results/<experiment>/paper*/ (the `paper` preset, or a
        shortened GPU trial such as `paper-trial`) holding at least one file, under `results_root()` (so a test can
        plant one through $CFGRL_RESULTS_DIR), or under `root` (a results/ folder) when given. Notebook tables add
        their rows, labelled with device, steps, seeds and episodes; the README's status lines say whether any
        exists."""
        root = (results_root() if root is None else Path(root)) / self.name
        return sorted(p for p in root.glob("paper*") if p.is_dir() and any(p.iterdir())) if root.is_dir() else []

    def load_result(self, path) -> dict:
        """A result JSON of this experiment; a missing file is an error that says how to make it, a corrupt one an
        InputError that names it."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no result at {path} (run {self.script} to make one)")
        return load_json(path)


def save_result(result: dict, path) -> Path:
    """Write a result as JSON, atomically (the old file or the new one, never half of one)."""
    return atomic_write_json(path, result)


class RunFolder:
    """A run's folder: config.json, train/ (checkpoints, `checkpoints(name)` for several trainings), evals/*.json
    (each finished evaluation). Everything is written atomically, so a run killed at any point resumes from what is
    there: training from its latest checkpoint, evaluation from the evaluations not yet written."""

    def __init__(self, path, config: dict):
        self.path = Path(path)
        self.config = json.loads(json.dumps(config))  # as it reads back from config.json
        config_file = self.path / "config.json"
        if config_file.is_file():
            found = load_json(config_file)
            if found != self.config:
                diff = sorted(k for k in self.config.keys() | found.keys() if found.get(k) != self.config.get(k))
                raise InputError(
                    f"{self.path} holds a run with another configuration (differs in {diff}); delete that folder "
                    "to start this one"
                )
        else:
            save_json(config_file, self.config)

    @property
    def train(self) -> CheckpointDir:
        """The checkpoints of the run's (one) training."""
        return self.checkpoints()

    def checkpoints(self, name: str = "") -> CheckpointDir:
        """train/<name>/: the checkpoints of one of the run's trainings (name "" for a run with one)."""
        return CheckpointDir(self.path / "train" / name if name else self.path / "train")

    def eval_file(self, name: str) -> Path:
        return self.path / "evals" / f"{name}.json"

    def cached(self, name: str, compute: Callable):
        """The JSON saved under `name`, or compute() saved there first."""
        path = self.eval_file(name)
        if path.is_file():
            return load_json(path)
        value = compute()
        save_json(path, value)
        return value

    def clear_work(self) -> None:
        """Delete the training checkpoints and cached evaluations (once the result and weights are written)."""
        clear_work(self.path)


def clear_work(path) -> None:
    """Delete a run folder's train/ and evals/."""
    shutil.rmtree(Path(path) / "train", ignore_errors=True)
    shutil.rmtree(Path(path) / "evals", ignore_errors=True)


def cached_or_run(folder: RunFolder | None, name: str, compute: Callable):
    """folder.cached(name, compute), or compute() for a run kept in memory (folder None)."""
    return compute() if folder is None else folder.cached(name, compute)


def finished_commit(result_file, *also) -> str | None:
    """The commit recorded in a finished result (`result_file` and every path in `also` exist), else None."""
    if not Path(result_file).is_file() or not all(Path(p).exists() for p in also):
        return None
    return load_json(result_file).get("commit", "?")


def obtain(what: str, result_file, *, also=(), reuse: bool, load: Callable, run: Callable, discard: Callable,
           log=print):  # fmt: skip
    """THE entry point of every notebook's runs: `load()` a finished result (`result_file` and `also` exist) when
    `reuse` or when this clean commit made it; otherwise, where a result file exists (finished, or with its `also`
    missing), `discard()` what that run left, then `run()` (an unfinished run resumes from its folder), which must
    write `result_file` and `also`.

    Either way the caller gets what `load()` gives: a run just made is read back from its files, so a notebook sees
    the same objects whether it trained or reused (a fresh offline_rl result held the preset's tuples where its
    JSON holds lists, and notebook 05's full run and its reuse once disagreed on that), and what it was shown is
    what the files keep."""
    made_with = finished_commit(result_file, *also)
    if made_with is not None:
        same = made_by_this_commit(made_with)
        if reuse or same:
            by = "this commit" if same else f"commit {made_with}"
            log(f"{what}: loaded {result_file} (made by {by}; no training)")
            return load()
    if Path(result_file).is_file():
        discard()
    run()
    missing = [str(p) for p in (result_file, *also) if not Path(p).exists()]
    if missing:
        raise RuntimeError(f"{what}: the run finished without writing {missing}; nothing to load")
    return load()


def prepare_result_file(result_file, run_folder, *, preset_name: str | None = None, overwrite: bool = False,
                        fresh: bool = False, log=print) -> bool:  # fmt: skip
    """What a command-line runner does before a run: False (with a note) when the result exists and not
    `overwrite` (keep it, skip the run); otherwise True, after deleting `run_folder` when the run starts from
    scratch (`overwrite` of a finished run, or `fresh`: discard an unfinished run's checkpoints). A result made with
    another preset than `preset_name` is never taken for this one nor overwritten: an InputError says so, as it
    does for a result file that is not valid JSON."""
    result_file = Path(result_file)
    if preset_name is not None and result_file.is_file():
        made = load_json(result_file).get("preset", {}).get("name")
        if made != preset_name:
            raise InputError(f"{result_file} holds a result of preset {made!r}, not {preset_name!r}: choose another "
                             "--out (or delete that result)")  # fmt: skip
    if result_file.exists() and not overwrite:
        log(f"{result_file} exists: skipped (--overwrite to run it again)")
        return False
    if fresh or result_file.exists():
        shutil.rmtree(run_folder, ignore_errors=True)
    return True
