"""Writes every page of the site from the package at build time (run by mkdocs-gen-files; see mkdocs.yml).

index.md             the README's opening, and where to go next
getting-started.md   the README's two commands and its dozen-line example
cli.md               `tgm --help` of every subcommand, from the argparse parsers
lecture-map.md       the README's table "The lecture, slide by slide", each piece a link
ops/*.md             one page per op family (docs/scripts/site_ops.py)
models/*.md          one page per `tgm train` model (docs/scripts/site_models.py), with the pictures of
                     real runs committed under docs/pictures/ (docs/scripts/add_pictures.py)
notebooks/index.md   the notebooks of docs/notebooks/ (rendered by mkdocs-jupyter)
"""

import glob
import os
import re
import sys

import mkdocs_gen_files

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import site_models  # noqa: E402
import site_ops  # noqa: E402
import site_text  # noqa: E402

ROOT = site_text.ROOT

# lecture-map row (regex on its section) -> words of the notebook file names that belong to it
NOTEBOOK_WORDS = [
    (r"MLP|backprop", ("backprop",)),
    (r"convolution, padding", ("im2col", "receptive", "cuda_kernel")),
    (r"batch norm", ("batch_norm", "batchnorm", "dropout")),
    (r"momentum|Adam", ("momentum", "adam", "optim")),
    (r"graph Laplacian", ("laplacian", "graph")),
    (r"RNN|LSTM", ("lstm", "rnn")),
    (r"U-Net", ("unet", "u_net")),
]


def write(path, text):
    with mkdocs_gen_files.open(path, "w") as handle:
        handle.write(text)


def write_binary(path, source):
    with open(source, "rb") as src, mkdocs_gen_files.open(path, "wb") as handle:
        handle.write(src.read())


def notebooks():
    """Stems of docs/notebooks/*.py (jupytext percent format), sorted."""
    paths = glob.glob(os.path.join(ROOT, "docs", "notebooks", "*.py"))
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in paths)


def _notebook_title(stem):
    with open(os.path.join(ROOT, "docs", "notebooks", stem + ".py"), encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"#\s+#\s+(.+)", line)
            if match:
                return match.group(1).strip()
    return stem


def home():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        opening = handle.read().split("\n## ", 1)[0].split("\n", 1)[1].strip()
    return "\n".join(
        [
            "# tinygrad_med\n",
            site_text.unlink_relative(opening) + "\n",
            "## Where to go\n",
            "- [Getting started](getting-started.md): install, the main job, a dozen lines of code.",
            "- [The lecture, slide by slide](lecture-map.md): every section of the lecture and where it lives.",
            "- [Ops](ops/index.md): one page per op family: formulas, code, CUDA kernel, checks, speed.",
            "- [Models](models/index.md): layers, shapes, parameter counts, training results and pictures.",
            "- [Notebooks](notebooks/index.md): worked examples to run.",
            "- [The `tgm` command](cli.md): every subcommand and option.\n",
            "The convolution as the lecture writes it, one formula of many on the op pages:\n",
            "$$",
            site_text.to_tex("y[n, f, o] = b[f] + sum_{c, k} W[f, c, k] * x[n, c, o*S - P + k*dil]"),
            "$$\n",
        ]
    )


def getting_started():
    sections = site_text.readme_sections()
    parts = ["# Getting started\n", "From the README (the entry point; this page is built from it).\n"]
    for name in (
        "The two commands",
        "A dozen lines that train a small model",
        "Notation (shape letters, as in the lecture)",
    ):
        if name in sections:
            parts += [f"## {name}\n", site_text.unlink_relative(sections[name])]
    parts.append("Every `tgm` command and option: [the `tgm` command](cli.md).\n")
    return "\n".join(parts)


def _links(here, stems):
    """(reference, fast path, kernel, tests, notebooks) cells of one lecture-map row."""
    families = [
        s
        for s, (_, modules, *_) in site_ops.FAMILIES.items()
        if any(
            module_path in here for module_path in (site_ops.module_path(m)[len("tinygrad_med/") :] for m in modules)
        )
        or f"kernels/{s}.cu" in here
    ]
    if "optim." in here:
        families.append("optim")
    from tinygrad_med.models import MODELS

    models = [m for m in re.findall(r"\*train\*\s+`(\w+)`|`(\w+)`", here) for m in m if m in MODELS]
    reference = [f"[{site_ops.FAMILIES[s][0]}](ops/{s}.md)" for s in dict.fromkeys(families)]
    reference += [f"[`{m}`](models/{m}.md)" for m in dict.fromkeys(models)]
    name = os.path.basename
    fast = [f"[`{name(p)}`](ops/{s}.md)" for s in dict.fromkeys(families) for p in site_ops.fast_paths(s)]
    kernels = [f"[`{s}.cu`](ops/{s}.md#cuda-kernel)" for s in dict.fromkeys(families)]
    tests = [f"[`{name(t)}`](ops/{s}.md)" for s in dict.fromkeys(families) for t in site_ops.family_tests(s)]
    return reference, fast, kernels, tests


def lecture_map(stems):
    rows = [
        "# The lecture, slide by slide\n",
        "Each section of the lecture (the README's table of the same name, read at build time) with the pages",
        "that hold its reference implementation, fast CPU path, CUDA kernel, tests and notebook.\n",
        "| lecture section | in the code | reference | fast path | CUDA kernel | tests | notebook |",
        "|---|---|---|---|---|---|---|",
    ]
    for section, here in site_text.lecture_rows():
        reference, fast, kernels, tests = _links(here, stems)
        words = next((w for pattern, w in NOTEBOOK_WORDS if re.search(pattern, section)), ())
        books = [f"[{s}](notebooks/{s}.py)" for s in stems if any(w in s for w in words)]
        cells = [section, here] + [", ".join(c) or "-" for c in (reference, fast, kernels, tests, books)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def notebooks_index(stems):
    rows = [
        "# Notebooks\n",
        "Worked examples in jupytext percent format (`docs/notebooks/*.py`); open one in Jupyter with",
        "`jupytext --to notebook`, or run it as a script. The site shows them without outputs unless it is",
        "built with `TGM_DOCS_EXECUTE=true mkdocs build`.\n",
    ]
    rows += [f"- [{_notebook_title(s)}]({s}.py)" for s in stems] or ["No notebook yet."]
    return "\n".join(rows) + "\n"


API_OBJECTS = ["tinygrad_med.tensor.Tensor", "tinygrad_med.function.Function", "tinygrad_med.nn.module.Module"]


def api_reference():
    """The core classes through mkdocstrings (their docstrings as the package has them)."""
    parts = ["# The core API\n", "The classes every op and model is built on, from their docstrings (mkdocstrings).\n"]
    parts += [f"::: {name}\n" for name in API_OBJECTS]
    return "\n".join(parts)


def main():
    from tinygrad_med.models import MODELS

    stems = notebooks()
    write("index.md", home())
    write("getting-started.md", getting_started())
    write("cli.md", site_text.cli_reference())
    write("api.md", api_reference())
    write("lecture-map.md", lecture_map(stems))
    write("notebooks/index.md", notebooks_index(stems))
    rows, machines = site_ops.gradcheck_rows(), site_ops.bench_machines()
    pictures = site_ops.bench_pictures(write_binary, machines)
    write("ops/index.md", site_ops.ops_index(machines, pictures))
    for stem in site_ops.FAMILIES:
        write(f"ops/{stem}.md", site_ops.op_page(stem, rows, machines, pictures))
    write("models/index.md", site_models.models_index())
    for name in MODELS:
        write(f"models/{name}.md", site_models.model_page(name))


main()
