"""One page per op family: formulas from the docstrings, reference code and CUDA kernel included from the
sources (pymdownx.snippets, so nothing is copied), gradcheck rows and bench figures from benchmarks/results/.
"""

import glob
import importlib
import inspect
import json
import os
import re

from site_text import ROOT, formula_lines, split_comment, split_statements, to_tex

# kernel stem -> (title, modules whose public functions the page shows, bench families, gradcheck row pattern)
FAMILIES = {
    "activation": (
        "Activations",
        ["ops.activation"],
        ["elementwise"],
        r"^(relu|sigmoid|tanh|leaky_relu|elu|gelu|maxout|softplus|silu)",
    ),
    "conv": ("Convolution (im2col)", ["ops.conv", "ops.conv_transpose"], ["conv"], r"^conv"),
    "pool": ("Pooling", ["ops.pool", "ops.adaptive_pool"], ["pool"], r"(pool|unpool)"),
    "norm": ("Normalisation", ["ops.norm", "ops.lrn"], ["norm"], r"(_norm|local_response)"),
    "dropout": ("Dropout", ["ops.dropout"], ["dropout"], r"dropout"),
    "softmax": ("Softmax", ["ops.softmax"], [], r"(softmax|logsumexp)"),
    "cross_entropy": (
        "Losses (cross-entropy, Dice, KL)",
        ["ops.cross_entropy", "ops.loss", "ops.dice", "ops.kl"],
        ["loss"],
        r"(cross_entropy|nll_loss|mse_loss|l1_loss|bce|binary_cross|kl_|vae_loss|dice)",
    ),
    "gemm": ("Matrix products", ["ops.matmul", "ops.gemm"], ["matmul"], r"^(linear|matmul)"),
    "optim": ("Optimizers (SGD, Adam)", ["optim.sgd", "optim.adam"], ["optim"], r"^$"),
    "resample": ("Resampling (interpolate, pad)", ["ops.resample"], ["resample"], r"^(interpolate|pad)"),
    "sample": ("Spatial transformer sampling", ["ops.sample"], ["sample"], r"(grid_sample|affine_grid)"),
    "detection": ("Detection (RoI align, NMS)", ["ops.detection", "ops.boxes"], ["detection"], r"^roi_"),
    "graph": (
        "Graph convolution",
        ["ops.graph", "ops.graph_conv"],
        ["graph"],
        r"(cheb_conv|gcn_conv|gaussian|spmm|spectral_conv|diff_pool|global_)",
    ),
    "rnn": ("Recurrent cells (LSTM, GRU)", ["ops.rnn"], ["model"], r"^(lstm|gru|rnn)"),
}
_CLASSIFY_ORDER = [
    "detection",
    "graph",
    "cross_entropy",
    "softmax",
    "dropout",
    "rnn",
    "sample",
    "resample",
    "conv",
    "norm",
    "pool",
    "gemm",
    "activation",
]


def family_of_gradcheck_row(op):
    """The family page a `tgm gradcheck` row belongs to, or None."""
    for stem in _CLASSIFY_ORDER:
        if re.search(FAMILIES[stem][3], op):
            return stem
    return None


def module_path(name):
    return f"tinygrad_med/{name.replace('.', '/')}.py"


def fast_paths(stem):
    """The family's fast CPU modules (<module> + _fast, _cpu, _rows or _winograd + .py), as paths."""
    found = []
    for name in FAMILIES[stem][1]:
        base = module_path(name)[: -len(".py")]
        for suffix in ("_fast", "_cpu", "_rows", "_winograd"):
            if os.path.exists(os.path.join(ROOT, base + suffix + ".py")):
                found.append(base + suffix + ".py")
    return found


def family_tests(stem):
    """tests/test_<module>*.py of the family's modules that exist."""
    found = set()
    for name in [stem] + [n.split(".")[-1] for n in FAMILIES[stem][1]]:
        found.update(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "tests", f"test_{name}*.py")))
    return sorted(found)


# ----------------------------------------------------------------------------- measured results


def _date(path):
    match = re.search(r"\d{4}-\d{2}-\d{2}", path)
    return match.group(0) if match else ""


def gradcheck_rows():
    """The newest `tgm gradcheck` JSON per device under benchmarks/results/: [(row, source path)]."""
    newest = {}
    for path in glob.glob(os.path.join(ROOT, "benchmarks", "results", "**", "gradcheck-*.json"), recursive=True):
        with open(path) as handle:
            rows = json.load(handle)
        for device in {r["device"] for r in rows}:
            if device not in newest or _date(path) > _date(newest[device][0]):
                newest[device] = (path, [r for r in rows if r["device"] == device])
    return [(row, os.path.relpath(path, ROOT)) for path, rows in newest.values() for row in rows]


def bench_machines():
    """{machine label: {"rows": [...], "peaks": {...}, "files": [...]}} from every tgm bench JSON in results/."""
    machines = {}
    paths = glob.glob(os.path.join(ROOT, "benchmarks", "results", "**", "bench-*.json"), recursive=True)
    for path in sorted(paths, key=_date):
        with open(path) as handle:
            data = json.load(handle)
        if "rows" not in data or "peaks" not in data:
            continue
        info = data["machine"]
        label = f"{info.get('cpu', 'CPU')}, {info.get('cores', '?')} cores"
        label = f"{info['gpu']} and its host CPU ({label})" if info.get("gpu") else label
        label += f" ({_date(path)})"
        entry = machines.setdefault(label, {"rows": {}, "peaks": {}, "files": [], "machine": info})
        entry["peaks"].update(data["peaks"])
        entry["files"].append(os.path.relpath(path, ROOT))
        for row in data["rows"]:
            entry["rows"][(row["op"], row["size"], row["device"], row["pass"])] = row
    return {label: {**e, "rows": list(e["rows"].values())} for label, e in machines.items()}


def bench_pictures(write_binary, machines):
    """Roofline and per-family plots of every machine, written under ops/img/; {(label, family): file}."""
    import tempfile

    from tinygrad_med.bench import report

    pictures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, entry) in enumerate(sorted(machines.items())):
            timed = [r for r in entry["rows"] if "median_s" in r]
            pictures[(label, "roofline")] = f"img/bench-{k}-roofline.png"
            report.plot_roofline(timed, entry["peaks"], os.path.join(tmp, "roofline.png"))
            write_binary(f"ops/{pictures[(label, 'roofline')]}", os.path.join(tmp, "roofline.png"))
            for family in sorted({r.get("family") for r in timed} - {None}):
                name = f"img/bench-{k}-{family}.png"
                report.plot_family(timed, family, os.path.join(tmp, "family.png"))
                write_binary(f"ops/{name}", os.path.join(tmp, "family.png"))
                pictures[(label, family)] = name
    return pictures


# ----------------------------------------------------------------------------- the page


def _public(module):
    names = getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")])
    for name in names:
        value = getattr(module, name, None)
        if callable(value) and getattr(value, "__module__", None) == module.__name__:
            yield name, value


def _function_classes(module):
    """The autograd Function subclasses a module defines (the reference forward and backward)."""
    from tinygrad_med.function import Function

    for name, value in vars(module).items():
        if inspect.isclass(value) and issubclass(value, Function) and value.__module__ == module.__name__:
            yield name, value


def _lines(obj):
    """(first, last) line of obj's source in its file, 1-based."""
    source, first = inspect.getsourcelines(obj)
    return first, first + len(source) - 1


def _formulas(doc):
    out = []
    for label, text in formula_lines(doc):
        formula, remark = split_comment(text)
        out.append(f"**{label}**{': ' + remark if remark else ''}\n")
        for statement in split_statements(formula):
            out += ["$$", to_tex(statement), "$$\n"]
    return out


def _entry(module, name, value):
    """One public function or class: signature, formulas as math, the docstring, the source included."""
    doc = inspect.getdoc(value) or ""
    kind = "class" if inspect.isclass(value) else "def"
    try:
        signature = f"{name}{inspect.signature(value)}"
    except (TypeError, ValueError):
        signature = name
    first, last = _lines(value)
    path = module_path(module.__name__[len("tinygrad_med.") :])
    out = [f"### `{name}`\n", "```python", f"{kind} {signature}", "```\n"]
    out += _formulas(doc)
    out += ['??? note "Docstring"', "    ```text", *("    " + line for line in doc.splitlines()), "    ```\n"]
    what = "Reference code (forward and backward)" if kind == "class" else "Code"
    out += [
        f'??? example "{what}: {path}, lines {first}-{last}"',
        "    ```python",
        f'    --8<-- "{path}:{first}:{last}"',
        "    ```\n",
    ]
    return out


def _measured(stem, rows, machines, pictures):
    out = [
        "## Gradient checks\n",
        "Rows of `tgm gradcheck` read from `benchmarks/results/` (the newest file per device).\n",
    ]
    mine = [(r, src) for r, src in rows if family_of_gradcheck_row(r["op"]) == stem]
    if mine:
        out += ["| op | device | max abs error | max rel error | status | file |", "|---|---|---|---|---|---|"]
        for r, src in sorted(mine, key=lambda item: (item[0]["op"], item[0]["device"])):
            errors = [f"{r[k]:.1e}" if isinstance(r.get(k), float) else "-" for k in ("max_abs_err", "max_rel_err")]
            out.append(f"| {r['op']} | {r['device']} | {errors[0]} | {errors[1]} | {r['status']} | `{src}` |")
    else:
        out.append("No gradcheck row belongs to this family (its ops are not differentiable or are checked elsewhere).")
    out += ["\n## Measured speed\n"]
    shown = False
    for label, entry in sorted(machines.items()):
        for family in FAMILIES[stem][2]:
            if (label, family) in pictures:
                shown = True
                files = ", ".join(f"`{f}`" for f in entry["files"])
                devices = ", ".join(sorted({r["device"] for r in entry["rows"] if r.get("family") == family}))
                out += [
                    f"**{family}** on {label}, devices {devices} (from {files}):\n",
                    f"![{family} on {label}]({pictures[(label, family)]})\n",
                ]
    if not shown:
        out.append("`tgm bench` has no workload for this family yet.")
    return out


def op_page(stem, rows, machines, pictures):
    """Markdown of ops/<stem>.md."""
    title, modules, _, _ = FAMILIES[stem]
    first = importlib.import_module(f"tinygrad_med.{modules[0]}")
    out = [
        f"# {title}\n",
        '??? quote "What the module says"',
        "    ```text",
        *("    " + line for line in (first.__doc__ or "").strip().splitlines()),
        "    ```\n",
    ]
    out += ["| piece | where |", "|---|---|"]
    out.append("| reference | " + ", ".join(f"`{module_path(m)}`" for m in modules) + " |")
    out.append(
        "| fast CPU path | " + (", ".join(f"`{p}`" for p in fast_paths(stem)) or "none (the reference is it)") + " |"
    )
    out.append(f"| CUDA kernel | [`kernels/{stem}.cu`](#cuda-kernel) |")
    out.append("| tests | " + ", ".join(f"`{t}`" for t in family_tests(stem)) + " |\n")
    for name in modules:
        module = importlib.import_module(f"tinygrad_med.{name}")
        out += [f"## `{module_path(name)}`\n"]
        shown = list(_public(module))
        shown += [(n, v) for n, v in _function_classes(module) if n not in dict(shown)]
        for public, value in shown:
            out += _entry(module, public, value)
    out += [
        "## CUDA kernel\n",
        f"`kernels/{stem}.cu`, included as it is:\n",
        "```cpp",
        f'--8<-- "kernels/{stem}.cu"',
        "```\n",
    ]
    out += _measured(stem, rows, machines, pictures)
    return "\n".join(out) + "\n"


def ops_index(machines, pictures):
    """Markdown of ops/index.md: the families and the roofline of every machine."""
    out = [
        "# Ops\n",
        "One page per op family: its formulas, its reference code, its CUDA kernel, its gradient",
        "checks and its measured speed.\n",
        "| family | kernel |",
        "|---|---|",
    ]
    out += [f"| [{title}]({stem}.md) | `kernels/{stem}.cu` |" for stem, (title, *_) in FAMILIES.items()]
    out += [
        "\n## The roofline\n",
        "One colour and marker per op family; filled points ran on the CPU, hollow on",
        "the GPU. Ceilings were measured in the same run (GEMM GFLOP/s and copy GB/s).\n",
    ]
    for label, entry in sorted(machines.items()):
        files = ", ".join(f"`{f}`" for f in entry["files"])
        out += [f"### {label}\n", f"From {files}.\n", f"![roofline on {label}]({pictures[(label, 'roofline')]})\n"]
    return "\n".join(out) + "\n"
