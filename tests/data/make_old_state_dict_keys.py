"""Write old_state_dict_keys.json: the key and shape lists of the classic models' state_dicts as they were
before the models took torchvision's names (commit 639a349), for tests/test_old_checkpoints.py.

Run with the package of that commit first on the path (the old code; the file it writes is committed):
    git worktree add /tmp/old 639a349
    PYTHONPATH=/tmp/old python tests/data/make_old_state_dict_keys.py
"""

import json
from pathlib import Path

import tinygrad_med
from tinygrad_med import models

# name -> the old constructor call; tests/test_old_checkpoints.py builds today's model with the same arguments
BUILDS = {
    "resnet18_digits": "create_model('resnet18', 1, 10)",  # tgm train resnet18 --data digits (CIFAR stem)
    "resnet18": "resnet18()",
    "densenet_digits": "create_model('densenet', 1, 10)",  # tgm train densenet --data digits
    "densenet_imagenet_stem": "DenseNet(growth_rate=8, block_config=(2, 3, 2), num_init_features=16, num_classes=7)",
    "googlenet_torchvision_aux": "googlenet(variant='torchvision', aux_logits=True)",
    "googlenet_paper_aux": "googlenet(variant='paper', aux_logits=True)",  # LRN in the stem
    "googlenet_paper_no_lrn": "googlenet(variant='paper', aux_logits=False, lrn=False, num_classes=10)",
    "fasterrcnn": "create_model('fasterrcnn', 1, 2)",  # tgm train fasterrcnn's backbone and heads
    "maskrcnn": "create_model('maskrcnn', 1, 2)",
}


def main():
    """Build each model with the old code and write its state_dict's entries as "key 64,1,3,3" strings (the
    shape's sizes; nothing after the space for a scalar), in order."""
    if "old_keys" in dir(models):
        raise SystemExit(f"{tinygrad_med.__file__} is today's code, not commit 639a349's")
    found = {}
    for name, call in BUILDS.items():
        model = eval(call, vars(models))  # the calls above, nothing else
        keys = [f"{key} {','.join(map(str, value.shape))}" for key, value in model.state_dict().items()]
        found[name] = {"built_as": call, "keys": keys}
    source = "tinygrad_med at commit 639a349: the state_dict's keys and shapes, in order"
    text = json.dumps({"source": source, "models": found}, indent=1)
    Path(__file__).with_name("old_state_dict_keys.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
