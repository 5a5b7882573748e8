"""The layout's rules (docs/architecture.md), read from the code's own imports: the stage folders of qa/ in
order, each importing only its own and the stages before it; no import circles; no private name taken from
another module; the runtime package never importing training, harnesses, eval or bench."""
from __future__ import annotations

import ast
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from .conftest import ROOT

STAGES = {  # a stage folder of qa/ -> the stage folders it may import (docs/architecture.md); all may import
    "qa.text": set(),  # qa.config and qa.types
    "qa.intake": {"qa.text"},
    "qa.models": {"qa.text"},
    "qa.answer": {"qa.text", "qa.models"},
    "qa.index": {"qa.text", "qa.intake", "qa.models", "qa.answer"},
    "qa.serve": {"qa.text", "qa.intake", "qa.models", "qa.answer", "qa.index"},
}
BASE = {"qa.config", "qa.types"}
PROJECT = ("qa", "training", "harness", "eval", "bench", "tests", "app")
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    files = [p for top in PROJECT[:-1] for p in (ROOT / top).rglob("*.py")] + [ROOT / "app.py"]
    return {module_name(p): p for p in files if "__pycache__" not in p.parts}


MODULES = sources()


@lru_cache(maxsize=None)
def tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(encoding="utf-8"))


def imports(name: str) -> list[tuple[str, str, int]]:
    """(module imported, name taken from it or "", line) for every import of a module, those inside
    functions included (a lazy import is an arrow too)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                child = f"{base}.{a.name}"
                out.append((child, "", node.lineno) if child in MODULES else (base, a.name, node.lineno))
    return out


def arrows() -> dict[str, set[str]]:
    """Project module -> the project modules it imports."""
    graph = defaultdict(set)
    for name in MODULES:
        for target, _, _ in imports(name):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def stage(name: str) -> str:
    """A runtime module's stage folder (qa.index.bm25 -> qa.index), or the module itself above them."""
    return ".".join(name.split(".")[:2]) if name.count(".") >= 2 else name


def test_each_stage_imports_only_the_stages_before_it_and_nothing_outside_the_package():
    wrong = []
    for name, targets in arrows().items():
        if name.split(".")[0] != "qa":
            continue
        for t in targets:
            if t.split(".")[0] != "qa":
                wrong.append(f"{name} -> {t}: outside the package")
            elif name in BASE and t != name:
                wrong.append(f"{name} -> {t}: config and types import nothing of qa")
            elif stage(name) in STAGES and t not in BASE and stage(t) != stage(name) and stage(t) not in STAGES[stage(name)]:
                wrong.append(f"{name} -> {t}: not a stage before {stage(name)}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    graph, state, circles = arrows(), {}, []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for t in sorted(graph.get(node, ())):
            if t == "qa" or t.endswith("__main__"):
                continue  # the package's face and the CLI import everything; nothing below them imports them back
            if state.get(t) == "open":
                circles.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in state:
                visit(t, path + [t])
        state[node] = "done"

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [name])
    assert not circles, "\n".join(circles)


def test_no_private_name_is_taken_from_another_module():
    wrong = []
    project = {n.split(".")[0] for n in MODULES}
    for name, path in MODULES.items():
        for target, taken, line in imports(name):
            if taken.startswith("_") and not taken.startswith("__") and target.split(".")[0] in project:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {target}.{taken}")
        bound = {a.asname or a.name.split(".")[-1]
                 for node in ast.walk(tree(name))
                 if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in project)
                 for a in node.names}  # names bound to project modules and their objects
        for node in ast.walk(tree(name)):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in bound):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not wrong, "\n".join(wrong)


def test_every_runtime_module_is_short_enough_to_read_whole():
    long = {name: n for name, path in MODULES.items() if name.split(".")[0] == "qa"
            and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_tests_mirror_the_runtime_modules():
    """Every runtime module with logic has a test module of its name (qa/index/bm25.py: tests/test_bm25.py)."""
    tested = {p.stem.removeprefix("test_") for p in (ROOT / "tests").glob("test_*.py")}
    logic = {name.rpartition(".")[2] for name, path in MODULES.items() if name.startswith("qa.")
             and path.name != "__init__.py" and any(isinstance(n, ast.FunctionDef) for n in ast.walk(tree(name)))}
    missing = logic - tested - {"__main__"}  # the CLI: tests/test_cli.py
    assert not missing, sorted(missing)


def test_the_checks_see_the_layout():
    """The rules above read real arrows: the index imports the readers, the readers the text stage."""
    graph = arrows()
    assert "qa.answer.readers" in graph["qa.index.index"] and "qa.text.question" in graph["qa.answer.rules"]
    assert stage("qa.index.index") == "qa.index" and "qa.answer" in STAGES["qa.index"] and "qa.index" not in STAGES["qa.answer"]
    assert set(STAGES) == {stage(n) for n in MODULES if n.count(".") >= 2 and n.startswith("qa.")}  # every folder placed


def figures() -> dict:
    """The layout in numbers (docs/architecture.md): modules, import arrows, the longest chain of imports, the
    longest runtime module. `python -m tests.test_architecture` prints them."""
    graph = {n: {t for t in ts if not t.startswith("tests")} for n, ts in arrows().items() if not n.startswith("tests")}

    def floors(name: str, seen: frozenset = frozenset()) -> int:
        return 1 + max((floors(t, seen | {name}) for t in graph.get(name, ()) if t not in seen), default=0)

    runtime = [n for n in MODULES if n.split(".")[0] == "qa"]
    longest = max(runtime, key=lambda n: len(MODULES[n].read_text(encoding="utf-8").splitlines()))
    code = [n for n in MODULES if not n.startswith("tests")]
    return {"modules (tests aside)": len(code), "runtime modules": len(runtime), "arrows": sum(map(len, graph.values())),
            "floors": max(floors(n) for n in code),
            "longest runtime module": f"{longest} ({len(MODULES[longest].read_text(encoding='utf-8').splitlines())} lines)"}


if __name__ == "__main__":
    print(figures())
