"""Write torchvision_state_dict_keys.json: the (key, shape) list of torchvision's state_dict for the classic models.

Run with a Python that has torchvision (not a dependency of the project):
    python tests/data/make_torchvision_state_dict_keys.py
tests/test_torchvision_names.py reads the file, so the name checks run without torchvision.
"""

import json
import warnings
from pathlib import Path

import torch
import torchvision
from torchvision import models

BUILDS = {
    "resnet18": lambda: models.resnet18(),
    "resnet34": lambda: models.resnet34(),
    "resnet50": lambda: models.resnet50(),
    "googlenet": lambda: models.googlenet(aux_logits=False, init_weights=True),
    "googlenet_aux": lambda: models.googlenet(aux_logits=True, init_weights=True),
    "densenet121": lambda: models.densenet121(),
    "vgg16_bn": lambda: models.vgg16_bn(),
    "alexnet": lambda: models.alexnet(),
}


def main():
    """Build each model and write one [key, shape] per line, in state_dict order."""
    warnings.simplefilter("ignore")  # googlenet's FutureWarning about init_weights
    versions = f"torchvision {torchvision.__version__} (torch {torch.__version__})"
    source = f"{versions}: [key, shape] of state_dict(), in order"
    lines = ["{", f'"source": {json.dumps(source)},', '"models": {']
    for index, (name, build) in enumerate(BUILDS.items()):
        entries = [json.dumps([key, list(value.shape)]) for key, value in build().state_dict().items()]
        lines.append(f"{json.dumps(name)}: [")
        lines += [entry + "," for entry in entries[:-1]] + [entries[-1]]
        lines.append("]," if index < len(BUILDS) - 1 else "]")
    lines += ["}", "}"]
    path = Path(__file__).with_name("torchvision_state_dict_keys.json")
    path.write_text("\n".join(lines) + "\n")
    json.loads(path.read_text())


if __name__ == "__main__":
    main()
