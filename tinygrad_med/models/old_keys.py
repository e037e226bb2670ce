"""State dicts saved before the classic models took torchvision's names, loaded under today's names.

Lecture: none (plumbing behind ``Module.load_state_dict``: nothing a user saved is lost when a model's
modules are renamed).

Until the models took torchvision's module names, their state_dicts used these names (the old layout):

    ResNet         stem.0, stem.1 (conv, BN); layers.K (the K-th BasicBlock over all stages), its projection
                   ``shortcut.0``/``shortcut.1``; fc.  Today: conv1, bn1, layer{s}.{i}, downsample.0/1, fc.
    DenseNet       features.K (the K-th entry of one Sequential: conv, [BN, ReLU, max pool], dense blocks
                   and transitions, the final BN), a block's layers.J; classifier.  Today: features.conv0,
                   norm0, denseblock{b}.denselayer{J+1}, transition{t}, norm5.
    GoogLeNet      every conv a Sequential (conv, [BN], ReLU): ``.0`` conv, ``.1`` BN; stem.K; inception3.0/1,
                   inception4a, inception4bcd.0/1/2, inception4e.0, inception5.0/1; aux1/aux2; fc.  Today:
                   BasicConv2d's ``.conv``/``.bn``; conv1-conv3; inception3a ... inception5b.
    FasterRCNN,    a BasicBlock's projection ``shortcut.0``/``shortcut.1`` in the backbone.  Today: downsample.
    MaskRCNN

Each ``old_*_key(model, key)`` below is the old layout written as rules: it returns the key's name today,
or None when ``key`` is not a name of the old layout.  The rules read the model only where the old index
depends on its configuration (blocks per stage, the stem, LRN).  The optimizer's state_dict is keyed by
parameter index, and the parameters come in the same order in both layouts, so it needs no conversion.

``upgrade_state_dict`` converts only a state_dict that is wholly the old layout (every key an old name,
together naming each parameter and buffer of the model once) and warns (DeprecationWarning); anything
else is returned as it is, so load_state_dict's own error names what is missing or unexpected.
"""

import re
import warnings
from collections import OrderedDict

__all__ = ["upgrade_state_dict", "old_resnet_key", "old_densenet_key", "old_googlenet_key", "old_detection_key"]

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"  # a BatchNorm2d's entries
_CONV_BN = ("conv", "bn")  # GoogLeNet's old (conv, [BN], ReLU) Sequential: .0 is today's .conv, .1 is .bn


def upgrade_state_dict(model, state_dict, old_key, layout):
    """``state_dict`` with today's names if it is wholly in the old layout (warning once), else as it is.

    Args:
        model: the module being loaded.
        state_dict: the mapping given to ``load_state_dict``.
        old_key: ``old_key(model, key)`` -> today's name of an old-layout key, or None.
        layout: the old layout in a few words, for the warning.
    Returns:
        a new OrderedDict (same values, today's names, same order), or ``state_dict`` itself.
    """
    own = model.state_dict(keep_vars=True)
    if set(state_dict) == set(own):
        return state_dict  # today's layout
    renamed = [(old_key(model, key), key) for key in state_dict]
    new_names = {new for new, _ in renamed}
    if None in new_names or len(new_names) != len(renamed) or new_names != set(own):
        return state_dict  # not the old layout either: load_state_dict names the keys that do not fit
    name = type(model).__name__
    message = (
        f"{name}.load_state_dict: the state_dict has the old layout of names ({layout}); it was loaded "
        f"under today's names (torchvision's); saving {name}'s state_dict() again writes the new names"
    )
    warnings.warn(message, DeprecationWarning, stacklevel=4)  # the caller of Module.load_state_dict
    return OrderedDict((new, state_dict[key]) for new, key in renamed)


def _rename(key, rules):
    """The first rule whose pattern matches all of ``key``: its replacement (a template or a function of the
    match), or None if none matches."""
    for pattern, replacement in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return replacement(match) if callable(replacement) else match.expand(replacement)
    return None


def old_resnet_key(model, key):
    """ResNet (BasicBlocks; either stem): stem.0 -> conv1, stem.1 -> bn1, layers.K -> layer{s}.{i} with
    K counting blocks over all stages, shortcut -> downsample, fc as it was."""
    sizes = [len(getattr(model, f"layer{stage}")) for stage in range(1, model.num_stages + 1)]

    def block(index):  # old K -> "layer{s}.{i}", or None past the last block
        index = int(index)
        for stage, size in enumerate(sizes, start=1):
            if index < size:
                return f"layer{stage}.{index}"
            index -= size
        return None

    def in_block(tail):
        return lambda m: None if block(m[1]) is None else f"{block(m[1])}.{m.expand(tail)}"

    rules = [
        (r"stem\.0\.weight", "conv1.weight"),  # the stem's conv (no bias)
        (rf"stem\.1\.{_BN}", r"bn1.\1"),  # the stem's BN
        (rf"layers\.(\d+)\.(conv[12]\.weight|bn[12]\.{_BN})", in_block(r"\2")),  # a BasicBlock's two conv-BN
        (r"layers\.(\d+)\.shortcut\.0\.weight", in_block("downsample.0.weight")),  # projection conv
        (rf"layers\.(\d+)\.shortcut\.1\.{_BN}", in_block(r"downsample.1.\2")),  # projection BN
        (r"fc\.(weight|bias)", r"fc.\1"),
    ]
    return _rename(key, rules)


def old_densenet_key(model, key):
    """DenseNet: features.K -> features.<name of its K-th child today> (conv0, norm0, denseblock{b},
    transition{t}, norm5: the old Sequential held the same modules in the same order, its last ReLU now
    outside), a block's layers.J -> denselayer{J+1}, classifier as it was."""
    children = [name for name, _ in model.features.named_children()]  # in the old Sequential's order

    def in_features(m):
        if int(m["at"]) >= len(children):
            return None
        layer = m.groupdict().get("layer")
        dense_layer = "" if layer is None else f"denselayer{int(layer) + 1}."
        return f"features.{children[int(m['at'])]}.{dense_layer}{m['tail']}"

    rules = [
        (rf"features\.(?P<at>\d+)\.(?P<tail>{_BN})", in_features),  # conv0 (weight only), norm0, norm5
        (rf"features\.(?P<at>\d+)\.layers\.(?P<layer>\d+)\.(?P<tail>conv[12]\.weight|norm[12]\.{_BN})", in_features),
        (rf"features\.(?P<at>\d+)\.(?P<tail>conv\.weight|norm\.{_BN})", in_features),  # a transition
        (r"classifier\.(weight|bias)", r"classifier.\1"),
    ]
    return _rename(key, rules)


# GoogLeNet's old containers of the Inception modules -> today's names.
_OLD_INCEPTION = {
    "inception3.0": "inception3a",
    "inception3.1": "inception3b",
    "inception4a": "inception4a",
    "inception4bcd.0": "inception4b",
    "inception4bcd.1": "inception4c",
    "inception4bcd.2": "inception4d",
    "inception4e.0": "inception4e",
    "inception5.0": "inception5a",
    "inception5.1": "inception5b",
}


def old_googlenet_key(model, key):
    """GoogLeNet (either variant): each old conv Sequential's .0/.1 -> BasicConv2d's .conv/.bn; the stem's
    convs stem.0, stem.3, stem.4 with LRN (stem.0, stem.2, stem.3 without) -> conv1, conv2, conv3; the
    Inception modules as _OLD_INCEPTION; aux1/aux2 (conv.0/conv.1, fc1, fc2) and fc as they were."""
    stem_convs = ("0", "3", "4") if model.lrn1 is not None else ("0", "2", "3")
    stem = dict(zip(stem_convs, ("conv1", "conv2", "conv3"), strict=True))

    def basic_conv(names, container, path=""):  # -> "<today's container><path>.conv|bn.<entry>"
        def rename(m):
            if m[container] not in names:
                return None
            middle = f".{m[path]}" if path else ""  # the branch inside an Inception module
            return f"{names[m[container]]}{middle}.{_CONV_BN[int(m['index'])]}.{m['entry']}"

        return rename

    entry = rf"(?P<index>[01])\.(?P<entry>{_BN})"  # within the old (conv, [BN], ReLU) Sequential
    aux = {"aux1": "aux1.conv", "aux2": "aux2.conv"}
    rules = [
        (rf"stem\.(?P<at>\d)\.{entry}", basic_conv(stem, "at")),
        (
            rf"(?P<block>inception\w+?(?:\.\d)?)\.(?P<branch>branch1|branch[23]\.[01]|branch4\.1)\.{entry}",
            basic_conv(_OLD_INCEPTION, "block", "branch"),
        ),
        (rf"(?P<aux>aux[12])\.conv\.{entry}", basic_conv(aux, "aux")),
        (r"(aux[12]\.fc[12]|fc)\.(weight|bias)", r"\1.\2"),
    ]
    return _rename(key, rules)


def old_detection_key(model, key):
    """FasterRCNN, MaskRCNN: a BasicBlock's ``shortcut.0``/``.1`` -> ``downsample.0``/``.1``; every other
    old name is today's (a ``downsample`` key is today's layout, not the old one)."""
    rules = [
        (r"(.*)\.downsample\..*", lambda m: None),
        (r"(.*)\.shortcut\.([01])\.(\w+)", r"\1.downsample.\2.\3"),
        (r".*", r"\g<0>"),
    ]
    return _rename(key, rules)
