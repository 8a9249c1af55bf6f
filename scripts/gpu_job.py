"""One command for a lent GPU machine (short commands, no package registry, results back through $OUT): as much of
one env's preset of notebook 04's experiment (`scripts/run_gcbc_cfgrl.py`), or of one task's preset of notebook 05's
(`scripts/run_offline_rl.py`, --experiment offline_rl), as fits a time budget.

    python3 scripts/gpu_job.py                                        # pointmaze-large, paper preset, 9 minutes
    python3 scripts/gpu_job.py --env pointmaze-medium-navigate-v0 --preset paper --minutes 9 --wheels .whl
    python3 scripts/gpu_job.py --experiment offline_rl --task pointmaze-large-navigate-singletask-v0 --preset paper
    .venv/bin/python scripts/gpu_job.py --preset fast --env pointmaze-medium-navigate-v0 --minutes 2 --out /tmp/o

Stages, each announced by one line that starts with a UTC timestamp (and the seconds since the job started):
  install   the carried wheels (--wheels; default .whl/, build/wheels/ or wheels/, the first that exists) are
            installed with `pip install --no-index --no-deps --target <work>/site` where ogbench, mujoco or
            gymnasium does not import already (on a machine that has them, e.g. this project's venv, it is skipped)
  device    device, JAX and package versions, the commit ($CFGRL_COMMIT where the copy has no .git)
  datasets  the env's dataset generated on this machine with every core (`ogbench.datasets.generate_dataset`,
            workers = cpu count) into <work>/data (or --data-dir), its sha256 recorded
  probe     training ms per step and evaluation seconds per lockstep step (untrained policies rolled out for a
            few steps at two of the real evaluation's sizes: env and policy time). gcbc_cfgrl: the runner's own
            estimate (`gc_cost.estimate`) on synthetic rows; offline_rl: the joint learner (critic and every actor,
            all seeds) timed on the task's own data
  plan      what fits the time left: the preset's evaluation if it fits, else one evaluation at the end with fewer
            episodes (and validation goals or episodes); then the steps that fill the rest (at most the preset's);
            the numbers and the reason are printed and recorded
  run       training (a line per training chunk) and evaluation (a line per quarter of each evaluation); the
            experiment's `run_and_save` in <work>/run, the same code and numbers as its scripts/run_*.py

What comes back under $OUT (or --out), each file written atomically as soon as it exists, so a command stopped at
its limit still returns what was done: run.log (this output, as it goes), provenance.json and PROVENANCE.md
(device, commit and dirty flag, source hash, seeds, the plan and the probe, dataset sha256s, stages reached, the
command; rewritten at every stage), <target>.<preset>.json (the runner's result, exactly as it saves it, written
first; offline_rl then also <target>.<preset>.sample.npz, the final critics' Q, V and A on a fixed sample of
transitions, as its runner keeps beside each result) and, while evaluations finish before the result,
<target>.<preset>.partial.json. Weights, checkpoints and datasets stay in the work folder (--work, default a fresh
temporary folder; offline_rl writes no weights or training checkpoints). A preset whose sizes were changed to fit is
named <preset>-trial; --eval-plan and --num-steps pin the plan (two runs that must pair, such as the arms of the
bfloat16 check, pin both). Exit status: the run's (0 done; 2 a refused input; 143 stopped by SIGTERM).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEEDED = ("ogbench", "mujoco", "gymnasium")  # what the GPU machine's image lacks (shared/reference/gpu_runs.md)
WHEEL_DIRS = (".whl", "build/wheels", "wheels")
DEFAULT_ENV = "pointmaze-large-navigate-v0"  # gcbc_cfgrl
DEFAULT_TASK = "pointmaze-large-navigate-singletask-v0"  # offline_rl
EXPERIMENTS = ("gcbc_cfgrl", "offline_rl")
STOPPED = 128 + signal.SIGTERM
# Evaluation plans tried after the preset's own, richest first: (episodes per task, validation goals), one
# evaluation at the final step (clipped to the preset's own numbers).
EVAL_PLANS = ((15, 20), (10, 20), (10, 10), (5, 10), (3, 10), (3, 5), (2, 5), (1, 5), (1, 3))
# offline_rl's: (test episodes, validation episodes) per seed and value, one evaluation at the final step.
OFFLINE_EVAL_PLANS = ((20, 20), (10, 10), (5, 10), (5, 5), (3, 5), (2, 3), (1, 2))


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """Timestamped lines: '<UTC time> +<seconds since the job started>s <message>', flushed at once."""

    def __init__(self, t0: float, sink=None):
        self.t0 = t0
        self.sink = sink  # a callable taking each finished line (the parent's tee); else stdout

    def elapsed(self) -> float:
        return time.time() - self.t0

    def __call__(self, message: str) -> None:
        for part in str(message).splitlines() or [""]:
            line = f"{now_utc()} +{self.elapsed():5.0f}s {part}"
            if self.sink is None:
                print(line, flush=True)
            else:
                self.sink(line + "\n")


def atomic_write_text(path: Path, text: str) -> None:
    """The old file or the new one, never half of one (a command stopped at its limit leaves valid files)."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def source_sha256() -> str:
    """sha256 over the code that runs (cfgrl_core/**/*.py and scripts/*.py, paths and bytes): what identifies the
    tree where the copy on the machine has no .git."""
    digest = hashlib.sha256()
    files = sorted([*REPO.glob("cfgrl_core/**/*.py"), *REPO.glob("scripts/*.py")])
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="gcbc_cfgrl", choices=EXPERIMENTS,
                        help="gcbc_cfgrl (notebook 04, default) or offline_rl (notebook 05)")  # fmt: skip
    parser.add_argument("--env", default=None, help=f"gcbc_cfgrl: dataset name (default {DEFAULT_ENV})")
    parser.add_argument("--task", default=None, help=f"offline_rl: single-task name (default {DEFAULT_TASK})")
    parser.add_argument("--preset", default="paper", help="the experiment's preset (default paper)")
    parser.add_argument("--minutes", type=float, default=9.0, help="time budget of the whole job (default 9)")
    parser.add_argument("--margin", type=float, default=45.0,
                        help="seconds kept free for compiling, saving and slack (default 45)")  # fmt: skip
    parser.add_argument("--num-steps", type=int, default=None, help="training steps (default: fitted to the time)")
    parser.add_argument("--eval-plan", type=int, default=None,
                        help="the evaluation plan by number (0 = the preset's; the plan line lists them; default: "
                             "fitted to the time)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="shared", help="shared (default), separate or hierarchical")
    parser.add_argument("--compute-dtype", choices=("float32", "bfloat16"), default=None,
                        help="gcbc_cfgrl: the matmuls' dtype; the preset is then named <preset>-<dtype>, as "
                             "scripts/run_gcbc_cfgrl.py names a dtype check's arm")  # fmt: skip
    parser.add_argument("--wheels", default=None, help=f"folder of wheels (default: the first of {WHEEL_DIRS})")
    parser.add_argument("--out", default=None, help="where results go (default $OUT, else build/gpu_job/<time>)")
    parser.add_argument("--work", default=None, help="work folder: site, data, run (default: a new temporary one)")
    parser.add_argument("--data-dir", default=None, help="dataset folder (default <work>/data)")
    parser.add_argument("--workers", type=int, default=None, help="dataset processes (default: every core)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.margin < 0 or (args.num_steps is not None and args.num_steps < 1):
        parser.error("--minutes must be > 0, --margin >= 0 and --num-steps >= 1")
    if args.eval_plan is not None and args.eval_plan < 0:
        parser.error("--eval-plan must be >= 0")
    offline = args.experiment == "offline_rl"
    if offline and (args.env is not None or args.method != "shared" or args.compute_dtype is not None):
        parser.error("--experiment offline_rl takes --task (a single-task name), not --env, --method or "
                     "--compute-dtype")  # fmt: skip
    if not offline and args.task is not None:
        parser.error("--task is offline_rl's; notebook 04's experiment takes --env")
    args.target = (args.task or DEFAULT_TASK) if offline else (args.env or DEFAULT_ENV)
    if offline and not (args.target.startswith("pointmaze-") and "-singletask" in args.target):
        parser.error(f"--task {args.target}: the offline job takes the point mazes' single tasks (such as "
                     f"{DEFAULT_TASK}); cube-single's evaluation builds one env per task, episode, seed and "
                     "actor, about 1 s each, more than a 10-minute command holds")  # fmt: skip
    return args


# ---- the parent: install, then run the job in a child process whose output it tees into $OUT/run.log ----------


def wheel_folder(args) -> Path | None:
    if args.wheels:
        return Path(args.wheels)
    return next((REPO / d for d in WHEEL_DIRS if (REPO / d).is_dir()), None)


def install(args, work: Path, log) -> Path | None:
    """The site folder the wheels went into, or None when every needed package imports already."""
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if not missing:
        log(f"stage install: {', '.join(NEEDED)} import already: nothing installed")
        return None
    folder = wheel_folder(args)
    wheels = sorted(folder.glob("*.whl")) if folder is not None and folder.is_dir() else []
    if not wheels:
        raise SystemExit(f"gpu_job: error: {', '.join(missing)} missing and no wheels in {folder or WHEEL_DIRS}: carry "
                         "them (shared/reference/gpu_runs.md lists the eight) and give --wheels")  # fmt: skip
    site = work / "site"
    log(f"stage install: {', '.join(missing)} missing: {len(wheels)} wheels from {folder} into {site}")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
           "--upgrade", "--target", str(site), *map(str, wheels)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        log(f"  pip: {line}")
    if done.returncode != 0:
        raise SystemExit(f"gpu_job: error: pip install failed (status {done.returncode})")
    log(f"stage install: done ({', '.join(w.name for w in wheels)})")
    return site


def parent(args, argv) -> int:
    t0 = time.time()
    out = Path(args.out or os.environ.get("OUT") or REPO / "build" / "gpu_job" / now_utc().replace(":", ""))
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # left by a job killed in the middle of a write
        stale.unlink()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="cfgrl-gpu-job-"))
    work.mkdir(parents=True, exist_ok=True)
    log_file = open(out / "run.log", "a", buffering=1)  # noqa: SIM115  (open for the job's whole life)

    def tee(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        log_file.write(text)
        log_file.flush()

    log = Clock(t0, tee)
    log(f"stage start: {shlex.join([sys.executable, *sys.argv])}")
    python = sys.version.split()[0]
    log(f"  out {out}, work {work}, budget {args.minutes:g} min, {os.cpu_count()} cores, python {python}")
    try:
        site = install(args, work, log)
    except SystemExit as e:
        log(str(e))
        log_file.close()
        return 2
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(p) for p in (site, REPO) if p is not None] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    cmd = [sys.executable, "-u", str(Path(__file__).resolve()), *argv, "--child", "--out", str(out), "--work",
           str(work), "--t0", repr(t0)]  # fmt: skip
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=REPO)

    def forward(signum, frame):
        log(f"stage signal: {signal.Signals(signum).name} received: passed to the job, which writes what it has")
        try:
            child.send_signal(signum)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for raw in iter(child.stdout.readline, b""):
        tee(raw.decode(errors="replace"))
    rc = child.wait()
    log(f"stage end: exit status {rc}; files in {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    log_file.close()
    return rc


# ---- the child: the job itself ------------------------------------------------------------------------------


class Stopped(Exception):
    """SIGTERM or SIGINT arrived (the command's time limit): what is done is written, then the job ends."""


class LineBar:
    """A tqdm stand-in that prints timestamped lines instead of a bar: every update (a training chunk) when
    `each_update`, else at every quarter and at least every `interval` seconds; always one line when it closes."""

    def __init__(self, log, label, total=None, desc="", unit="it", disable=False, initial=0, each_update=False,
                 interval=30.0, on_close=None, **_):  # fmt: skip
        self.log, self.total, self.n, self.unit, self.disable = log, total, initial, unit, disable
        self.desc = f"{label}: {desc}" if label else desc
        self.each_update, self.interval, self.on_close = each_update, interval, on_close
        self.start = self.last = time.perf_counter()
        self.first, self.next_mark, self.postfix = initial, 0.25, ""

    def _line(self, final=False):
        seconds = time.perf_counter() - self.start
        rate = (self.n - self.first) / seconds if seconds > 0 else 0.0
        of = f"/{self.total:,}" if self.total else ""
        pct = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
        post = f", {self.postfix}" if self.postfix else ""
        word = "done" if final else "at"
        self.log(f"{self.desc}: {word} {self.n:,}{of} {self.unit}s{pct} in {seconds:.1f} s, {rate:,.0f} {self.unit}/s"
                 f"{post}")  # fmt: skip
        self.last = time.perf_counter()

    def update(self, n=1):
        self.n += n
        if self.disable:
            return
        fraction = self.n / self.total if self.total else 0.0
        if self.each_update or time.perf_counter() - self.last >= self.interval or fraction >= self.next_mark:
            while fraction >= self.next_mark:
                self.next_mark += 0.25
            if not (self.total and self.n >= self.total):  # the last one is close()'s line
                self._line()

    def set_postfix(self, refresh=True, **kwargs):
        self.postfix = ", ".join(f"{k} {v}" for k, v in kwargs.items())

    def close(self):
        if not self.disable:
            self._line(final=True)
            if self.on_close is not None:
                self.on_close()
        self.disable = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Record:
    """provenance.json and PROVENANCE.md under $OUT, rewritten atomically at every change."""

    def __init__(self, out: Path, **fields):
        self.out, self.data = out, dict(fields)

    def update(self, **fields):
        self.data.update(fields, updated_utc=now_utc())
        atomic_write_text(self.out / "provenance.json", json.dumps(self.data, indent=1, default=str) + "\n")
        atomic_write_text(self.out / "PROVENANCE.md", self.markdown())

    def stage(self, name: str, clock: Clock, **fields):
        stages = dict(self.data.get("stages", {}))
        stages[name] = round(clock.elapsed(), 1)
        self.update(stage=name, stages=stages, **fields)

    def markdown(self) -> str:
        d = self.data
        plan = d.get("plan", {})
        lines = [
            f"# GPU job: {d.get('experiment', 'gcbc_cfgrl')} on {d.get('env_name')} "
            f"({d.get('run_preset_name', d.get('preset'))})",
            "",
            f"- status: **{d.get('status')}** at stage `{d.get('stage')}` (updated {d.get('updated_utc')})",
            f"- command: `{d.get('command')}`",
            f"- device: {d.get('device', '?')}; jax {d.get('versions', {}).get('jax', '?')}; "
            f"{d.get('cpu_count')} cores",
            f"- commit: {d.get('commit', '?')} (dirty: {d.get('dirty')}); source sha256 {d.get('source_sha256')}",
            f"- preset: {d.get('preset')} -> {d.get('run_preset_name', '?')}; seed {d.get('seed')}, "
            f"{plan.get('num_seeds', '?')} seeds; steps {plan.get('num_steps', '?')}",
            f"- plan: {plan.get('reason', 'not yet made')}",
        ]
        for name, info in d.get("datasets", {}).items():
            lines.append(
                f"- dataset {name}: sha256 {info['sha256']}, arrays sha256 {info.get('arrays_sha256')} "
                f"({info['bytes']:,} bytes)"
            )
        if d.get("result_file"):
            lines.append(f"- result: `{d['result_file']}`; timings {d.get('timings')}")
        if d.get("summary"):
            lines.append(f"- summary: {d['summary']}")
        lines.append(f"- stages reached (seconds since start): {d.get('stages', {})}")
        lines.append("")
        lines.append("provenance.json holds every field, the probe and the plan included.")
        return "\n".join(lines) + "\n"


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("jax", "jaxlib", "flax", "optax", "numpy", "ogbench", "mujoco", "gymnasium"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def fit_per_step(per_step: dict, log, what: str, limit: int) -> dict:
    """{size: seconds per lockstep step} at two sizes -> step_s + row_s * size: the line through them, or, where
    noise makes it fall with the size, the flat line through the slower one."""
    (r1, s1), (r2, s2) = list(per_step.items())[0], list(per_step.items())[-1]
    b = max(0.0, (s2 - s1) / (r2 - r1) if r2 > r1 else s1 / r1)  # timing noise can tilt the line at toy sizes
    a = max(0.0, s1 - b * r1, s2 - b * r2)  # the line stays above both measurements: an upper bound
    sizes = ", ".join(f"{r} {what} {1000 * s:.1f} ms" for r, s in per_step.items())
    log(f"  evaluation probe: {sizes} per lockstep step -> {1000 * a:.2f} ms + {1e6 * b:.1f} us per "
        f"{what.rstrip('s')}; episode limit {limit} steps")  # fmt: skip
    return dict(step_s=a, row_s=b, limit=limit, measured={str(r): s for r, s in per_step.items()})


def eval_probe(env_name, preset, method, log, probe_steps=20) -> dict:
    """Seconds per lockstep evaluation step (env + policy) at two row counts, from an untrained policy's rollouts
    (which never end early: an upper bound), for `eval_seconds`."""
    import jax

    from cfgrl_core import train
    from cfgrl_core.experiments import gc_cost
    from cfgrl_core.ogbench import evaluation, methods
    from cfgrl_core.ogbench.validation import oraclerep_name

    dims = gc_cost.env_dims(env_name)
    raw = gc_cost.synthetic_dataset(dims)
    learner = methods.make_learner(method, raw, preset)
    states = train.create_runs(learner, jax.random.split(jax.random.PRNGKey(0), 1))
    params = jax.tree_util.tree_map(lambda x: x[0], states.params)
    policy = methods.policy(method, params, learner, preset.flow_steps)
    limit = preset.max_steps or dims["max_steps"]
    steps = min(probe_steps, limit)
    sizes = sorted({1, max(1, preset.episodes_per_task)})
    per_step = {}
    with evaluation.EnvPool() as pool:
        for episodes in sizes:
            kw = dict(episodes_per_task=episodes, pool=pool, seed=0)
            evaluation.evaluate_policy(oraclerep_name(env_name), policy, preset.ws, max_steps=2, **kw)  # compile
            t = time.perf_counter()
            evaluation.evaluate_policy(oraclerep_name(env_name), policy, preset.ws, max_steps=steps, **kw)
            rows = 5 * episodes * len(preset.ws)
            per_step[rows] = (time.perf_counter() - t) / steps
    return fit_per_step(per_step, log, "rows", limit)


def eval_seconds(preset, probe: dict) -> float:
    """Upper bound on evaluation + validation of a preset: every rollout running to the step limit."""
    from cfgrl_core.experiments.resumable import checkpoint_steps

    steps = checkpoint_steps(preset)
    w = len(preset.ws)
    calls = [5 * (preset.episodes_per_task if s == steps[-1] else preset.checkpoint_episodes_per_task) * w
             for s in steps] + [preset.num_val_tasks * w]  # fmt: skip
    per_seed = sum(probe["limit"] * (probe["step_s"] + probe["row_s"] * rows) for rows in calls)
    return per_seed * preset.num_seeds


class Job:
    """What the job needs of one experiment; the plan's pieces are class-level (`make_plan` uses them without a
    job). plan_fields: the preset fields a plan may change (steps, checkpoints, test episodes, validation size);
    plan_table: the (test, validation) sizes of the cut plans, richest first."""

    plan_fields: tuple
    plan_table: tuple

    @classmethod
    def eval_plans(cls, base) -> list:
        """The preset's own evaluation, then one evaluation at the final step at each size of plan_table (clipped
        to the preset's own sizes)."""
        test, val = cls.plan_fields[2:]
        return [base] + [
            dataclasses.replace(base, checkpoint_fractions=(1.0,),
                                **{test: min(e, getattr(base, test)), val: min(v, getattr(base, val))})
            for e, v in cls.plan_table
        ]  # fmt: skip


class GCJob(Job):
    """Notebook 04's experiment (`scripts/run_gcbc_cfgrl.py`) on one goal-conditioned env."""

    name = "gcbc_cfgrl"
    plan_fields = ("num_steps", "checkpoint_fractions", "episodes_per_task", "num_val_tasks")
    plan_table = EVAL_PLANS

    def __init__(self, args):
        from cfgrl_core.experiments import gcbc_cfgrl as gx
        from cfgrl_core.ogbench import datasets as ogbench_data

        self.gx, self.args, self.target = gx, args, args.target
        self.base = gx.get_preset(args.preset)
        if args.compute_dtype is not None:
            self.base = dataclasses.replace(self.base, compute_dtype=args.compute_dtype)
        ogbench_data.check_env_name(self.target)
        self.env_name = self.target  # the dataset generated

    eval_seconds = staticmethod(eval_seconds)

    def probe(self, devices, data_dir, log) -> tuple[float, dict]:
        from cfgrl_core.experiments import gc_cost

        estimate = gc_cost.estimate(self.target, self.base, self.args.method, devices)
        log(f"  cost estimate: {estimate.line()}")
        probe = eval_probe(self.target, self.base, self.args.method, log)
        return estimate.ms_per_step, dict(train_ms_per_step=estimate.ms_per_step, gc_cost=estimate.line(),
                                          evaluation=probe)  # fmt: skip

    def named(self, preset):
        """With --compute-dtype the run is one arm of the bfloat16 check: named <preset>[-trial]-<dtype>, as
        `scripts/run_gcbc_cfgrl.py --compute-dtype` names its arms and `dtype_check.load_pair` finds them."""
        dtype = self.args.compute_dtype
        return preset if dtype is None else dataclasses.replace(preset, name=f"{preset.name}-{dtype}")

    def result_file(self, preset, root: Path) -> Path:
        return self.gx.result_path(preset.name, self.target, root, self.args.method)

    def run_dir(self, result_file: Path) -> Path:
        return self.gx.run_dir_for(result_file)

    def run(self, preset, result_file, data_dir, log, devices) -> tuple[dict, dict]:
        """(result, {}): the runner's result; its weights stay in the work folder."""
        run = self.gx.run_and_save(self.target, preset, result_file, seed=self.args.seed, data_dir=data_dir,
                                   progress=True, log=log, method=self.args.method, devices=devices)  # fmt: skip
        return run.result, {}

    @staticmethod
    def eval_names(preset) -> list[str]:
        """The evaluations in the order the runner makes them (each writes one file of the run's evals/)."""
        from cfgrl_core.experiments.resumable import checkpoint_steps

        return [f"eval step {s:,}" for s in checkpoint_steps(preset)] + ["validation"]

    def summary(self, result: dict) -> dict:
        row = self.gx.summary_row(result)
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items() if "mean" in k or "std" in k}


def offline_probe(task, preset, data_dir, seed, log, probe_steps=20) -> tuple[float, dict]:
    """offline_rl's probe on the task's own data: ms per joint step (critic and every actor of the preset, all
    seeds; the mean over 2 x probe_steps steps after a compiling call), and seconds per lockstep
    evaluation step of every actor of every seed (`offline_rl.evaluate_actors`, all values) at 1 and at the preset's
    test episodes, from nearly untrained actors (which never succeed, so every rollout runs its steps): the
    difference between rollouts of 1.5 x and 0.5 x probe_steps steps, per step. Not counted: compiles (the run's
    longer scan, the evaluation's smaller buckets as rollouts end), which the job's --margin has to hold."""
    import jax
    import jax.numpy as jnp

    from cfgrl_core.experiments import gc_cost
    from cfgrl_core.experiments import offline_rl as orl
    from cfgrl_core.ogbench import evaluation

    data, _, _ = orl.load_task_data(task, preset, data_dir=data_dir, seed=seed, progress=False)
    cfgs = orl.configs(preset, data["observations"].shape[1], data["actions"].shape[1])
    learner = orl.make_learner(preset, cfgs, extras=task in preset.extra_tasks)
    keys = jax.random.split(jax.random.PRNGKey(0), preset.num_seeds)
    device_data = {k: jnp.asarray(v) for k, v in data.items()}
    s_per_step, states = gc_cost.time_training(learner, device_data, keys, batch_size=preset.batch_size,
                                               probe_steps=probe_steps)  # fmt: skip
    ms_per_step = 1000 * s_per_step
    actors = ", ".join(a.name for a in learner.actors)
    log(f"  training probe: {ms_per_step:.2f} ms per joint step ({preset.num_seeds} seeds, critic + {actors}; "
        f"batch {preset.batch_size}) -> {ms_per_step * preset.num_steps / 60e3:.1f} min for the preset's "
        f"{preset.num_steps:,} steps")  # fmt: skip
    env_name, _ = orl.parse_task(task)
    limit = preset.max_steps or gc_cost.env_dims(env_name)["max_steps"]
    short, long = min(probe_steps // 2, limit), min(probe_steps * 3 // 2, limit)
    per_step = {}
    with evaluation.EnvPool() as pool:

        def seconds(episodes, steps):
            t = time.perf_counter()
            orl.evaluate_actors(task, dataclasses.replace(preset, max_steps=steps), states, cfgs, episodes=episodes,
                                seed=0, pool=pool, progress=False)  # fmt: skip
            return time.perf_counter() - t

        for episodes in sorted({1, max(1, preset.episodes)}):
            seconds(episodes, 2)  # compiles, builds the envs
            # the difference of two lengths: an evaluation's one-off costs (resets, the jobs' set-up) cancel
            per_step[episodes] = max(0.0, seconds(episodes, long) - seconds(episodes, short)) / max(1, long - short)
    probe = fit_per_step(per_step, log, "episodes", limit)
    return ms_per_step, dict(train_ms_per_step=ms_per_step, evaluation=probe)


def offline_eval_seconds(preset, probe: dict) -> float:
    """Upper bound on an offline_rl preset's evaluations (every actor, seed and value in one lockstep each): the
    checkpoints' and the validation's, every rollout running to the step limit (path starts not counted)."""
    from cfgrl_core.experiments.resumable import checkpoint_steps

    steps = checkpoint_steps(preset)
    episodes = [preset.episodes if s == steps[-1] else preset.checkpoint_episodes for s in steps]
    return sum(probe["limit"] * (probe["step_s"] + probe["row_s"] * e) for e in [*episodes, preset.val_episodes])


class OfflineJob(Job):
    """Notebook 05's experiment (`scripts/run_offline_rl.py`) on one single-task dataset."""

    name = "offline_rl"
    plan_fields = ("num_steps", "checkpoint_fractions", "episodes", "val_episodes")
    plan_table = OFFLINE_EVAL_PLANS

    def __init__(self, args):
        from cfgrl_core.experiments import offline_rl as orl

        self.orl, self.args, self.target = orl, args, args.target
        self.base = orl.get_preset(args.preset)
        self.env_name, _ = orl.parse_task(self.target)  # refuses a name that is not a single task

    eval_seconds = staticmethod(offline_eval_seconds)

    def probe(self, devices, data_dir, log) -> tuple[float, dict]:
        return offline_probe(self.target, self.base, data_dir, self.args.seed, log)

    def result_file(self, preset, root: Path) -> Path:
        return self.orl.result_path(preset.name, self.target, root)

    def run_dir(self, result_file: Path) -> Path:
        return result_file.with_suffix("")

    def named(self, preset):
        return preset

    def run(self, preset, result_file, data_dir, log, devices) -> tuple[dict, dict]:
        """(result, {"sample.npz": a callable writing the critics' sample to a path}). `run_task` in the run folder
        without training checkpoints (the machine is discarded: no use, and the joint state at the paper's sizes is
        hundreds of MB a write); the evaluations are cached there as they finish. No weights are saved."""
        run_dir = self.run_dir(result_file)
        result, states, cfgs, adv, data = self.orl.run_task(
            self.target, preset, seed=self.args.seed, data_dir=data_dir, run_dir=run_dir, progress=True, log=log,
            checkpoints=False,
        )  # fmt: skip
        sample = lambda path: self.orl.save_sample(path, data, states, cfgs, adv, preset.sample_size, self.args.seed)
        return result, {"sample.npz": sample}

    def eval_names(self, preset) -> list[str]:
        """As `GCJob.eval_names`; a task with path starts adds their two evaluations after the validation."""
        paths = ["path starts", "path starts validation"] if self.target in preset.path_start_tasks else []
        return GCJob.eval_names(preset) + paths

    def summary(self, result: dict) -> dict:
        row = self.orl.table_row(result)
        return {k: round(v, 1) for k, v in row.items()
                if isinstance(v, float) and not k.startswith("paper") and ("mean" in k or "std" in k)}  # fmt: skip


JOBS = {"gcbc_cfgrl": GCJob, "offline_rl": OfflineJob}


def distinct_plans(base, job=GCJob) -> list:
    """`job.eval_plans(base)` without repeats (cut plans that clip to the same evaluation), richest first: what
    --eval-plan numbers (0 = the preset's own evaluation)."""
    seen, plans = set(), []
    for plan in job.eval_plans(base):
        key = tuple(getattr(plan, k) for k in job.plan_fields[1:])
        if key not in seen:
            seen.add(key)
            plans.append(plan)
    return plans


def make_plan(base, budget_s: float, ms_per_step: float, probe: dict, num_steps: int | None, job=GCJob,
              eval_plan: int | None = None) -> tuple:  # fmt: skip
    """(preset to run, reason, estimated eval seconds). Without num_steps: the richest evaluation of
    `distinct_plans` for which either the preset's steps fit as well, or the evaluation takes at most half the
    budget; then the steps that fill the rest in whole chunks. With num_steps: the richest evaluation that fits
    beside those steps. eval_plan: that evaluation, whatever fits (two runs that must pair, such as the arms of the
    bfloat16 check, give both the same num_steps and eval_plan)."""
    s_per_step = ms_per_step / 1000
    unit = base.steps_per_call
    plans = distinct_plans(base, job)
    if eval_plan is not None and not 0 <= eval_plan < len(plans):
        raise ValueError(f"--eval-plan {eval_plan}: this preset has evaluation plans 0 .. {len(plans) - 1}")
    chosen = None
    for k in [eval_plan] if eval_plan is not None else range(len(plans)):
        eval_s = job.eval_seconds(plans[k], probe)
        if num_steps is not None:
            steps, fits = num_steps, eval_s + num_steps * s_per_step <= budget_s
        else:
            fit = int((budget_s - eval_s) / s_per_step) if budget_s > eval_s else 0
            steps = min(base.num_steps, fit // unit * unit if fit >= unit else fit)
            fits = (steps >= base.num_steps and budget_s >= eval_s) or (eval_s <= budget_s / 2 and steps >= unit)
        chosen = (k, steps, eval_s)
        if fits:
            break
    k, steps, eval_s = chosen
    steps = max(1, steps)
    why = ("given by --num-steps" if num_steps is not None else
           f"the preset's {base.num_steps:,}: they fit" if steps >= base.num_steps else
           f"{budget_s:.0f} s left - {eval_s:.0f} s evaluation = {budget_s - eval_s:.0f} s of training at "
           f"{ms_per_step:.2f} ms per step, in whole chunks of {unit:,}")  # fmt: skip
    fitted = dataclasses.replace(plans[k], num_steps=steps)
    fields = job.plan_fields
    changed = {f: (getattr(base, f), getattr(fitted, f)) for f in fields if getattr(base, f) != getattr(fitted, f)}
    fitted = dataclasses.replace(fitted, name=f"{base.name}-trial" if changed else base.name)
    cut = ", ".join(f"{f} {a} -> {b}" for f, (a, b) in changed.items() if f != "num_steps") or "as the preset"
    given = " (given by --eval-plan)" if eval_plan is not None else ""
    reason = (f"{steps:,} steps ({why}); evaluation plan {k}{given} of 0 .. {len(plans) - 1}: {cut} (at most "
              f"{eval_s:.0f} s: every rollout to its limit, {fitted.num_seeds} seeds); expected at most "
              f"{steps * s_per_step + eval_s:.0f} s of {budget_s:.0f} s left")  # fmt: skip
    return fitted, reason, eval_s


def child(args) -> int:
    clock = Clock(args.t0 or time.time())
    log = clock
    out, work = Path(args.out), Path(args.work)
    data_dir = Path(args.data_dir) if args.data_dir else work / "data"
    record = Record(out, job="scripts/gpu_job.py", command=_command(), status="running", experiment=args.experiment,
                    env_name=args.target,
                    preset=args.preset, seed=args.seed, method=args.method, minutes=args.minutes,
                    started_utc=now_utc(), cpu_count=os.cpu_count())  # fmt: skip

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise Stopped(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return run_job(args, clock, log, record, out, work, data_dir)
    except Stopped as e:
        log(f"stage stopped: {e} at stage {record.data.get('stage')}: the files under {out} hold what was done")
        record.update(status=f"stopped by {e}")
        sys.stdout.flush()
        os._exit(STOPPED)  # not the interpreter's teardown: envs and JAX stopped mid-call can crash it
    except BaseException as e:
        record.update(status=f"failed: {type(e).__name__}: {e}")
        raise


def _command() -> str:
    """The command as the user gave it (without the options the parent adds for its child)."""
    argv = sys.argv[1:]
    i = argv.index("--child")
    return shlex.join(["python3", "scripts/gpu_job.py", *argv[:i]])


def run_job(args, clock, log, record, out, work, data_dir) -> int:
    record.stage("device", clock)
    import jax

    from cfgrl_core.io.provenance import device_description, file_sha256, git_commit, npz_arrays_sha256
    from cfgrl_core.ogbench import datasets as ogbench_data

    job = JOBS[args.experiment](args)
    base = job.base
    devices = jax.local_devices()
    commit = git_commit()
    record.stage("device", clock, device=device_description(), devices=[str(d) for d in devices], commit=commit,
                 dirty=None if commit == "unknown" else commit.endswith("+dirty"), source_sha256=source_sha256(),
                 versions=versions(), python=sys.version.split()[0])  # fmt: skip
    log(f"stage device: {device_description()}, {len(devices)} device(s), {os.cpu_count()} cores; commit {commit}; "
        + " ".join(f"{k} {v}" for k, v in record.data["versions"].items()))  # fmt: skip

    workers = args.workers or os.cpu_count() or 1
    folder = ogbench_data.size_folder(base.num_episodes, data_dir)
    log(f"stage datasets: {job.env_name} ({base.num_episodes or 'official'} episodes) into {folder}, {workers} "
        "workers")  # fmt: skip
    record.stage("datasets", clock)
    t = time.perf_counter()
    line_bars(log)
    kwargs = {} if base.num_episodes is None else dict(num_episodes=base.num_episodes)
    paths = ogbench_data.generate_dataset(job.env_name, data_dir=folder, seed=args.seed, num_workers=workers, **kwargs)
    datasets = {p.name: dict(sha256=file_sha256(p), arrays_sha256=npz_arrays_sha256(p), bytes=p.stat().st_size)
                for p in paths}  # fmt: skip
    record.stage("datasets", clock, datasets=datasets, dataset_seconds=round(time.perf_counter() - t, 1))
    log(f"stage datasets: done in {time.perf_counter() - t:.1f} s: "
        + "; ".join(f"{n} sha256 {d['sha256'][:12]}" for n, d in datasets.items()))  # fmt: skip

    log(f"stage probe: training ms per step and evaluation s per step, {job.name} preset {base.name}")
    record.stage("probe", clock)
    ms_per_step, probe = job.probe(devices, data_dir, log)
    record.stage("probe", clock, probe=probe)

    budget = args.minutes * 60 - clock.elapsed() - args.margin
    try:
        preset, reason, eval_s = make_plan(base, budget, ms_per_step, probe["evaluation"], args.num_steps, job,
                                           args.eval_plan)  # fmt: skip
    except ValueError as e:
        log(f"stage plan: refused: {e}")
        record.update(status=f"refused: {e}")
        return 2
    preset = job.named(preset)
    log(f"stage plan: {reason}")
    plan = dict(num_steps=preset.num_steps, num_seeds=preset.num_seeds, budget_left_s=round(budget, 1),
                eval_estimate_s=round(eval_s, 1), reason=reason, preset=dataclasses.asdict(preset))  # fmt: skip
    record.stage("plan", clock, plan=plan, run_preset_name=preset.name)

    work_results = work / "run"
    result_file = job.result_file(preset, work_results)
    stem = result_file.stem + f".{preset.name}"
    partial = out / f"{stem}.partial.json"
    evals = job.run_dir(result_file) / "evals"
    copied = set()

    def save_partial():
        done = sorted(evals.glob("*.json")) if evals.is_dir() else []
        if {p.name for p in done} == copied:
            return
        copied.clear()
        copied.update(p.name for p in done)
        found = {p.stem: json.loads(p.read_text()) for p in done}  # step_*: {success, lengths}; validation: a list
        body = dict(note="evaluations finished before the result; the full result replaces this file",
                    experiment=job.name, env_name=job.target, preset=preset.name, ws=list(preset.ws),
                    success={k: v["success"] if isinstance(v, dict) and "success" in v else v
                             for k, v in found.items()})  # fmt: skip
        atomic_write_text(partial, json.dumps(body) + "\n")

    names = job.eval_names(preset)
    calls = []

    def label(desc):  # which evaluation a bar belongs to: the first one whose file is not written yet
        done = len(list(evals.glob("*.json"))) if evals.is_dir() else 0
        calls.append(done)
        name = names[min(done, len(names) - 1)]
        return name if calls.count(done) == 1 else f"{name} #{calls.count(done)}"  # a call per seed: numbered

    line_bars(log, label, on_close=save_partial)

    def run_log(line):
        save_partial()  # first: a line saying an evaluation finished comes after its file
        log(line)

    log(f"stage run: {preset.num_seeds} seeds x {preset.num_steps:,} steps, then evaluation, in {work_results}")
    record.stage("run", clock)
    result, extras = job.run(preset, result_file, data_dir, run_log, devices)
    target = out / f"{stem}.json"
    atomic_write_text(target, json.dumps(result, indent=1) + "\n")  # first: what matters most comes back first
    partial.unlink(missing_ok=True)
    returned = [target.name]
    record.update(result_file=target.name, files=returned)
    for suffix, write in extras.items():
        write(out / f"{stem}.{suffix}")  # atomically, by the runner's own writer
        returned.append(f"{stem}.{suffix}")
        record.update(files=returned)
    summary = job.summary(result)
    record.stage("result", clock, status="done", result_file=target.name, files=returned, timings=result["timings"],
                 summary=summary)  # fmt: skip
    log(f"stage result: {', '.join(returned)}: " + ", ".join(f"{k} {v}" for k, v in summary.items() if "mean" in k))
    log(f"stage done: timings {result['timings']}; weights stay in {job.run_dir(result_file) / 'weights'}")
    return 0


def line_bars(log, label=None, on_close=None) -> None:
    """Every progress bar of cfgrl_core from now on prints timestamped lines (`LineBar`): training bars one per
    chunk, the others (evaluation, dataset generation) at every quarter, each named by `label(desc)`."""
    import cfgrl_core.progress

    def factory(*args, **kwargs):
        desc = kwargs.get("desc", "")
        if "training" in desc:
            return LineBar(log, "", *args, each_update=True, **kwargs)
        return LineBar(log, label(desc) if label else "", *args, on_close=on_close, **kwargs)

    factory.line_bars = True
    original = getattr(cfgrl_core.progress.progress_bar, "original", cfgrl_core.progress.progress_bar)
    factory.original = original
    for module in [m for name, m in sys.modules.items() if name.startswith("cfgrl_core")]:
        bar = getattr(module, "progress_bar", None)
        if bar is original or getattr(bar, "line_bars", False):  # cfgrl_core.progress itself too: modules
            module.progress_bar = factory  # imported later take the line bars


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    return child(args) if args.child else parent(args, argv)


if __name__ == "__main__":
    sys.exit(main())
