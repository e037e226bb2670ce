"""Data loaders on the real packaged data, the DataLoader's batching/shuffling/prefetch, and transforms."""

import importlib.util

import numpy
import pytest

from tinygrad_med.data import (
    DataLoader,
    DigitsDataset,
    MedMNIST,
    MissingPackageError,
    NucleiDataset,
    PhantomDataset,
    Subset,
    TensorDataset,
    default_collate,
    instance_boxes,
    load_nuclei,
    make_phantom,
)
from tinygrad_med.data import transforms as T
from tinygrad_med.data._packages import package_file, require
from tinygrad_med.data.registry import get_dataset
from tinygrad_med.errors import DataError, ShapeError
from tinygrad_med.models import UnknownNameError

needs_stardist = pytest.mark.skipif(
    importlib.util.find_spec("stardist") is None or importlib.util.find_spec("tifffile") is None,
    reason="stardist/tifffile missing",
)
needs_nilearn = pytest.mark.skipif(importlib.util.find_spec("nilearn") is None, reason="nilearn missing")


# ---------------------------------------------------------------------------- DataLoader
def test_batches_cover_every_sample_once_and_drop_last():
    data = TensorDataset(numpy.arange(10), numpy.arange(10) * 2)
    loader = DataLoader(data, batch_size=3, shuffle=True, seed=1)
    seen = numpy.concatenate([x.numpy() for x, _ in loader])
    assert sorted(seen) == list(range(10)) and len(loader) == 4
    for x, y in loader:
        assert numpy.array_equal(y.numpy(), 2 * x.numpy())  # rows stay paired
    dropped = DataLoader(data, batch_size=3, drop_last=True)
    assert [len(x) for x, _ in dropped] == [3, 3, 3] and len(dropped) == 3


def test_shuffle_is_seeded_per_epoch_and_set_epoch_replays_an_epoch():
    data = TensorDataset(numpy.arange(20))
    a, b = DataLoader(data, 5, shuffle=True, seed=3), DataLoader(data, 5, shuffle=True, seed=3)
    first = [x.numpy().tolist() for (x,) in a]
    second = [x.numpy().tolist() for (x,) in a]
    assert first == [x.numpy().tolist() for (x,) in b] and first != second
    b.set_epoch(1, start_batch=2)
    assert [x.numpy().tolist() for (x,) in b] == second[2:]
    c = DataLoader(data, 5, shuffle=True, seed=4)
    assert [x.numpy().tolist() for (x,) in c] != first


def test_prefetch_thread_gives_the_same_batches_and_reraises_errors():
    data = PhantomDataset(6, size=16)
    plain = [x.numpy() for x, _ in DataLoader(data, 2, shuffle=True, seed=5)]
    ahead = [x.numpy() for x, _ in DataLoader(data, 2, shuffle=True, seed=5, prefetch=2)]
    assert all(numpy.array_equal(p, q) for p, q in zip(plain, ahead, strict=True))

    class Broken(TensorDataset):
        def __getitem__(self, index):
            raise RuntimeError("sample 3 is broken")

    with pytest.raises(RuntimeError, match="sample 3 is broken"):
        list(DataLoader(Broken(numpy.zeros(4)), 2, prefetch=1))


def test_collate_and_bad_input():
    batch = default_collate([(numpy.zeros((1, 2, 2), numpy.float32), 3), (numpy.ones((1, 2, 2), numpy.float32), 4)])
    assert batch[0].shape == (2, 1, 2, 2) and batch[1].numpy().tolist() == [3, 4] and batch[1].dtype == numpy.int64
    with pytest.raises(ShapeError, match="differ in shape"):
        default_collate([numpy.zeros(2), numpy.zeros(3)])
    with pytest.raises(ShapeError, match=r"differ in length along dim 0: \[2, 3\]"):
        TensorDataset(numpy.zeros(2), numpy.zeros(3))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DataLoader(TensorDataset(numpy.zeros(2)), batch_size=0)
    assert len(Subset(TensorDataset(numpy.arange(5)), [1, 3])) == 2


# ---------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("spatial", [(8, 8), (4, 6, 6)])
def test_spatial_transforms_keep_image_and_mask_aligned(spatial):
    rng = numpy.random.default_rng(0)
    mask = rng.integers(0, 3, spatial)
    image = numpy.stack([mask * 10.0, mask * -1.0])  # the image is a function of the mask
    chain = T.Compose(
        [T.RandomFlip(0.5, spatial_dims=len(spatial)), T.RandomRot90(), T.RandomCrop((4,) * len(spatial))]
    )
    for seed in range(8):
        out_image, out_mask = chain(image, mask, numpy.random.default_rng(seed))
        assert out_image.shape == (2,) + (4,) * len(spatial) and out_mask.shape == (4,) * len(spatial)
        assert numpy.array_equal(out_image[0], out_mask * 10.0) and numpy.array_equal(out_image[1], -out_mask)


def test_transforms_are_functions_of_the_rng_and_intensity_leaves_the_mask():
    image, mask = numpy.random.default_rng(1).random((1, 8, 8)).astype(numpy.float32), numpy.eye(8, dtype=numpy.int64)
    chain = T.Compose([T.RandomFlip(), T.RandomIntensityScale(), T.RandomNoise(0.1)])
    a = chain(image, mask, numpy.random.default_rng(7))
    b = chain(image, mask, numpy.random.default_rng(7))
    assert numpy.array_equal(a[0], b[0]) and a[0].dtype == numpy.float32
    _, untouched = T.RandomNoise(0.5)(image, mask, numpy.random.default_rng(0))
    assert untouched is mask
    center, _ = T.CenterCrop((2, 2))(numpy.arange(16.0).reshape(1, 4, 4), None, None)
    assert center[0].tolist() == [[5.0, 6.0], [9.0, 10.0]]
    with pytest.raises(ShapeError, match="larger than the image"):
        T.RandomCrop((9, 9))(image, mask, numpy.random.default_rng(0))
    with pytest.raises(ShapeError, match="differ in their spatial size"):
        T.RandomFlip()(image, mask[:4], numpy.random.default_rng(0))


# ---------------------------------------------------------------------------- real data
@needs_stardist
def test_nuclei_image_and_instances_from_the_stardist_wheel():
    import sys

    image, instances = load_nuclei()
    assert "stardist" not in sys.modules and "tensorflow" not in sys.modules  # read by path, never imported
    assert image.shape == (512, 512) and image.dtype == numpy.uint16 and instances.shape == (512, 512)
    assert len(numpy.unique(instances)) - 1 == 125  # 125 annotated nuclei
    boxes, ids = instance_boxes(instances)
    assert boxes.shape == (125, 4) and numpy.all(boxes[:, 2] > boxes[:, 0]) and numpy.all(boxes[:, 3] > boxes[:, 1])
    first = instances[boxes[0, 1] : boxes[0, 3], boxes[0, 0] : boxes[0, 2]] == ids[0]
    assert first.any(axis=0).all() and first.any(axis=1).all()  # the box is tight


@needs_stardist
def test_nuclei_split_keeps_the_test_strip_unseen():
    train, test = NucleiDataset("train", tile=64, samples_per_epoch=4), NucleiDataset("test")
    x, y = train[0]
    assert x.shape == (1, 64, 64) and x.dtype == numpy.float32
    assert y.shape == (64, 64) and set(numpy.unique(y)) <= {0, 1}
    assert train.image.shape == (1, 512, 384) and test.image.shape == (1, 512, 128)
    tx, ty = test[0]
    _, full = load_nuclei()
    assert numpy.array_equal(ty, (full[:, 384:] > 0).astype(numpy.int64))
    assert 0.1 < ty.mean() < 0.3  # nuclei cover about a sixth of the strip
    instance = NucleiDataset("test", target="instance")
    assert instance[0][1].max() > 1 and instance.boxes()[0].shape[1] == 4
    assert numpy.array_equal(train[1][0], train[1][0])  # same (seed, epoch, index) -> same tile
    train.set_epoch(1)
    assert not numpy.array_equal(train[1][0], NucleiDataset("train", tile=64)[1][0])


@needs_nilearn
def test_mni152_patches_from_one_hemisphere_and_tiles_of_the_other():
    from tinygrad_med.data import MNI152Patches, load_mni152

    image, labels = load_mni152()
    assert image.shape == labels.shape == (99, 117, 95) and set(numpy.unique(labels)) == {0, 1, 2}
    grey, white = (labels == 1).sum(), (labels == 2).sum()
    assert 50_000 < grey < 150_000 and 30_000 < white < 120_000
    train = MNI152Patches("train", patch=16, samples_per_epoch=2)
    x, y = train[0]
    assert x.shape == (1, 16, 16, 16) and y.shape == (16, 16, 16) and train.image.shape[1] == 49
    test = MNI152Patches("test")
    tiles = [test[i] for i in range(len(test))]
    assert all(t[0].shape == (1, 48, 48, 40) for t in tiles)
    covered = sum(int((t[1] > 0).sum()) for t in tiles)
    right = int((labels[50:98] > 0).sum())
    assert covered == right  # the four tiles hold every brain voxel of the right hemisphere


def test_digits_equal_scikit_learns_loader():
    datasets = pytest.importorskip("sklearn.datasets")
    from tinygrad_med.data import load_digits

    images, labels = load_digits()
    bunch = datasets.load_digits()
    assert numpy.array_equal(images[:, 0] * 16.0, bunch.images) and numpy.array_equal(labels, bunch.target)


def test_digits_split_is_stratified_and_disjoint():
    train, test = DigitsDataset("train"), DigitsDataset("test")
    assert len(train) + len(test) == 1797 and len(test) == 359
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == numpy.float32 and 0 <= x.min() and x.max() <= 1
    assert numpy.bincount(test.labels).min() >= 34  # every class about 36 times
    flat_train = {r.tobytes() for r in train.images}
    assert sum(r.tobytes() in flat_train for r in test.images) <= 3  # (the digits set has a few duplicates)


def test_medmnist_reads_the_npz_format(tmp_path):
    rng = numpy.random.default_rng(0)
    path = tmp_path / "pathmnist.npz"
    numpy.savez(
        path,
        train_images=rng.integers(0, 256, (5, 28, 28, 3), dtype=numpy.uint8),
        train_labels=rng.integers(0, 9, (5, 1)),
        val_images=numpy.zeros((2, 28, 28, 3), numpy.uint8),
        val_labels=numpy.zeros((2, 1)),
        test_images=numpy.zeros((3, 28, 28, 3), numpy.uint8),
        test_labels=numpy.zeros((3, 1)),
    )
    data = MedMNIST(path, "train")
    x, y = data[2]
    assert len(data) == 5 and x.shape == (3, 28, 28) and x.dtype == numpy.float32 and x.max() <= 1.0
    assert y.dtype == numpy.int64 and y.shape == () and data.in_channels == 3
    grey = tmp_path / "grey.npz"
    numpy.savez(grey, test_images=numpy.zeros((2, 28, 28), numpy.uint8), test_labels=numpy.ones((2, 14)))
    multi = MedMNIST(grey, "test")
    assert multi[0][0].shape == (1, 28, 28) and multi.multilabel and multi[0][1].shape == (14,)
    with pytest.raises(FileNotFoundError, match="does not download"):
        MedMNIST(tmp_path / "missing.npz")
    with pytest.raises(DataError, match="lacks"):
        MedMNIST(grey, "train")


@pytest.mark.parametrize("ndim", [2, 3])
def test_phantoms_are_seeded_and_their_masks_exact(ndim):
    image, labels = make_phantom(32, ndim, seed=3)
    again, _ = make_phantom(32, ndim, seed=3)
    assert numpy.array_equal(image, again) and image.shape == labels.shape == (32,) * ndim
    assert set(numpy.unique(labels)) == {0, 1, 2}
    clean, _ = make_phantom(32, ndim, seed=3, noise=0.0, bias=0.0)
    lesion, tissue = clean[labels == 2].mean(), clean[(labels == 1)].mean()
    assert lesion > tissue  # lesions are brighter than the tissue around them
    assert not numpy.array_equal(make_phantom(32, ndim, seed=4)[1], labels)


def test_missing_package_error_names_the_package_and_the_command():
    with pytest.raises(MissingPackageError, match=r"pip install not_a_real_pkg_xyz"):
        require("not_a_real_pkg_xyz", "demo")
    with pytest.raises(MissingPackageError, match=r"'not_a_real_pkg_xyz'.*pip install"):
        package_file("not_a_real_pkg_xyz", "data", "x.tif", dataset="demo")


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'nucleii'; valid datasets: .*digits.*nuclei"):
        get_dataset("nucleii", "train")


def test_nuclei_without_stardist_names_the_package_and_the_command(monkeypatch):
    import importlib.util

    from tinygrad_med.data import nuclei

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "stardist" else real_find_spec(name, *a)
    )
    monkeypatch.setattr(nuclei, "_CACHE", {})
    with pytest.raises(
        MissingPackageError, match=r"nuclei: the data ships inside the Python package 'stardist'.*pip install stardist"
    ):
        NucleiDataset("test")
