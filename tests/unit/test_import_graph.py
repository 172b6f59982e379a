"""The house plan, checked from the modules' own imports: the layers run one way, with no cycles.

cli -> web, bench -> fleet, scenarios -> home -> orchestrator, conventions -> devices -> voice -> broker -> (errors,
durations, tasks, limits). A module may import its own package and any lower layer, never a higher one; the
check reads every ``import`` that runs (top-level and inside functions; not those under ``if
TYPE_CHECKING:``) with ``ast``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hyperhome

PACKAGE = Path(hyperhome.__file__).parent
LAYERS = {
    "errors": 0,
    "durations": 0,
    "tasks": 0,
    "limits": 0.5,  # uses errors
    "broker": 1,
    "voice": 2,
    "devices": 3,
    "orchestrator": 4,
    "conventions": 4,
    "home": 5,
    "scenarios": 6,
    "fleet": 6.5,  # many homes (home and below); bench measures it, cli runs it
    "web": 7,
    "bench": 7,
    "testing": 7,
    "cli": 8,
    "__main__": 9,
}


def _layer_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (names for the type checker only)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                todo += child.orelse
                continue
            todo.append(child)
    return out


def _is_module(name: str) -> bool:
    """``from pkg import sub`` imports the module ``pkg.sub`` (its ``__init__`` aside)."""
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            submodules = [name for name in names if _is_module(name)]
            found += submodules if len(submodules) == len(names) else [node.module, *submodules]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.startswith("hyperhome.")]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_every_package_has_a_layer() -> None:
    tops = {_layer_of(name) for name in _modules() if name != "hyperhome"}
    assert tops <= set(LAYERS), f"a new package needs its place in the plan: {sorted(tops - set(LAYERS))}"


def test_imports_run_down_the_layers() -> None:
    upward = []
    for name, path in _modules().items():
        if name == "hyperhome":
            continue
        mine = LAYERS[_layer_of(name)]
        for target in _imports(path):
            top = _layer_of(target)
            if top in LAYERS and LAYERS[top] > mine:
                upward.append(f"{name} imports {target} ({top} is above {_layer_of(name)})")
            elif top in LAYERS and LAYERS[top] == mine and top != _layer_of(name):
                upward.append(f"{name} imports {target} (a sibling layer)")
    assert not upward, "\n".join(sorted(set(upward)))


def test_no_import_cycles_between_packages_or_modules() -> None:
    modules = _modules()
    graph = {name: {t for t in _imports(path) if t in modules and t != name} for name, path in modules.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle.extend([*trail[trail.index(target) :], target] if target in trail else [node, target])
                return True
            if state.get(target) is None and visit(target, [*trail, target]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if state.get(start) is None and visit(start, [start]):
            break
    # a package's __init__ importing its own submodules is how a package is built, not a cycle
    real = [m for m in cycle if not any(m != n and n.startswith(m + ".") for n in cycle)] if cycle else []
    assert not real, " -> ".join(cycle)
