"""The import graph of coordinator/, worker/ and error_handling/ has no cycle, counting every
import a reader sees: at the top, inside functions and under TYPE_CHECKING, and the names a
package's ``__init__`` loads lazily (PEP 562) as imports of the modules that define them. So
moving any function-level import to the top of its module creates no cycle; the few kept inside
functions each say why (start-up speed or an optional dependency)."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.harness import ROOT

PACKAGES = ("coordinator", "worker", "error_handling")


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def lazy_exports(tree: ast.Module) -> dict[str, str]:
    """A package's ``_EXPORTS`` table (public name -> module that defines it), if it has one."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in modules.items()}
    exports = {name: lazy_exports(tree) for name, tree in trees.items() if modules[name].name == "__init__.py"}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, tree in trees.items():
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                lazy = exports.get(node.module, {})
                targets = [node.module] + [lazy.get(a.name, f"{node.module}.{a.name}") for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_lazy_exports_count_as_imports_of_their_modules() -> None:
    graph = import_graph()
    # `from error_handling import DistributedErrorHandler` loads error_handling.handler.
    assert "error_handling.handler" in graph["coordinator.error_integration"]


def function_level_imports() -> dict[str, list[tuple[int, bool]]]:
    """module -> (line, whether a comment says why) for each import inside a function. A comment
    counts on the import's line, on another line of the same run of imports, or just above it."""
    found: dict[str, list[tuple[int, bool]]] = {}
    for name, path in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    first = last = node.lineno - 1
                    while first > 0 and lines[first - 1].strip().startswith(("import ", "from ")):
                        first -= 1
                    while last + 1 < len(lines) and lines[last + 1].strip().startswith(("import ", "from ")):
                        last += 1
                    said = any("#" in line for line in lines[max(0, first - 1):last + 1])
                    found.setdefault(name, []).append((node.lineno, said))
    return found


def test_each_function_level_import_says_why() -> None:
    silent = {name: [line for line, said in entries if not said]
              for name, entries in function_level_imports().items()}
    assert {name: lines for name, lines in silent.items() if lines} == {}


def test_the_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# ---- background tasks are owned ---------------------------------------------------------------------
SPAWNERS = {"create_task", "ensure_future"}
BACKGROUND = ROOT / "worker" / "background.py"


def _self_attr(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def unowned_tasks(source: str) -> list[int]:
    """Lines that start a task nobody owns. A task is owned when it is started through
    ``worker.background.Background`` (which holds it, logs its failure, cancels and awaits it on
    close), or kept in ``self.<attr>`` that the same class both cancels and awaits."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name not in SPAWNERS:
            continue
        parent = parents.get(node)
        attr = _self_attr(parent.targets[0]) if isinstance(parent, ast.Assign) and len(parent.targets) == 1 else None
        cls = parent
        while cls is not None and not isinstance(cls, ast.ClassDef):
            cls = parents.get(cls)
        if attr is None or cls is None:
            bad.append(node.lineno)
            continue
        cancelled = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "cancel"
                        and _self_attr(n.func.value) == attr for n in ast.walk(cls))
        awaited = any(isinstance(n, ast.Await) and any(_self_attr(m) == attr for m in ast.walk(n.value))
                      for n in ast.walk(cls))
        if not (cancelled and awaited):
            bad.append(node.lineno)
    return bad


def test_every_background_task_is_owned() -> None:
    found = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if path == BACKGROUND:
                continue
            lines = unowned_tasks(path.read_text(encoding="utf-8"))
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}, "start these through worker.background.Background (or own them): " + repr(found)


def test_the_ownership_check_finds_fire_and_forget() -> None:
    assert unowned_tasks("import asyncio\nasync def f(c):\n    asyncio.create_task(c)\n") == [3]
    assert unowned_tasks("import asyncio\ndef f(loop, c):\n    loop.call_soon(lambda: asyncio.ensure_future(c))\n") == [3]
    held_never_awaited = ("import asyncio\nclass A:\n    def start(self, c):\n"
                          "        self.t = asyncio.create_task(c)\n    def stop(self):\n        self.t.cancel()\n")
    assert unowned_tasks(held_never_awaited) == [4]
    owned = held_never_awaited + "    async def close(self):\n        await self.t\n"
    assert unowned_tasks(owned) == []


# ---- the engine gets its hooks through its constructor ----------------------------------------------
MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "remove", "discard", "pop", "clear"}


def _through_engine(node: ast.AST) -> bool:
    """Whether an expression reaches an engine: ``engine.x``, ``coordinator.engine.x.y`` ..."""
    while isinstance(node, ast.Attribute):
        if node.attr == "engine":
            return True
        node = node.value
    return isinstance(node, ast.Name) and node.id == "engine"


def engine_mutations(source: str) -> list[int]:
    """Lines that set, or change in place, something reached through an engine from outside it:
    ``engine.choose_worker = f``, ``coordinator.engine.on_terminal.append(f)``, ``engine.store.x = y``."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        if any(isinstance(t, (ast.Attribute, ast.Subscript)) and _through_engine(t.value) for t in targets):
            bad.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS \
                and isinstance(node.func.value, ast.Attribute) and _through_engine(node.func.value.value):
            bad.append(node.lineno)
    return bad


def test_no_module_attaches_to_the_engine_after_construction() -> None:
    """What the engine calls (the failure policy, the worker chooser, the terminal listeners, the
    store's commit observer) is passed to a constructor in the composition root; extensions
    register with ``coordinator.hooks.EngineHooks`` through its public methods."""
    found = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            lines = engine_mutations(path.read_text(encoding="utf-8"))
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}


def test_the_attachment_check_finds_late_hooks() -> None:
    assert engine_mutations("engine.choose_worker = b\n") == [1]
    assert engine_mutations("coordinator.engine.on_terminal.append(f)\n") == [1]
    assert engine_mutations("engine.store.on_commit = f\n") == [1]
    assert engine_mutations("coordinator.engine = engine\nengine.kick()\nx = engine.workers.get(w)\n") == []
