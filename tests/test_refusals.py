"""Every runner refuses bad data and bad folders the same way: exit status 2, one line naming the file or argument,
no traceback, and every file that was on disk before is unchanged (hashes); nothing lands in the current folder.

The probe feeds each script of scripts/ a table of bad inputs (CASES): corrupt, truncated, NaN / inf, not-an-npz
and lone-file datasets; results that are not JSON or belong to another preset; an --out or --data-dir that is a file,
below a file, or not writable; an unknown task. The files are tiny and every case is refused before any training,
so the whole table runs in seconds, in this process (`probe`), plus one case in a real subprocess.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
MEDIUM, LARGE = "pointmaze-medium-navigate-v0", "pointmaze-large-navigate-v0"
FAST_EPISODES = 20  # the fast presets' dataset size: their files live in <data>/cfgrl-20-episodes/
TASK = "pointmaze-medium-navigate-singletask-v0"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"probe_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------- bad files
def npz_bytes(arrays: dict, compressed: bool = True) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def maze_arrays(rows: int = 20_000, seed: int = 0) -> dict:
    """A dataset in OGBench's layout (point maze: 2-D observations, actions, qpos, qvel), random numbers."""
    rng = np.random.default_rng(seed)
    terminals = np.zeros(rows, bool)
    terminals[rows // 2 - 1 :: rows // 2] = True
    return {
        "observations": rng.normal(size=(rows, 2)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(rows, 2)).astype(np.float32),
        "terminals": terminals,
        "qpos": rng.normal(size=(rows, 2)).astype(np.float32),
        "qvel": rng.normal(size=(rows, 2)).astype(np.float32),
    }


def corrupt_byte(data: bytes, member: str = "observations.npy") -> bytes:
    """One byte flipped three quarters into a member's stored data (its CRC no longer matches; a reader of the
    array's header alone does not get that far)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    at = start + 3 * info.compress_size // 4
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def bad_bytes(kind: str, arrays: dict, compressed: bool = True) -> bytes:
    arrays = {k: v.copy() for k, v in arrays.items()}
    if kind == "nan":
        arrays["observations"][7, 1] = np.nan
    elif kind == "inf":
        arrays["actions"][11, 0] = np.inf
    good = npz_bytes(arrays, compressed)
    return {
        "nan": good,
        "inf": good,
        "good": good,
        "corrupt": corrupt_byte(good),
        "truncated": good[: len(good) // 2],
        "text": b"not a dataset\n",
    }[kind]


def write_maze_pair(folder: Path, name: str, kind: str, *, which: str = "train") -> None:
    """NAME.npz and NAME-val.npz in `folder`, `which` of them bad in the way `kind` says ('lone': the other absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    train, val = folder / f"{name}.npz", folder / f"{name}-val.npz"
    bad, other = (train, val) if which == "train" else (val, train)
    if kind == "lone":
        bad.write_bytes(bad_bytes("good", maze_arrays()))
        return
    bad.write_bytes(bad_bytes(kind, maze_arrays()))
    other.write_bytes(bad_bytes("good", maze_arrays(100, seed=1)))


def write_pgd_dataset(path: Path, kind: str, *, mixed: bool) -> None:
    """A point-mass dataset file of the fast preset's recipe (notebook 06's, or notebook 07's good20), bad by `kind`."""
    from cfgrl_core.experiments import pgd_agents, pgd_pointmass
    from cfgrl_core.pgd import pointmass, reward_task

    if mixed:
        recipe, keys = pgd_agents.recipe(pgd_agents.get_preset("fast"), 0.2), reward_task.DATA_KEYS
    else:
        recipe, keys = pointmass.Recipe(num_episodes=2, world=pgd_pointmass.WORLD), pointmass.DATA_KEYS
    rows = 50
    rng = np.random.default_rng(0)
    vectors = ("observations", "actions", "next_observations")
    arrays = {k: rng.normal(size=(rows, 2)).astype(np.float32) for k in vectors}
    arrays |= {"rewards": rng.normal(size=rows).astype(np.float32), "terminals": np.zeros(rows, bool),
               "timeouts": np.zeros(rows, bool), "episode_ids": np.zeros(rows, np.int32),
               "behaviour_ids": np.zeros(rows, np.int32)}  # fmt: skip
    arrays = {k: arrays[k] for k in keys} | {pointmass.RECIPE_KEY: np.array(recipe.to_json())}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bad_bytes(kind, arrays, compressed=False))


# ---------------------------------------------------------------------------------------------- the table
@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    script: str
    argv: tuple  # '{root}' in an argument stands for the case's folder
    setup: Callable[[Path], None]
    names: str  # what the refusal must name ('{root}' as above)
    needs_non_root: bool = False  # permissions mean nothing to root


def data(root: Path) -> Path:
    return root / "data"


def fast_folder(root: Path) -> Path:
    return data(root) / f"cfgrl-{FAST_EPISODES}-episodes"


def nothing(root: Path) -> None:
    pass


def a_file(root: Path) -> None:
    (root / "afile").write_text("a file, not a folder\n")


def read_only(root: Path) -> None:
    (root / "locked").mkdir()
    (root / "locked").chmod(0o555)


def result_json(root: Path, script: str) -> Path:
    from cfgrl_core.experiments import gc_studies, offline_rl
    from cfgrl_core.experiments import gcbc_cfgrl as gx

    out = root / "out"
    return {
        "run_gcbc_cfgrl": gx.result_path("fast", MEDIUM, out),
        "run_gc_studies": gc_studies.result_file("ablation", "fast", "shared", out),
        "run_offline_rl": offline_rl.result_path("fast", TASK, out),
    }[script]


RUNNERS = {  # the OGBench runners: argv, and the dataset each reads first
    "run_gcbc_cfgrl": (("--preset", "fast", "--env", MEDIUM), MEDIUM),
    "run_gc_studies": (("--tier", "fast", "--study", "ablation"), LARGE),
    "run_offline_rl": (("--preset", "fast", "--task", TASK), MEDIUM),
}
COMMON = ("--out", "{root}/out", "--data-dir", "{root}/data", "--no-progress")


def ogbench_cases() -> list[Case]:
    cases = []
    for script, (argv, env) in RUNNERS.items():
        argv = (*argv, *COMMON)
        for kind in ("corrupt", "truncated", "nan", "inf", "text", "lone"):
            cases.append(Case(f"{script}:{kind}-train", script, argv,
                              lambda root, env=env, kind=kind: write_maze_pair(fast_folder(root), env, kind),
                              f"{{root}}/data/cfgrl-{FAST_EPISODES}-episodes/{env}.npz"))  # fmt: skip
        cases.append(Case(f"{script}:nan-val", script, argv,
                          lambda root, env=env: write_maze_pair(fast_folder(root), env, "nan", which="val"),
                          f"{{root}}/data/cfgrl-{FAST_EPISODES}-episodes/{env}-val.npz"))  # fmt: skip
        cases.append(Case(f"{script}:lone-val-of-another-recipe", script, argv,
                          lambda root, env=env: write_maze_pair(fast_folder(root), env, "lone", which="val"),
                          f"{{root}}/data/cfgrl-{FAST_EPISODES}-episodes/{env}-val.npz"))  # fmt: skip

        def bad_result(root, script=script, text="{not json"):
            path = result_json(root, script)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

        cases.append(Case(f"{script}:result-not-json", script, argv, bad_result, "{root}/out/"))
        cases.append(Case(f"{script}:result-of-another-preset", script, argv,
                          lambda root, s=script: bad_result(root, s, json.dumps({"preset": {"name": "cpu"}})),
                          "{root}/out/"))  # fmt: skip
        cases += folder_cases(script, argv)
    task9 = ("--preset", "fast", "--task", TASK.replace("-v0", "-task9-v0"), *COMMON)
    cases.append(Case("run_offline_rl:task9", "run_offline_rl", task9, nothing, "task9"))
    return cases


def folder_cases(script: str, argv: tuple, *, data_dir: bool = True) -> list[Case]:
    def with_flag(flag, value):
        args = list(argv)
        args[args.index(flag) + 1] = value
        return tuple(args)

    cases = [
        Case(f"{script}:out-is-a-file", script, with_flag("--out", "{root}/afile"), a_file, "{root}/afile"),
        Case(f"{script}:out-below-a-file", script, with_flag("--out", "{root}/afile/out"), a_file, "{root}/afile"),
        Case(f"{script}:out-not-writable", script, with_flag("--out", "{root}/locked/out"), read_only,
             "{root}/locked", needs_non_root=True),
    ]  # fmt: skip
    if data_dir:
        cases += [
            Case(f"{script}:data-dir-is-a-file", script, with_flag("--data-dir", "{root}/afile"), a_file,
                 "{root}/afile"),
            Case(f"{script}:data-dir-below-a-file", script, with_flag("--data-dir", "{root}/afile/d"), a_file,
                 "{root}/afile"),
        ]  # fmt: skip
    return cases


def generate_cases() -> list[Case]:
    argv = (MEDIUM, "--data-dir", "{root}/data", "--no-progress")
    cases = []
    for kind, which in [("corrupt", "train"), ("truncated", "train"), ("nan", "train"), ("inf", "val"),
                        ("text", "val"), ("lone", "train"), ("lone", "val")]:  # fmt: skip
        suffix = "" if which == "train" else "-val"
        cases.append(Case(f"generate_ogbench:{kind}-{which}", "generate_ogbench", argv,
                          lambda root, kind=kind, which=which: write_maze_pair(data(root), MEDIUM, kind, which=which),
                          f"{{root}}/data/{MEDIUM}{suffix}.npz"))  # fmt: skip
    cases += [
        Case("generate_ogbench:data-dir-is-a-file", "generate_ogbench", (MEDIUM, "--data-dir", "{root}/afile"),
             a_file, "{root}/afile"),
        Case("generate_ogbench:data-dir-below-a-file", "generate_ogbench", (MEDIUM, "--data-dir", "{root}/afile/d"),
             a_file, "{root}/afile"),
        Case("generate_ogbench:data-dir-not-writable", "generate_ogbench", (MEDIUM, "--data-dir", "{root}/locked/d"),
             read_only, "{root}/locked", needs_non_root=True),
    ]  # fmt: skip
    return cases


def pgd_cases() -> list[Case]:
    cases = []
    for script, mixed, rel in [("run_pgd", False, "pointmass.npz"), ("run_pgd_agents", True, "good20/mixed.npz")]:
        argv = ("--preset", "fast", "--out", "{root}/out", "--no-progress")
        for kind in ("corrupt", "truncated", "nan", "inf", "text"):
            cases.append(Case(f"{script}:{kind}-dataset", script, argv,
                              lambda root, kind=kind, mixed=mixed, rel=rel: write_pgd_dataset(root / "out" / rel, kind,
                                                                                             mixed=mixed),
                              f"{{root}}/out/{rel}"))  # fmt: skip
        config = "config.json" if not mixed else "good20/config.json"

        def bad_config(root, config=config):
            (root / "out" / config).parent.mkdir(parents=True, exist_ok=True)
            (root / "out" / config).write_text("{not json")

        cases.append(Case(f"{script}:config-not-json", script, argv, bad_config, f"{{root}}/out/{config}"))
        cases += folder_cases(script, argv, data_dir=False)
    return cases


CASES = [*generate_cases(), *ogbench_cases(), *pgd_cases()]


# ---------------------------------------------------------------------------------------------- the probe
def hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def probe(case: Case, root: Path, capsys) -> dict:
    """Run `case` in this process from an empty current folder; what it did: exit status, stderr's lines, whether a
    traceback escaped, the files of before that changed, what appeared in the current folder."""
    root.mkdir(parents=True, exist_ok=True)
    cwd = root / "cwd"
    cwd.mkdir()
    case.setup(root)
    before = hashes(root)
    argv = [a.replace("{root}", str(root)) for a in case.argv]
    escaped = None
    old_cwd = os.getcwd()
    os.chdir(cwd)
    try:
        status = load_script(case.script).main(argv)
    except SystemExit as e:
        status = e.code
    except Exception:  # noqa: BLE001  (what a user would see as a traceback)
        status, escaped = 1, traceback.format_exc(limit=1).strip().splitlines()[-1]
    finally:
        os.chdir(old_cwd)
    err = capsys.readouterr().err
    after = hashes(root)
    return {
        "status": status,
        "stderr": [line for line in err.splitlines() if line.strip()],
        "traceback": escaped,
        "changed": sorted(k for k in before if after.get(k) != before[k]),
        "in_cwd": sorted(p.name for p in cwd.iterdir()),
    }


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Results and datasets go to the test's folder whatever a case forgets to pass."""
    monkeypatch.setenv("CFGRL_RESULTS_DIR", str(tmp_path / "default-results"))
    monkeypatch.setenv("CFGRL_OGBENCH_DATA", str(tmp_path / "default-data"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_bad_input_is_refused_in_one_line_and_nothing_is_lost(case, tmp_path, capsys):
    if case.needs_non_root and os.geteuid() == 0:
        pytest.skip("root may write into a read-only folder")
    found = probe(case, tmp_path / "case", capsys)
    names = case.names.replace("{root}", str(tmp_path / "case"))
    assert found["traceback"] is None, found
    assert found["status"] == 2, found
    errors = [line for line in found["stderr"] if "error:" in line]
    assert len(errors) == 1 and found["stderr"][-1] == errors[0], found
    assert names in errors[0], (names, found)
    assert found["changed"] == [], found
    assert found["in_cwd"] == [], found


def test_a_refusal_in_a_real_process_prints_no_traceback(tmp_path):
    (case,) = [c for c in CASES if c.name == "run_offline_rl:nan-train"]
    root = tmp_path / "case"
    root.mkdir()
    case.setup(root)
    before = hashes(root)
    argv = [a.replace("{root}", str(root)) for a in case.argv]
    env = {**os.environ, "CFGRL_RESULTS_DIR": str(tmp_path / "r"), "CFGRL_OGBENCH_DATA": str(tmp_path / "d")}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / f"{case.script}.py"), *argv], cwd=root,
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("run_offline_rl.py: error: ") and "NaN or inf" in last and "row 7" in last, last
    assert hashes(root) == before and sorted(p.name for p in root.iterdir()) == ["data"]


def test_check_folder_says_what_is_wrong(tmp_path, monkeypatch):
    from cfgrl_core.checks import InputError, check_folder

    (tmp_path / "f").write_text("x")
    assert check_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"  # made later, nothing made now
    assert not (tmp_path / "new").exists()
    with pytest.raises(InputError, match=f"^{tmp_path}/f is a file, not a folder$"):
        check_folder(tmp_path / "f", writable=False)
    with pytest.raises(InputError, match=f"^{tmp_path}/f/g is below {tmp_path}/f, which is a file, not a folder$"):
        check_folder(tmp_path / "f" / "g")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # what a folder without write permission answers
    with pytest.raises(InputError, match=f"^{tmp_path}/out: {tmp_path} is not writable$"):
        check_folder(tmp_path / "out")
    assert check_folder(tmp_path / "out", writable=False) == tmp_path / "out"  # a dataset folder may be read-only
