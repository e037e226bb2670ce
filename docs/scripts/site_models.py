"""One page per model of `tgm train`: its layers table (shapes from a forward pass on a small input, parameter
counts from the model), its `tgm train` results read from benchmarks/results/train-seeds-*.json, and the
pictures real `tgm train` runs drew, committed under docs/pictures/<model>-<data>/ with a manifest.json saying
which command, seed, commit and date made them and what the run scored (docs/scripts/add_pictures.py).
"""

import glob
import json
import os

import numpy
from site_text import ROOT

# model -> (in_channels, num_classes, small input shape); models not listed get a parameters-only table.
SMALL_INPUTS = {
    "mlp": (1, 10, (2, 1, 8, 8)),
    "cnn": (1, 10, (2, 1, 16, 16)),
    "stn": (1, 10, (2, 1, 16, 16)),
    "resnet18": (1, 10, (2, 1, 32, 32)),
    "densenet": (1, 10, (2, 1, 32, 32)),
    "unet": (1, 2, (1, 1, 32, 32)),
    "fcn": (1, 2, (1, 1, 64, 64)),
    "hyperdense2d": (2, 2, (1, 2, 32, 32)),
    "unet3d": (1, 2, (1, 1, 16, 16, 16)),
    "vnet": (1, 2, (1, 1, 16, 16, 16)),
    "hyperdense": (2, 2, (1, 2, 16, 16, 16)),
    "autoencoder": (1, 10, (2, 1, 8, 8)),
    "vae": (1, 10, (2, 1, 8, 8)),
    "captioner": (1, 12, None),  # vocabulary of 12 words
}


def _shape(value):
    if hasattr(value, "shape"):
        return "(" + ", ".join(str(d) for d in value.shape) + ")"
    if isinstance(value, (tuple, list)):
        return ", ".join(_shape(v) for v in value if hasattr(v, "shape") or isinstance(v, (tuple, list)))
    return type(value).__name__


def layers_table(name):
    """(markdown table of the model's top-level layers, sentence saying how the shapes were found)."""
    import tinygrad_med as tm
    from tinygrad_med.models import MODELS
    from tinygrad_med.nn.module import Module

    in_channels, num_classes, shape = SMALL_INPUTS.get(name, (1, 2, None))
    tm.manual_seed(0)
    model = MODELS[name][0](in_channels, num_classes)
    children = {}
    for child_name, child in model.named_children():  # a ModuleList shows its members, which the forward calls
        inner = list(child.named_children()) if type(child).__name__ in ("ModuleList", "ModuleDict") else []
        children.update({f"{child_name}.{n}": m for n, m in inner} if inner else {child_name: child})
    seen = {}
    how = "No small input is defined for this model's forward (it takes graphs, boxes or captions): parameters only."
    if shape is not None:
        original = Module.__call__

        def recording(module, *args, **kwargs):
            out = original(module, *args, **kwargs)
            for child_name, child in children.items():
                if child is module and child_name not in seen:
                    seen[child_name] = (_shape(args), _shape(out))
            return out

        Module.__call__ = recording
        try:
            model.eval()
            with tm.no_grad():
                out = model(tm.tensor(numpy.random.default_rng(0).standard_normal(shape), dtype=tm.float32))
            how = f"Shapes from one forward pass in eval mode on a random input of shape {shape}; output {_shape(out)}."
        finally:
            Module.__call__ = original
    rows = ["| layer | type | input | output | parameters |", "|---|---|---|---|---:|"]
    for child_name, child in children.items():
        given, made = seen.get(child_name, ("-", "-"))
        rows.append(f"| `{child_name}` | {type(child).__name__} | {given} | {made} | {child.num_parameters():,} |")
    rows.append(f"| **total** | {type(model).__name__} | | | **{model.num_parameters():,}** |")
    return "\n".join(rows), how


def train_results(name):
    """Markdown of the model's `tgm train` rows in benchmarks/results/train-seeds-*.json (per dataset)."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "results", "train-seeds-*.json"))):
        with open(path) as handle:
            data = json.load(handle)
        for row in data.get("rows", {}).values():
            if row.get("model") != name:
                continue
            seeds = ", ".join(sorted(row.get("seeds", {})))
            out += [
                f"**`tgm train {name} --data {row.get('data')}`**, seeds {seeds}, from "
                f"`{os.path.relpath(path, ROOT)}` ({data.get('machine', {}).get('cpu', '?')}, "
                f"{data.get('machine', {}).get('cores', '?')} cores):\n",
                "| measure | median | min | max |",
                "|---|---:|---:|---:|",
            ]
            for measure, stats in row.get("stats", {}).items():
                if "median" in stats:
                    out.append(f"| {measure} | {stats['median']:.4g} | {stats['min']:.4g} | {stats['max']:.4g} |")
            out.append("")
    return "\n".join(out) if out else "No `tgm train` result for this model in `benchmarks/results/` yet.\n"


def _runs(name):
    """[(folder name, manifest)] of docs/pictures/<name>-<data>/ (one per committed run of this model)."""
    runs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "pictures", "*", "manifest.json"))):
        with open(path) as handle:
            manifest = json.load(handle)
        if manifest.get("model") == name:
            runs.append((os.path.basename(os.path.dirname(path)), manifest))
    return runs


def pictures(name):
    """Markdown of the model's committed pictures, each captioned with the command and date that drew it."""
    runs = _runs(name)
    if not runs:
        return f"No pictures committed yet for `{name}` (docs/scripts/add_pictures.py adds a run's).\n"
    out = []
    for folder, manifest in runs:
        metrics = ", ".join(f"{key} {value:.4g}" for key, value in manifest.get("metrics", {}).items())
        out += [
            f"### `{manifest['command']}`\n",
            f"Drawn {manifest['date']} by commit `{manifest['commit'][:10]}`, seed {manifest['seed']}, "
            f"{manifest['wall_seconds']:.0f} s wall time at load average {manifest['load_average']}. "
            f"Held-out result of this run: {metrics or 'none logged'}.\n",
        ]
        for picture in manifest["pictures"]:
            caption = f"{picture} from `{manifest['command']}` ({manifest['date']})"
            out += [f"![{caption}](../pictures/{folder}/{picture})\n", f"*{caption}*\n"]
    return "\n".join(out)


def model_page(name):
    """Markdown of models/<name>.md."""
    from tinygrad_med.models import MODELS

    constructor, about = MODELS[name]
    table, how = layers_table(name)
    return "\n".join(
        [
            f"# `{name}`\n",
            f"{about}.\n",
            f"Train it: `tgm train {name}` (see [the CLI](../cli.md)).\n",
            "## Layers\n",
            how + "\n",
            table + "\n",
            "## Training results\n",
            train_results(name),
            "## Pictures\n",
            pictures(name),
        ]
    )


def models_index():
    from tinygrad_med.models import MODELS

    rows = ["# Models\n", "Every model `tgm train` knows, one page each.\n"]
    rows += ["| model | what it is | pictures of a run on |", "|---|---|---|"]
    for name, (_, about) in sorted(MODELS.items()):
        runs = ", ".join(manifest["data"] for _, manifest in _runs(name)) or "-"
        rows.append(f"| [`{name}`]({name}.md) | {about} | {runs} |")
    return "\n".join(rows) + "\n"
