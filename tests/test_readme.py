"""Every number in the README's Results and Speed sections, and in each notebook's Summary, comes from data.

- The README's generated blocks equal what scripts/render_readme.py makes from the committed files.
- Outside those blocks the two sections hold no number typed by hand (cfgrl_core.io.summary.typed_numbers).
- Each notebook's Summary is printed by `save_summary` from its own numbers; its markdown holds no typed number.
- A planted mismatch (in a CSV, in a summary JSON, in the README itself) is caught.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from cfgrl_core.io.summary import typed_numbers

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("render_readme", REPO / "scripts" / "render_readme.py")
render_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_readme)
README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"<!-- BEGIN (\w+) -->\n.*?<!-- END \1 -->", re.S)
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_readme_blocks_match_the_data():
    assert render_readme.render(README, REPO / "figures") == README, "README is stale: python scripts/render_readme.py"


@pytest.mark.parametrize("title", ["Results", "Speed"])
def test_no_typed_number_outside_the_generated_blocks(title):
    outside = BLOCK.sub("", section(README, title))
    assert typed_numbers(outside) == [], f"README's {title} section types numbers outside its generated blocks"
    assert BLOCK.search(section(README, title)), f"README's {title} section has no generated block"


@pytest.mark.parametrize("name", ["T01", "T02", "T03", "T04", "T05", "T06", "T07", "T08", "T09", "TSPEED"])
def test_the_templates_type_no_number(name):
    assert typed_numbers(getattr(render_readme, name)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_each_notebook_summary_is_printed_from_its_numbers(path):
    text = path.read_text()
    summary = text[text.index("# ## Summary") : text.index("# ## Exercises")]
    assert f'save_summary("fig{path.name[:2]}"' in summary, f"{path.name}: its Summary is not made by save_summary"
    cells = re.split(r"^# %%.*$", summary, flags=re.M)
    markdown = [c for c in cells if all(not line or line.startswith("#") for line in c.strip().splitlines())]
    typed = [n for c in markdown for n in typed_numbers(c)]
    assert typed == [], f"{path.name}: its Summary's markdown types numbers by hand: {typed}"


def test_every_committed_summary_fills_its_own_template():
    for path in sorted((REPO / "figures").glob("fig[0-9][0-9]_summary.json")):
        record = json.loads(path.read_text())
        assert typed_numbers(record["template"]) == [], path.name
        assert record["template"].format_map(record["values"]) == record["text"], path.name
        assert record["fast"] is False, f"{path.name} comes from a FAST run"


def _copy_data(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "figures", tmp_path / "figures")
    return tmp_path / "figures"


def test_a_planted_mismatch_in_a_csv_is_caught(tmp_path):
    figures = _copy_data(tmp_path)
    path = figures / "fig04_table.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["flow GCBC (w=1) mean"] = str(float(rows[0]["flow GCBC (w=1) mean"]) + 0.5)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    assert render_readme.render(README, figures) != README


def test_a_planted_mismatch_in_a_summary_is_caught(tmp_path):
    figures = _copy_data(tmp_path)
    path = figures / "fig03_summary.json"
    record = json.loads(path.read_text())
    record["values"]["flow_oracle"] += 0.01
    path.write_text(json.dumps(record))
    assert render_readme.render(README, figures) != README


def test_a_planted_mismatch_in_the_readme_is_caught():
    start = README.index("<!-- BEGIN results02 -->\n") + len("<!-- BEGIN results02 -->\n")
    digit = re.compile(r"\d").search(README, start)
    planted = README[: digit.start()] + str((int(digit.group()) + 1) % 10) + README[digit.end() :]
    assert render_readme.render(planted, REPO / "figures") != planted
    typed_outside = README.replace("\n## Speed\n", "\n## Speed\nAbout 42 minutes.\n", 1)
    assert typed_numbers(BLOCK.sub("", section(typed_outside, "Speed"))) == ["42"]


def _same(a, b) -> bool:
    """Equal as the summary JSON writes them (NaN equal to NaN, numpy numbers as numbers)."""
    dump = lambda v: json.dumps(v, sort_keys=True, default=lambda x: x.tolist())  # noqa: E731
    return dump(a) == dump(b)


COMMITTED_VALUES = {
    "fig04": lambda r: render_readme.gx.summary_values(render_readme.committed_04(r), "cpu",
                                                       render_readme.gx.paper_runs(r)),
    "fig05": lambda r: render_readme.offline_rl.summary_values(render_readme.committed_05(r), "cpu"),
    "fig06": lambda r: render_readme.pgd_pointmass.summary_values(
        json.loads((r / "pgd" / "cpu" / "results.json").read_text()), "cpu"
    ),
    "fig07": lambda r: render_readme.pgd_agents.summary_values(render_readme.committed_07(r), "cpu"),
    "fig08": lambda r: render_readme.gc_studies.summary_values(*render_readme.committed_08(r)[:1], "cpu",
                                                               render_readme.committed_08(r)[1]),
    "fig09": lambda r: render_readme.kl_budget.summary_values(*render_readme.committed_09(r)),
}  # fmt: skip


@pytest.mark.parametrize("prefix", sorted(COMMITTED_VALUES))
def test_the_notebook_summary_and_the_readme_compute_the_same_values(prefix):
    """The README renders notebooks 04-08 with the experiment's `summary_values` on the committed results; the
    notebook's saved Summary was filled by the same function on the results it ran with: every value agrees."""
    values = COMMITTED_VALUES[prefix](REPO / "results")
    saved = json.loads((REPO / "figures" / f"{prefix}_summary.json").read_text())["values"]
    assert values.keys() <= saved.keys(), sorted(values.keys() - saved.keys())
    differ = [k for k in values if not _same(values[k], saved[k])]
    assert differ == [], f"{prefix}: the committed summary and the committed results disagree on {differ}"


def test_a_planted_mismatch_in_a_committed_result_is_caught(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(REPO / "results" / "pgd_agents", results / "pgd_agents")
    path = results / "pgd_agents" / "cpu" / "good20" / "results.json"
    record = json.loads(path.read_text())
    record["agents"]["td3_bc"]["arms"]["real"]["final_score"][0] += 1.0
    path.write_text(json.dumps(record))
    for name in ("gcbc_cfgrl", "offline_rl", "pgd", "gc_studies", "kl_budget"):
        (results / name).symlink_to(REPO / "results" / name)
    assert render_readme.render(README, REPO / "figures", results=results) != README


def test_the_readme_says_what_ran_at_the_papers_sizes_from_the_files(tmp_path):
    """The 'What has run at the paper's sizes' block reads results/<experiment>/paper*/: planting a paper-type result
    of notebook 06 changes its row from 'none yet' to the folder and its device; the others stay."""
    results = tmp_path / "results"
    before = render_readme.gpu_runs(results)
    assert before.count("none yet") == 5
    (results / "pgd" / "paper").mkdir(parents=True)
    (results / "pgd" / "paper" / "results.json").write_text(json.dumps({"device": "gpu: planted accelerator"}))
    after = render_readme.gpu_runs(results)
    assert after.count("none yet") == 4
    assert "| 06 | `pgd` | `results/pgd/paper/`: 1 result file(s), gpu: planted accelerator |" in after
    committed = render_readme.gpu_runs(REPO / "results")
    assert "`results/gcbc_cfgrl/paper-trial/`: 1 result file(s), gpu: NVIDIA H200" in committed


def test_the_costs_block_follows_the_records(tmp_path):
    """`make test`'s minutes and the notebooks' times come from their records: a changed record changes the text."""
    bench = tmp_path / "bench"
    bench.mkdir()
    record = json.loads((REPO / "benchmarks" / "results" / "make_test.json").read_text())
    text = render_readme.costs(REPO / "figures", REPO / "results", REPO / "benchmarks" / "results")
    assert f"took {record['seconds'] / 60:.0f} minutes for {record['passed']} tests" in text
    quick = json.loads((REPO / "benchmarks" / "results" / "make_test_quick.json").read_text())
    assert quick["args"] == ["-m", "not slow"] and quick["exit_status"] == 0 and quick["failed"] == 0
    assert f"(`pytest -m 'not slow'`: the tests not marked slow) took {quick['seconds'] / 60:.0f}" in text
    record["seconds"] += 600
    quick["passed"] += 7
    (bench / "make_test.json").write_text(json.dumps(record))
    (bench / "make_test_quick.json").write_text(json.dumps(quick))
    changed = render_readme.costs(REPO / "figures", REPO / "results", bench)
    assert f"took {record['seconds'] / 60:.0f} minutes" in changed
    assert f"minutes for {quick['passed']} tests" in changed
