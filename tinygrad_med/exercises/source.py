"""Starter files written from the package's own reference code, so that an exercise cannot drift from it.

An exercise names its targets in one module of the package: functions (``_im2col_cpu``) and methods of
a Function class (``ConvNd.forward``).  ``render`` reads that module's source with ``ast`` and writes a
file that keeps each target's signature and docstring (and the class docstring, with the formulas and
shapes) and replaces each body by ``raise NotImplementedError(...)``; ``render(..., blank=False)`` keeps
the bodies, which is the package's own solution.  The imports at the top are every module-level name the
targets read, taken from the same module, so a filled-in file runs exactly as the package does.
"""

import ast
import builtins
import importlib
import inspect
import textwrap
import types

__all__ = ["render", "target_nodes"]


def target_nodes(module_name, targets):
    """{target: (ast node, class node or None)} of 'func' or 'Class.method' targets in the module's source."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    top = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    found = {}
    for target in targets:
        owner_name, _, method = target.rpartition(".")
        owner = top.get(owner_name) if owner_name else None
        scope = owner.body if owner is not None else tree.body
        name = method if owner_name else target
        nodes = [n for n in scope if isinstance(n, ast.FunctionDef) and n.name == name]
        if not nodes:
            raise LookupError(f"exercise target {target!r} is not defined in {module_name}")
        found[target] = (nodes[0], owner)
    return found


def render(exercise, blank=True):
    """The text of the exercise's starter file (``blank``) or of the package's solution (``blank=False``).

    ``blank`` may also be a collection of target names: only those are blanked (the tests use it to
    show that every target on its own is checked).
    """
    module = importlib.import_module(exercise.module)
    lines = inspect.getsource(module).splitlines()
    nodes = target_nodes(exercise.module, exercise.targets)
    blocks, open_class = [], None  # top-level blocks; the methods of one class share a block
    for target, (node, owner) in nodes.items():
        text = _function_text(node, lines, target, blank is True or (blank is not False and target in blank))
        if owner is None:
            blocks.append(text)
        elif owner.name == open_class:
            blocks[-1] += "\n\n" + text
        else:
            blocks.append(_class_head(owner, lines) + "\n\n" + text)
        open_class = owner.name if owner is not None else None
    defined = {target for target in exercise.targets if "." not in target}  # the file defines these itself
    imports = _imports(module, [node for node, _ in nodes.values()], defined)
    return "\n\n\n".join([_header(exercise, blank) + "\n\n" + imports, *blocks]) + "\n"


def _header(exercise, blank):
    what = "Write the bodies that raise NotImplementedError" if blank else "The package's reference solution"
    return "\n".join(
        [
            f'"""Exercise {exercise.name}: {exercise.title}.',
            "",
            f"Lecture: {exercise.lecture}.",
            f"{what}; the docstrings keep the formulas and shapes.",
            f"Check with:  tgm exercise check {exercise.name}",
            "",
            textwrap.dedent(exercise.hint).strip(),
            "",
            *_public_doc(exercise),
            textwrap.fill(
                f"Written from {exercise.module} ({', '.join(exercise.targets)}); `tgm exercise check` runs "
                "your functions in their place, through the public op, against the package's own on random "
                "shapes.",
                width=100,
            ),
            '"""',
        ]
    )


def _public_doc(exercise):
    """The public op's docstring (its formulas and shapes), indented, or nothing."""
    if not exercise.public:
        return []
    doc = inspect.getdoc(getattr(importlib.import_module(exercise.module), exercise.public)) or ""
    doc = doc.replace("\\", "\\\\").replace('"' * 3, "'" * 3)
    return [f"The op ({exercise.module}.{exercise.public}):", "", textwrap.indent(doc, "    "), ""]


def _imports(module, nodes, defined):
    """Import lines for every module-level name of ``module`` that the target functions read
    (but those in ``defined``, which the file writes itself)."""
    read = sorted(
        {
            n.id
            for node in nodes
            for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in vars(module)
        }
        - set(dir(builtins))
        - defined
    )
    lines, from_module = [], []
    for name in read:
        value = vars(module)[name]
        if isinstance(value, types.ModuleType):
            package, _, last = value.__name__.rpartition(".")
            if last == name and package:
                lines.append(f"from {package} import {name}")
            else:
                lines.append(f"import {value.__name__}" + ("" if value.__name__ == name else f" as {name}"))
        else:
            from_module.append(name)
    if from_module:
        line = f"from {module.__name__} import {', '.join(from_module)}"
        listed = "".join(f"    {n},\n" for n in from_module)
        lines.append(line if len(line) <= 100 else f"from {module.__name__} import (\n{listed})")
    ours = [line for line in lines if line.split()[1].startswith("tinygrad_med")]
    sections = [[line for line in lines if line not in ours], ours]  # third-party, then the package (isort's order)
    blocks = ["\n".join(sorted(section, key=lambda line: (line.startswith("from"), line))) for section in sections]
    return "\n\n".join(filter(None, ["# what the reference code reads (use what you need)", *blocks]))


def _class_head(owner, lines):
    """'class Name:' and the class docstring (the formulas); the methods follow."""
    head = [f"class {owner.name}:  # its methods run as those of {owner.name} in the package"]
    first = owner.body[0]
    if _is_docstring(first):
        head += lines[first.lineno - 1 : first.end_lineno]
    return "\n".join(head)


def _function_text(node, lines, target, blank):
    """The function's source; with ``blank``, its signature and docstring and a NotImplementedError body."""
    start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    if not blank:
        return "\n".join(lines[start : node.end_lineno])
    first = node.body[0]
    keep_to = first.end_lineno if _is_docstring(first) else node.body[0].lineno - 1
    indent = " " * node.body[-1].col_offset
    message = f"{target}: not written yet (see the formulas in the docstrings)"
    return "\n".join(lines[start:keep_to] + [f'{indent}raise NotImplementedError("{message}")'])


def _is_docstring(statement):
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )
