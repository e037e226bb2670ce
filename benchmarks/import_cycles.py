"""The package tree and the import cycles of tinygrad_med at a git revision (or the working tree).

    python benchmarks/import_cycles.py [REV ...]     e.g.  639a349 2a6f61b HEAD

For each revision: the folders of tinygrad_med/ with their module counts, the modules at the top
level, and every import cycle (strongly connected components of the import graph, each sorted), with
the same parser and graph as tests/test_structure.py (which fails on any cycle but tensor <-> ops).
"""

import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import test_structure as structure  # noqa: E402


def checkout(rev, into):
    """The tree of ``rev`` under ``into`` (git archive; nothing in the repository changes)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "tinygrad_med"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return Path(into)


def describe(root):
    """(tree lines, cycles) of the package under ``root``."""
    structure.ROOT, structure.PACKAGE = root, root / "tinygrad_med"
    mods = structure.modules()
    folders = Counter(".".join(name.split(".")[:2]) for name in mods if name.count(".") >= 2)
    top = sorted(name.split(".")[1] for name in mods if name.count(".") == 1 and name.split(".")[1] not in
                 {f.split(".")[1] for f in folders})  # fmt: skip
    shims = [name for name in top if f"tinygrad_med.{name}" in structure.DEPRECATED and _is_shim(mods, name)]
    top = [name for name in top if name not in shims]
    tree = [f"{len(mods)} modules; {len(top)} at the top level of tinygrad_med/:", "  " + " ".join(top)]
    if shims:
        tree += [f"  and {len(shims)} deprecated one-release shims (warn, re-export): " + " ".join(shims)]
    tree += [f"  {name.split('.')[1]}/ ({count} modules)" for name, count in sorted(folders.items())]
    return tree, structure.cycles(structure.graph(mods))


def _is_shim(mods, name):
    """A deprecated old path: a short module that warns with DeprecationWarning."""
    path, _ = mods[f"tinygrad_med.{name}"]
    text = path.read_text()
    return "DeprecationWarning" in text and text.count("\n") < 40


def main(revs):
    for rev in revs or ["HEAD"]:
        with tempfile.TemporaryDirectory() as tmp:
            tree, cycles = describe(checkout(rev, tmp))
        print(f"== {rev}")
        print("\n".join(tree))
        print(f"{len(cycles)} import cycle(s):")
        for component in cycles:
            allowed = " (allowed: tensor <-> ops)" if structure._allowed_cycle(component) else ""
            print("  " + " <-> ".join(name.removeprefix("tinygrad_med.") for name in component) + allowed)


if __name__ == "__main__":
    main(sys.argv[1:])
