"""scripts/gpu_job.py, the one command for a lent GPU machine, rehearsed on the CPU at toy sizes (the `fast` preset
on pointmaze-medium): timestamped lines per stage and per chunk of training and evaluation, the log, the result and
the provenance under $OUT, the fitted step count recorded; a job stopped by SIGTERM part-way (as a command's time
limit stops it) leaves a valid $OUT; the plan that fits the paper preset to a budget."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_job.py"
ENV = "pointmaze-medium-navigate-v0"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \+ *\d+s ")
STAGES = ("start", "install", "device", "datasets", "probe", "plan", "run", "result", "done", "end")


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_job", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job(out: Path, work: Path, data: Path) -> tuple[list[str], dict]:
    """The command and environment of a toy job: $OUT names the results folder, as on the GPU machine."""
    cmd = [sys.executable, str(SCRIPT), "--preset", "fast", "--env", ENV, "--minutes", "3", "--work", str(work),
           "--data-dir", str(data)]  # fmt: skip
    env = dict(os.environ, OUT=str(out), JAX_PLATFORMS="cpu")
    return cmd, env


def stamped(lines: list[str], pattern: str) -> list[str]:
    return [line for line in lines if STAMP.match(line) and re.search(pattern, line)]


def check_out_folder(out: Path) -> None:
    """What comes back from the machine: at most 8 plain files, each well under 16 MiB, no temporary files."""
    files = list(out.iterdir())
    assert len(files) <= 8 and all(f.is_file() and f.stat().st_size < 16 << 20 for f in files), files
    assert not [f for f in files if f.name.startswith(".")], files
    for f in files:
        if f.suffix == ".json":
            json.loads(f.read_text())  # every JSON file is whole


@pytest.mark.slow
def test_job_runs_logs_and_writes_results_then_survives_sigterm(tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    cmd, env = job(out, tmp_path / "work", data)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (out / "run.log").read_text().splitlines()
    assert log == done.stdout.splitlines()  # the log is the output, as it went
    for stage in STAGES:
        assert stamped(log, rf"\+ *\d+s stage {stage}:"), f"no timestamped line for stage {stage}"
    assert len(stamped(log, r"training 2 seeds: (at|done) \d+/400 steps")) == 4  # one per chunk of 100 steps
    for what in ("eval step 100", "eval step 200", "eval step 400", "validation"):  # each evaluation's chunks
        assert stamped(log, rf"{what}( #\d)?: .*: done \d+/60 steps"), what
        assert stamped(log, rf"{what}( #\d)?: .*: at \d+/60 steps"), what
    assert stamped(log, r"stage datasets: .* 2 workers|stage datasets: .* \d+ workers")

    record = json.loads((out / "provenance.json").read_text())
    result = json.loads((out / f"{ENV}.fast.json").read_text())
    assert record["status"] == "done" and record["result_file"] == f"{ENV}.fast.json"
    assert record["plan"]["num_steps"] == result["preset"]["num_steps"] == 400  # the fast preset's steps fit
    assert "400 steps" in record["plan"]["reason"] and stamped(log, r"stage plan: 400 steps")
    measured = record["probe"]["evaluation"]["measured"]  # one size: the fast preset has 1 episode per task
    assert record["probe"]["train_ms_per_step"] > 0 and measured and all(s > 0 for s in measured.values())
    assert record["datasets"][f"{ENV}.npz"]["sha256"] == result["dataset_sha256"]
    assert record["commit"] == result["commit"] and record["device"] == result["device"]
    assert record["seed"] == result["seed"] == 0 and record["plan"]["num_seeds"] == 2
    assert {"dirty", "source_sha256", "versions", "command", "stages"} <= set(record)
    assert "scripts/gpu_job.py --preset fast" in record["command"]
    assert "status: **done**" in (out / "PROVENANCE.md").read_text()
    check_out_folder(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["run.log", "provenance.json", "PROVENANCE.md", f"{ENV}.fast.json"]
    )

    # Again, stopped by SIGTERM to its whole process group (a command's time limit) once the first checkpoint's
    # evaluation is done: the finished evaluation, the log and the provenance are there and valid.
    out2 = tmp_path / "out2"
    cmd, env = job(out2, tmp_path / "work2", data)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "step 100: success by w" in line:
                os.killpg(proc.pid, signal.SIGTERM)
                break
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, "".join(seen) + rest
    log = (out2 / "run.log").read_text().splitlines()
    assert stamped(log, r"stage stopped: SIGTERM at stage run") and stamped(log, r"stage end: exit status 143")
    record = json.loads((out2 / "provenance.json").read_text())
    assert record["status"] == "stopped by SIGTERM" and record["stage"] == "run"
    partial = json.loads((out2 / f"{ENV}.fast.partial.json").read_text())
    assert "step_00000100" in partial["success"]
    assert not (out2 / f"{ENV}.fast.json").exists()
    check_out_folder(out2)


def test_plan_fits_the_paper_preset_to_the_budget():
    """The paper preset at the H200's measured rates (0.63 ms per step as gc_cost probed it, 133 us per rollout row
    and env step): the evaluation is cut to one at the end, the steps fill the rest, the name says it was fitted;
    with time enough the preset is run as it is."""
    gj = load_script()
    from cfgrl_core.experiments import gcbc_cfgrl as gx

    paper = gx.get_preset("paper")
    probe = dict(step_s=0.0, row_s=133e-6, limit=1000)
    preset, reason, eval_s = gj.make_plan(paper, 455.0, 0.63, probe, None)
    assert preset.name == "paper-trial" and preset.checkpoint_fractions == (1.0,)
    assert eval_s <= 455.0 / 2 and preset.num_steps % paper.steps_per_call == 0
    assert 0 < preset.num_steps <= (455.0 - eval_s) / 0.63e-3 and f"{preset.num_steps:,} steps" in reason
    assert (preset.hidden_dims, preset.batch_size, preset.num_seeds) == (paper.hidden_dims, 1024, 8)

    full, reason, _ = gj.make_plan(paper, 10 * 3600.0, 0.63, probe, None)
    assert full == paper and "they fit" in reason

    forced, reason, _ = gj.make_plan(paper, 455.0, 0.63, probe, 20_000)
    assert forced.num_steps == 20_000 and "--num-steps" in reason


OFFLINE_TASK = "pointmaze-medium-navigate-singletask-v0"


@pytest.mark.slow
def test_offline_job_returns_the_runners_result_and_sample(tmp_path):
    """Notebook 05's experiment through the job (`--experiment offline_rl`, the fast preset on medium task 1): the
    stages, a line per training chunk and per quarter of each evaluation (path starts included), the result and the
    critics' sample under $OUT; the result's numbers are those of `offline_rl.run_and_save` run directly on the
    same dataset."""
    from cfgrl_core.experiments import offline_rl

    out, data = tmp_path / "out", tmp_path / "data"
    cmd = [sys.executable, str(SCRIPT), "--experiment", "offline_rl", "--task", OFFLINE_TASK, "--preset", "fast",
           "--minutes", "3", "--work", str(tmp_path / "work"), "--data-dir", str(data)]  # fmt: skip
    done = subprocess.run(cmd, env=dict(os.environ, OUT=str(out), JAX_PLATFORMS="cpu"), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (out / "run.log").read_text().splitlines()
    for stage in STAGES:
        assert stamped(log, rf"\+ *\d+s stage {stage}:"), f"no timestamped line for stage {stage}"
    assert stamped(log, r"training probe: [\d.]+ ms per joint step \(2 seeds, critic \+ cfgrl, awr_gaussian")
    assert len(stamped(log, r"training 2 seeds, pointmaze-medium-navigate-singletask: (at|done) \d+/300 steps")) >= 3
    for what in ("eval step 75", "eval step 150", "eval step 300", "validation", "path starts",
                 "path starts validation"):  # fmt: skip
        assert stamped(log, rf"{what}: .*: done 40/40 steps"), what
    stem = f"{OFFLINE_TASK}.fast"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["run.log", "provenance.json", "PROVENANCE.md", f"{stem}.json", f"{stem}.sample.npz"]
    )
    check_out_folder(out)
    record = json.loads((out / "provenance.json").read_text())
    result = json.loads((out / f"{stem}.json").read_text())
    assert record["experiment"] == "offline_rl" and record["env_name"] == OFFLINE_TASK and record["status"] == "done"
    assert record["plan"]["num_steps"] == result["preset"]["num_steps"] == 300 and record["plan"]["num_seeds"] == 2
    assert record["probe"]["train_ms_per_step"] > 0 and len(record["probe"]["evaluation"]["measured"]) == 2
    assert record["datasets"]["pointmaze-medium-navigate-v0.npz"]["sha256"] == result["dataset_sha256"]
    assert record["files"] == [f"{stem}.json", f"{stem}.sample.npz"]
    assert set(record["summary"]) >= {"AWR mean", "CFGRL mean", "AWR std", "CFGRL std"}

    direct = offline_rl.run_and_save(OFFLINE_TASK, "fast", tmp_path / "direct", data_dir=data, progress=False,
                                     log=lambda line: None)  # fmt: skip
    for key in ("success", "val_success", "chosen", "path_starts", "loss_every_100", "labels", "dataset_sha256"):
        assert result[key] == direct[key], key
    sample = offline_rl.load_sample(tmp_path / "direct" / f"{OFFLINE_TASK}.json")
    with np.load(out / f"{stem}.sample.npz") as returned:
        assert sorted(returned.files) == sorted(sample)
        for key in sample:
            np.testing.assert_array_equal(returned[key], sample[key], err_msg=key)


def test_offline_plan_fits_the_paper_preset_to_the_budget():
    """notebook 05's paper preset (1M joint steps, 20 + 20 episodes at three checkpoints) at assumed GPU rates: the
    evaluation is cut to one at the end with fewer episodes, the steps fill the rest in whole chunks, the name says
    it was fitted; the networks, batch and seeds stay the paper's."""
    gj = load_script()
    from cfgrl_core.experiments import offline_rl

    paper = offline_rl.get_preset("paper")
    probe = dict(step_s=0.02, row_s=0.008, limit=1000)  # 20 ms a lockstep step + 8 ms per episode of every value
    preset, reason, eval_s = gj.make_plan(paper, 455.0, 5.0, probe, None, gj.OfflineJob)
    assert preset.name == "paper-trial" and preset.checkpoint_fractions == (1.0,)
    assert preset.episodes < paper.episodes and preset.val_episodes <= paper.val_episodes
    assert eval_s == pytest.approx(1000 * (2 * 0.02 + 0.008 * (preset.episodes + preset.val_episodes)))
    assert eval_s <= 455.0 / 2 and 0 < preset.num_steps <= (455.0 - eval_s) / 5e-3
    assert preset.num_steps % paper.steps_per_call == 0 and f"{preset.num_steps:,} steps" in reason
    assert (preset.critic_dims, preset.actor_dims, preset.batch_size, preset.num_seeds) == (
        paper.critic_dims, paper.actor_dims, 1024, 4)  # fmt: skip
    full, reason, _ = gj.make_plan(paper, 100 * 3600.0, 5.0, probe, None, gj.OfflineJob)
    assert full == paper and "they fit" in reason


def test_arguments_belong_to_their_experiment():
    gj = load_script()
    assert gj.parse_args(["--experiment", "offline_rl"]).target == gj.DEFAULT_TASK
    assert gj.parse_args([]).target == gj.DEFAULT_ENV
    for argv in (["--experiment", "offline_rl", "--env", "pointmaze-large-navigate-v0"], ["--task", OFFLINE_TASK],
                 ["--experiment", "offline_rl", "--method", "separate"],
                 ["--experiment", "offline_rl", "--compute-dtype", "bfloat16"],
                 ["--experiment", "offline_rl", "--task", "cube-single-play-singletask-v0"],
                 ["--experiment", "offline_rl", "--task", "pointmaze-large-navigate-v0"],
                 ["--eval-plan", "-1"]):  # fmt: skip
        with pytest.raises(SystemExit):
            gj.parse_args(argv)


def test_compute_dtype_names_the_arm_as_the_dtype_check_finds_it():
    """--compute-dtype bfloat16 runs notebook 04's preset with bfloat16 matmuls, named <preset>[-trial]-<dtype> as
    the dtype check's runner names its arms (`scripts/run_gcbc_cfgrl.py --compute-dtype`), so that
    `dtype_check.load_pair(preset="paper-trial")` finds both arms of a cut run."""
    gj = load_script()
    job = gj.GCJob(gj.parse_args(["--preset", "paper", "--compute-dtype", "bfloat16"]))
    assert (job.base.name, job.base.compute_dtype) == ("paper", "bfloat16")
    probe = dict(step_s=0.0, row_s=133e-6, limit=1000)
    fitted, _, _ = gj.make_plan(job.base, 455.0, 0.63, probe, 100_000, gj.GCJob, 2)
    assert job.named(fitted).name == "paper-trial-bfloat16" and job.named(fitted).compute_dtype == "bfloat16"
    plain = gj.GCJob(gj.parse_args(["--preset", "paper"]))
    assert plain.named(fitted).name == "paper-trial" and plain.base.compute_dtype == "float32"


def test_pinned_steps_and_evaluation_give_the_same_plan_at_any_speed():
    """--num-steps with --eval-plan: the same preset whatever the probe measured (the two arms of a check pair);
    --num-steps alone: the richest evaluation that fits beside those steps, even below one chunk of steps."""
    gj = load_script()
    from cfgrl_core.experiments import gcbc_cfgrl as gx

    paper = gx.get_preset("paper")
    plans = gj.distinct_plans(paper)
    assert plans[0] == paper and len({(p.episodes_per_task, p.num_val_tasks) for p in plans[1:]}) == len(plans) - 1
    slow, fast = dict(step_s=0.0, row_s=400e-6, limit=1000), dict(step_s=0.0, row_s=50e-6, limit=1000)
    a, _, _ = gj.make_plan(paper, 455.0, 0.9, slow, 150_000, gj.GCJob, 3)
    b, _, _ = gj.make_plan(paper, 455.0, 0.3, fast, 150_000, gj.GCJob, 3)
    assert a == b and a.num_steps == 150_000 and a.episodes_per_task == plans[3].episodes_per_task
    few, reason, eval_s = gj.make_plan(paper, 455.0, 0.63, slow, 1000, gj.GCJob)
    assert few.num_steps == 1000 < paper.steps_per_call and "--num-steps" in reason
    assert eval_s + 1000 * 0.63e-3 <= 455.0  # it fits beside them: not the poorest plan by default
    richer = [p for p in plans if gj.eval_seconds(p, slow) + 0.63 <= 455.0]
    assert (few.episodes_per_task, few.num_val_tasks) == (richer[0].episodes_per_task, richer[0].num_val_tasks)
    with pytest.raises(ValueError, match="evaluation plans 0"):
        gj.make_plan(paper, 455.0, 0.63, slow, None, gj.GCJob, len(plans))


@pytest.mark.slow
def test_offline_plan_counts_the_evaluations_run_task_makes(tmp_path, monkeypatch):
    """What `offline_eval_seconds` and `OfflineJob.eval_names` count is what `offline_rl.run_task` evaluates: its
    training replaced by a stand-in that stops at each checkpoint, its evaluations recorded (episodes, path
    starts or not) and answered with zeros of the right shape."""
    import dataclasses

    from cfgrl_core.experiments import offline_rl

    calls = []

    def fake_train(learner, states, data, keys, *, num_steps, stops, on_stop, **_):
        for step in stops:
            on_stop(step, states)
        return states, np.zeros((len(keys), num_steps), np.float32)

    def fake_evaluate(task, preset, states, cfgs, *, episodes, seed, pool, progress, starts=None):
        calls.append((episodes, starts is not None))
        lead = (preset.num_seeds,) if starts is None else (preset.num_seeds, len(starts))
        return {name: np.zeros((*lead, episodes, len(preset.ws if name.startswith("cfgrl") else preset.inv_betas)),
                               int).tolist() for name in states.actors}  # fmt: skip

    monkeypatch.setattr(offline_rl, "train_resumable", fake_train)
    monkeypatch.setattr(offline_rl, "evaluate_actors", fake_evaluate)
    gj = load_script()
    fast = offline_rl.get_preset("fast")
    args = gj.parse_args(["--experiment", "offline_rl", "--task", OFFLINE_TASK, "--preset", "fast"])
    for preset in (fast, dataclasses.replace(fast, path_start_tasks=())):
        calls.clear()
        offline_rl.run_task(OFFLINE_TASK, preset, data_dir=tmp_path, progress=False, log=lambda line: None)
        assert len(calls) == len(gj.OfflineJob(args).eval_names(preset))
        if not preset.path_start_tasks:  # the plan's count (path starts are not in it: the paper preset has none)
            assert not any(path for _, path in calls)
            assert gj.offline_eval_seconds(preset, dict(step_s=0.0, row_s=1.0, limit=1)) == sum(e for e, _ in calls)
            assert gj.offline_eval_seconds(preset, dict(step_s=1.0, row_s=0.0, limit=1)) == len(calls)
        else:
            assert [path for _, path in calls][-2:] == [True, True]
