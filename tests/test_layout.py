"""The folders show the architecture: the core at the top of cfgrl_core imports no subpackage; each subpackage
imports the core and only the rooms `ALLOWED` names (io is files only; the domains never import one another, except
the offline-RL learners of `agents`; `experiments`, the notebooks' runners, is the top and nothing below imports it);
and no two modules import each other in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cfgrl_core"
SUBPACKAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
ALLOWED = {
    "io": set(),
    "toys": {"io"},
    "agents": {"io"},
    "ogbench": {"io", "agents"},
    "pgd": {"io"},
    "experiments": {"io", "toys", "agents", "ogbench", "pgd"},
}
CORE_IN_IO = {"cfgrl_core.checks", "cfgrl_core.progress"}  # io writes files: it trains, samples and evaluates nothing


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """cfgrl_core modules imported anywhere in the file (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cfgrl_core")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cfgrl_core"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {m: {i for i in imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in SUBPACKAGES else "core"


def test_the_expected_rooms_exist():
    assert set(ALLOWED) == set(SUBPACKAGES), SUBPACKAGES
    for core in ("flow", "networks", "guidance", "train", "checks"):
        assert f"cfgrl_core.{core}" in MODULES
    for runner in ("protocol", "resumable", "stats", "cli", "gcbc_cfgrl", "offline_rl", "pgd_pointmass", "pgd_agents",
                   "gc_studies"):  # fmt: skip
        assert f"cfgrl_core.experiments.{runner}" in MODULES


def test_core_imports_no_subpackage_and_domains_import_no_other_domain():
    for module, deps in GRAPH.items():
        here = area(module)
        for dep in deps:
            there = area(dep)
            if here == "core":
                assert there == "core", f"core module {module} imports {dep} from the {there} subpackage"
            elif there not in ("core", here):
                assert there in ALLOWED[here], f"{module} ({here}) imports {dep} ({there})"


def test_io_is_files_only():
    for module, deps in GRAPH.items():
        if area(module) == "io":
            core = {d for d in deps if area(d) == "core"}
            assert core <= CORE_IN_IO, f"{module} imports {sorted(core - CORE_IN_IO)}: io must not train or sample"


def test_nothing_in_the_package_imports_the_experiments_wing():
    for module, deps in GRAPH.items():
        if area(module) != "experiments":
            assert not any(area(d) == "experiments" for d in deps), f"{module} imports the experiments wing"


def test_no_import_cycles():
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for d in sorted(GRAPH[m]):
            if state.get(d) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*stack, m, d]))
            if d not in state:
                visit(d, [*stack, m])
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [])
