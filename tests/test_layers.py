"""The import rules hold: the layers of pyproject.toml's import-linter contract are the ones
docs/architecture.md shows, no module imports another in a loop, and an import inside a
function only defers a heavy optional dependency, saying so."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "glo", "baselines")
#: what an import inside a function may defer (each with a `# deferred: why` line above it)
DEFERRABLE = {"matplotlib", "torch_fidelity", "submitit", "lmdb", "skimage"}


def contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return layers


def doc_layers() -> list[str]:
    """The first column of the first table under docs/architecture.md's '## Layers', top to
    bottom: `bench/cli/` -> bench.cli; `glo/` and `baselines/` in one cell -> 'glo | baselines'."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    lines = page[page.index("## Layers"):].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    out = []
    for row in lines[start + 2:]:
        if not row.startswith("|"):
            break
        cell = row.strip("|").split("|")[0]
        names = [n.strip("/").replace("/", ".").removesuffix(".py")
                 for n in re.findall(r"`([\w./]+)`", cell)]
        out.append(" | ".join(names))
    return out


def test_the_architecture_page_shows_the_contracts_layers_in_order():
    assert doc_layers() == contract_layers()


def test_every_package_of_bench_is_in_a_layer():
    named = {part.strip() for layer in contract_layers() for part in layer.split("|")}
    packages = {f"bench.{p.stem}" for p in (ROOT / "bench").iterdir()
                if (p / "__init__.py").is_file() or (p.suffix == ".py" and p.stem == "api")}
    assert packages - named == set(), "put these in a layer of pyproject.toml's contract"


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_another_in_a_loop():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_the_loop_finder_finds_a_loop():
    """The check above can fail: a two-module loop planted in a graph is found."""
    graph = grimp.ImportGraph()
    for m in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(m)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert _cycles(graph) == [["a.x", "a.y"]]


def deferred_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, module, whether a `# deferred:` line stands above its group) of every import
    inside a function of ``path``."""
    source = path.read_text()
    lines = source.splitlines()
    out = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if node is fn or not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            above = lines[max(0, node.lineno - 6):node.lineno - 1]
            out.append((node.lineno, module or "", any("# deferred:" in ln for ln in above)))
    return out


def test_imports_inside_functions_only_defer_heavy_optional_dependencies():
    bad = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for line, module, said in deferred_imports(path):
                if module.split(".")[0] not in DEFERRABLE or not said:
                    bad.append(f"{path.relative_to(ROOT)}:{line} {module}")
    assert not bad, ("imports inside functions that are not a deferred heavy optional "
                     f"dependency with its '# deferred:' reason: {bad}")


def test_the_deferred_import_check_catches_a_project_import(tmp_path):
    planted = tmp_path / "m.py"
    planted.write_text("def f():\n    from bench.core import losses\n    return losses\n")
    assert deferred_imports(planted) == [(2, "bench.core", False)]
