"""The floors of ARCHITECTURE.md, enforced: no import circle in the package, no lower floor importing a higher one,
the torch-free and Prefect-free modules free of them at import, and no module of the package that only the research
harness, the benchmarks or the tests use. Read from the source (every import, at module level or inside a
function), so a lazy import cannot hide an upward one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "frontside"

# floor -> the modules (prefixes) on it; a module imports only from its own floor or below (same-floor rooms
# listed in SIDEWAYS may import each other in the direction given)
FLOORS = [
    ("base", ["frontside", "frontside.errors", "frontside.io", "frontside.checks", "frontside.images",
              "frontside.pictures", "frontside.threads", "frontside.configs"]),
    ("geometry", ["frontside.geometry"]),
    ("face models", ["frontside.facemodel"]),
    ("renderers", ["frontside.renderers"]),
    ("shard store", ["frontside.store"]),
    ("data", ["frontside.synthesis", "frontside.sources"]),
    ("learning", ["frontside.learning"]),
    ("evaluation, reconstruct", ["frontside.evaluation", "frontside.reconstruct"]),
    ("orchestration", ["frontside.orchestration"]),
    ("cli", ["frontside.cli"]),
]
SIDEWAYS = {("frontside.sources", "frontside.synthesis")}  # 300W-LP and Florence reuse the pair labels
# what may import the heavy frameworks at all (elsewhere: not even inside a function)
TORCH_ROOMS = ("frontside.learning", "frontside.evaluation", "frontside.reconstruct", "frontside.orchestration",
               "frontside.cli")
PREFECT_ROOMS = ("frontside.orchestration", "frontside.cli")
# modules the command line and the flows import to check their input before anything heavy: no torch at import
TORCH_FREE_AT_IMPORT = ["frontside.learning.config", "frontside.learning.runs", "frontside.learning.checkpoint.format",
                        "frontside.learning.checkpoint.reader", "frontside.learning.checkpoint.validation",
                        "frontside.learning.networks.registry", "frontside.evaluation.config",
                        "frontside.evaluation.checks", "frontside.reconstruct.config", "frontside.cli"]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        package = parts if MODULES[module].name == "__init__.py" else parts[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(module: str, top_level_only: bool = False) -> set[str]:
    """What `module` imports (frontside modules, or the top package of anything else), outside TYPE_CHECKING."""
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()

    def visit(node: ast.AST, depth: int) -> None:
        if _type_checking(node):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _resolve(module, node):
                found.add(name if name.startswith("frontside") else name.split(".")[0])
        for child in ast.iter_child_nodes(node):
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if not (top_level_only and inner):
                visit(child, depth + inner)

    visit(tree, 0)
    return {_owner(name) if name.startswith("frontside") else name for name in found}


def _owner(name: str) -> str:
    """The module a dotted frontside name lives in (`frontside.store.shards.decode_row` -> its module)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def floor_of(module: str) -> tuple[int, str]:
    best = None
    for i, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if module == prefix or (prefix != "frontside" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > len(best[1]):
                    best = (i, "base" if i == 0 else prefix)
    assert best is not None, f"{module} is on no floor of ARCHITECTURE.md"
    return best


def test_every_module_is_on_a_floor():
    for module in MODULES:
        floor_of(module)


def test_no_module_imports_a_higher_floor_or_a_room_beside_it():
    wrong = []
    for module in MODULES:
        mine, my_room = floor_of(module)
        for target in imports(module):
            if not target.startswith("frontside"):
                continue
            theirs, their_room = floor_of(target)
            if theirs > mine or (theirs == mine and their_room != my_room
                                 and (my_room, their_room) not in SIDEWAYS):
                wrong.append(f"{module} ({FLOORS[mine][0]}) imports {target} ({FLOORS[theirs][0]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle():
    graph = {m: {t for t in imports(m) if t in MODULES and t != m} for m in MODULES}
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            strongconnect(v)
    # a package's __init__ importing its own modules is not a circle of concepts
    circles = [c for c in circles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert not circles, circles


@pytest.mark.parametrize("framework, rooms", [("torch", TORCH_ROOMS), ("prefect", PREFECT_ROOMS),
                                              ("pyrender", ("frontside.renderers", "frontside.sources"))])
def test_frameworks_stay_in_their_rooms(framework, rooms):
    wrong = [m for m in MODULES if framework in imports(m) and not m.startswith(rooms)]
    assert not wrong, f"{framework} imported by {wrong}"


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for target in imports(m, top_level_only=True):
            if target in MODULES:
                todo.append(target)
                parent = target.rsplit(".", 1)[0]
                while parent in MODULES and parent not in seen:  # importing a.b.c runs a/__init__ and a/b/__init__
                    todo.append(parent)
                    parent = parent.rsplit(".", 1)[0] if "." in parent else ""
    return seen


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith(TORCH_ROOMS)] + TORCH_FREE_AT_IMPORT)
def test_torch_free_at_import(module):
    heavy = {m: {"torch", "prefect", "pyrender"} & imports(m, top_level_only=True) for m in _closure(module)}
    heavy = {m: h for m, h in heavy.items() if h and not (h == {"prefect"} and m.startswith(PREFECT_ROOMS))}
    assert not heavy or module.startswith(PREFECT_ROOMS) and all(h == {"prefect"} for h in heavy.values()), heavy


def test_the_package_ships_only_what_users_run():
    """Every module is reachable from what users run (the command line, the flows of prefect.yaml): none is
    imported only by tools/, benchmarks/ or tests/."""
    import yaml

    roots = {"frontside.cli.__main__", "frontside.cli"} | {m for m in MODULES if m.startswith("frontside.cli.")}
    for deployment in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]:
        roots.add(deployment["entrypoint"].split(":")[0].removesuffix(".py").replace("/", "."))
    reached, todo = set(), list(roots)
    while todo:
        m = todo.pop()
        if m in reached or m not in MODULES:
            continue
        reached.add(m)
        todo.extend(t for t in imports(m) if t in MODULES)
        parent = m.rsplit(".", 1)[0]
        if parent in MODULES:
            todo.append(parent)
    unused = sorted(set(MODULES) - reached)
    assert not unused, f"modules no command or flow uses: {unused}"
