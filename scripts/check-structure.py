#!/usr/bin/env python3
"""Checks two structural rules of server/src (CI runs it):

1. Only http/, lib.rs and main.rs mention axum: the domain knows nothing of HTTP.
2. No circle between the server's top-level modules (server/src/X.rs or server/src/X/): every
   `crate::X` path in a module's files is an edge from that module to X; a strongly connected
   component of more than one module is a circle.

Prints what it found and exits non-zero on a violation.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "server" / "src"
ALLOWED_AXUM = {"http", "lib", "main"}


def top_module(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".rs")


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def references(text: str) -> set[str]:
    found = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text))
    # `use crate::{a::b, c};`
    for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
        found.update(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
    return found


def main() -> int:
    files = sorted(ROOT.rglob("*.rs"))
    if not files:
        print(f"FAIL: no Rust files under {ROOT}")
        return 1
    modules = {top_module(f) for f in files}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    failures = []
    for f in files:
        module = top_module(f)
        text = strip_comments(f.read_text())
        if re.search(r"\baxum\b", text) and module not in ALLOWED_AXUM:
            failures.append(f"{f.relative_to(ROOT)} uses axum outside http/")
        for target in references(text):
            if target in modules and target != module:
                edges[module].add(target)

    # Tarjan's strongly connected components.
    index, low, stack, on_stack, sccs = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
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
            sccs.append(component)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    for component in sccs:
        if len(component) > 1:
            inner = sorted(
                f"{a} -> {b}" for a in component for b in edges[a] if b in component
            )
            failures.append("module circle: " + ", ".join(inner))

    domain = sorted(modules - ALLOWED_AXUM)
    print(f"structure: {len(files)} files, {len(modules)} top-level modules, "
          f"{sum(len(e) for e in edges.values())} dependencies between them")
    for m in sorted(modules):
        if edges[m]:
            print(f"  {m} -> {', '.join(sorted(edges[m]))}")
    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    print(f"structure: no axum outside http/, lib.rs, main.rs ({len(domain)} modules checked); "
          "no module circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
