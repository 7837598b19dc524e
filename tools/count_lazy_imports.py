"""Count the imports of layerscope's own modules that stand inside a function (lazy imports), per package.

    python tools/count_lazy_imports.py            # per package, then the total
    python tools/count_lazy_imports.py --list     # also every one, as file:line

An import inside a function is only for an optional third-party package (or the CLI's start-up
time), never to dodge a cycle (docs/design.md); this counts the ones of layerscope's own modules:
relative imports (``from ..io import x``) and absolute ``layerscope`` ones.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "layerscope"


def _own(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "layerscope"
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "layerscope" for alias in node.names)
    return False


def lazy_imports(path: Path) -> list[int]:
    """The line numbers of the in-function imports of layerscope's own modules in the file ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines: list[int] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and _own(child):
                lines.append(child.lineno)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return sorted(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="also print every lazy import as file:line")
    parser.add_argument("root", nargs="?", type=Path, default=PACKAGE, help="the package folder (default: src/layerscope)")
    args = parser.parse_args(argv)
    per_package: Counter[str] = Counter()
    for path in sorted(args.root.rglob("*.py")):
        relative = path.relative_to(args.root)
        package = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for line in lazy_imports(path):
            per_package[package] += 1
            if args.list:
                print(f"{path.relative_to(args.root.parents[1])}:{line}")
    for package, count in sorted(per_package.items(), key=lambda item: (-item[1], item[0])):
        print(f"{package:12} {count}")
    print(f"{'total':12} {sum(per_package.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
