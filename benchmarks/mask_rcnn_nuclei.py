"""Mask R-CNN on the nuclei image: trained on random tiles of the training region, detection F1 on the held-out strip.

Lecture: "Instance segmentation - Mask R-CNN [He et al., 2017]".  An example, not a benchmark: no
timing asserts, nothing imported by tests.  Data: tinygrad_med/data/nuclei.py (BBBC038, 125 annotated
nuclei; training region columns 0..383, held-out strip columns 384..511); the instance labels of each
random tile become boxes, labels and masks with data/detection.py::instances_to_targets.

Scoring: detections with score >= --score are pasted (mask probability >= 0.5) into one instance image,
highest score first, each pixel to the first instance that claims it; pixels where two instances touch
are cleared so that metrics.detection_f1 (which labels connected components) sees them apart.  The
F1 counts a predicted nucleus as found when its IoU with a true nucleus is above 0.5.

    python benchmarks/mask_rcnn_nuclei.py [--steps 120] [--batch 4] [--tile 128] [--lr 3e-3]

Measured 2026-11-26 on the 2-core CPU machine (shared), defaults: 120 steps of 4 tiles in 48 s; on the held-out
strip 43 detections for 30 true nuclei, detection F1 0.842 (precision 0.889, recall 0.800).
"""

import argparse
import time

import tinygrad_med as tm
from tinygrad_med.data.detection import collate_detection, instances_to_targets
from tinygrad_med.data.nuclei import NucleiDataset
from tinygrad_med.models.mask_rcnn import MaskRCNN
from tinygrad_med.training.metrics import detection_f1
from tinygrad_med.training.objectives.detection import instance_image


def make_model():
    """Mask R-CNN for one class (nucleus) at stride 8, anchors of 16 and 32 pixels; room for ~100 nuclei per image."""
    rpn = {"pre_nms_top_n": {"training": 600, "testing": 1500}, "post_nms_top_n": {"training": 150, "testing": 300}}
    box = {"batch_size_per_image": 128, "score_thresh": 0.05, "detections_per_img": 200}
    return MaskRCNN(2, in_channels=1, widths=(16, 16, 32, 32), anchor_sizes=(16, 32), rpn_options=rpn,
                    box_options=box, mask_layers=(16, 16))  # fmt: skip


def train(model, steps, batch, tile, lr):
    dataset = NucleiDataset("train", tile=tile, samples_per_epoch=steps * batch, target="instance")
    optimizer, start = tm.optim.Adam(model.parameters(), lr=lr), time.time()
    for step in range(steps):
        samples = [dataset[step * batch + i] for i in range(batch)]
        images, targets = collate_detection([(image, instances_to_targets(labels)) for image, labels in samples])
        losses = model(tm.tensor(images), targets)
        optimizer.zero_grad()
        sum(losses.values(), tm.tensor(0.0)).backward()
        optimizer.step()
        if step % 25 == 0 or step == steps - 1:
            terms = ", ".join(f"{key[5:]} {value.item():.3f}" for key, value in losses.items())
            print(f"step {step:4d}  {terms}  ({time.time() - start:.0f} s)")


def instance_image_at(detections, shape, score):
    """One (H, W) instance image from the masks of the detections scored >= score (the same pasting and
    touching-instance separation as `tgm train maskrcnn`: objectives_detection.instance_image)."""
    keep = detections["scores"].numpy() >= score
    kept = {"scores": detections["scores"].numpy()[keep], "masks": detections["masks"].numpy()[keep, 0]}
    return instance_image(kept, shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--score", type=float, default=0.5)
    args = parser.parse_args()
    tm.manual_seed(0)
    model = make_model()
    train(model, args.steps, args.batch, args.tile, args.lr)
    image, instances = NucleiDataset("test", target="instance")[0]
    model.eval()
    with tm.no_grad():
        (found,) = model(tm.tensor(image[None]))
    result = detection_f1(instance_image_at(found, instances.shape, args.score), instances)
    print(f"held-out strip (512 x 128): {len(found['scores'])} detections, {result['n_true']} true nuclei; detection "
          f"F1 {result['f1']:.3f} (precision {result['precision']:.3f}, recall {result['recall']:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
