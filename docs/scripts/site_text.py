"""Text the site takes from the package: the README's sections, the CLI's --help, docstring formulas as TeX.

Used by docs/scripts/gen_pages.py at build time; nothing here is written by hand twice.
"""

import argparse
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ----------------------------------------------------------------------------- the README


def readme_sections():
    """{'## heading': body text} of the README, in order."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {name: "\n".join(lines).strip() + "\n" for name, lines in sections.items()}


def unlink_relative(markdown):
    """README links to files of the checkout become `path` (the site holds only its pages)."""
    return re.sub(r"\[([^\]]+)\]\((?!https?:|#)([^)]+)\)", r"\1 (`\2`)", markdown)


def lecture_rows():
    """(lecture section, 'here' cell) of every row of the README's table "The lecture, slide by slide"."""
    section = readme_sections()["The lecture, slide by slide"]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and not set(cells[0]) <= set("-") and cells[0] != "lecture section":
            rows.append((cells[0], cells[1]))
    return rows


# ----------------------------------------------------------------------------- the CLI


def cli_reference():
    """Markdown of `tgm --help` and every subcommand's --help, read from the argparse parsers."""
    from tinygrad_med.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal width; fix it so the page is stable
    parser = build_parser()
    parser.prog = "tgm"
    parts = [
        "# The `tgm` command\n",
        "Generated from the argparse parsers in `tinygrad_med/cli.py` and the modules it",
        "draws its subcommands from (`training/cli.py`, `bench/`), so it says what the code accepts.\n",
        "```text",
        parser.format_help().rstrip(),
        "```\n",
    ]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        parts += [f"## tgm {name}\n", "```text", sub.format_help().rstrip(), "```\n"]
    return "\n".join(parts)


# ----------------------------------------------------------------------------- docstring formulas as TeX

_GREEK = {
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "sigma",
    "mu",
    "phi",
    "Phi",
    "pi",
    "lambda",
    "theta",
    "tau",
    "rho",
    "omega",
    "Sigma",
    "Delta",
    "Lambda",
    "eta",
    "xi",
    "nu",
    "kappa",
    "psi",
    "chi",
    "zeta",
    "Theta",
}
_OPERATORS = {
    "exp",
    "log",
    "max",
    "min",
    "tanh",
    "erf",
    "floor",
    "ceil",
    "mean",
    "var",
    "argmax",
    "sign",
    "sin",
    "cos",
    "diag",
    "tr",
    "det",
}
_BIG = {"sum": r"\sum", "prod": r"\prod", "sqrt": r"\sqrt"}
_WORDS = {
    "if",
    "else",
    "where",
    "for",
    "and",
    "or",
    "over",
    "of",
    "otherwise",
    "with",
    "the",
    "each",
    "all",
    "in",
    "is",
    "as",
    "when",
    "per",
    "by",
    "from",
    "to",
    "on",
    "at",
    "then",
    "not",
    "a",
    "an",
    "only",
    "same",
    "every",
    "along",
    "into",
    "its",
    "their",
    "that",
    "this",
    "are",
    "be",
    "which",
    "covering",
    "windows",
}
_SYMBOLS = {
    ">=": r"\ge ",
    "<=": r"\le ",
    "!=": r"\ne ",
    "->": r"\to ",
    "<-": r"\gets ",
    "*": r"\cdot ",
    "%": r"\%",
    "#": r"\#",
    "&": r"\&",
    "~": r"\sim ",
    "\\": r"\backslash ",
    "'": r"\text{'}",
    '"': r"\text{\"}",
    "$": r"\$",
}
_TOKEN = re.compile(r"\s+|>=|<=|!=|->|<-|[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*|\d+(?:\.\d+)?|.")


def _identifier(word):
    if word in _GREEK:
        return "\\" + word + " "
    if word in _BIG:
        return _BIG[word] + " "
    if word in _OPERATORS:
        return r"\operatorname{" + word + "}"
    if "_" in word:
        head, *tail = word.split("_")
        short = len(head) == 1 or head in _GREEK or head in _BIG or head in ("gy", "gx", "gW", "gb")
        if len(tail) == 1 and short and tail[0] in ("hat", "bar", "tilde"):
            return f"\\{tail[0]}{{{_identifier(head)}}}"  # x_hat -> x with a hat
        if len(tail) == 1 and short and (len(tail[0]) <= 3 or tail[0] in _GREEK):
            return f"{_identifier(head)}_{{{_identifier(tail[0]) if tail[0] in _GREEK else tail[0]}}}"
        return r"\mathrm{" + word.replace("_", r"\_") + "}"
    if word in _WORDS:
        return r"\text{" + word + "}"
    return word if len(word) == 1 else r"\mathrm{" + word + "}"


def to_tex(formula):
    """A docstring's plain-text formula (STYLE.md's `Forward:` / `Backward:` lines) as TeX for MathJax.

    Identifiers keep their letters (Greek names become Greek letters, sum/prod/sqrt the big operators,
    multi-letter names upright), spaces stay visible, ``*`` is a centred dot; braces are kept when they
    balance and escaped otherwise, so the result always parses.
    """
    balanced = formula.count("{") == formula.count("}")
    out = []
    for token in _TOKEN.findall(formula):
        if token.isspace():
            out.append(r"\ ")
        elif token[0].isalpha():
            out.append(_identifier(token))
        elif token in _SYMBOLS:
            out.append(_SYMBOLS[token])
        elif token in "{}":
            out.append(token if balanced else "\\" + token)
        elif token == "^" and not balanced:
            out.append(r"\hat{}")
        else:
            out.append(token)
    return "".join(out)


def formula_lines(docstring):
    """[(label, formula text)] of a docstring's Forward: / Backward: entries (continuation lines joined)."""
    found, current = [], None
    for line in (docstring or "").splitlines():
        stripped = line.strip()
        match = re.match(r"(Forward|Backward):\s*(.*)", stripped)
        if match:
            current = [match.group(1), match.group(2)]
            found.append(current)
        elif current and stripped and not re.match(r"[A-Z][A-Za-z ]*:", stripped) and line.startswith("  "):
            current[1] += ("; " if _complete(current[1]) else " ") + stripped
        else:
            current = None
    return [(label, text) for label, text in found if text]


def split_statements(formula):
    """A formula's '; '-separated statements (outside brackets), each typeset on its own line."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(formula):
        depth += (char in "([{") - (char in ")]}")
        if char == ";" and depth == 0:
            parts.append(formula[start:i].strip())
            start = i + 1
    parts.append(formula[start:].strip())
    return [p for p in parts if p]


def _complete(text):
    """True when a formula line stands alone (brackets closed, no trailing operator): the next line is a new
    statement, typeset on its own line; otherwise the next line continues it."""
    opened = sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")
    return opened <= 0 and text.rstrip()[-1:] not in ("+", "-", "*", "/", "=", ",", "@")


def split_comment(text):
    """(formula, remark) where the remark is a trailing '(...)' set off by two spaces."""
    match = re.match(r"(.*?\S)\s{2,}(\(.*\))\s*$", text)
    return (match.group(1), match.group(2)) if match else (text, "")
