"""The lecture's models, and a registry from the names ``tgm train MODEL`` takes to constructors.

cnn.py     MLP, SmallCNN
resnet.py  ResNet-18/34/50/101/152 (torchvision's names; ImageNet or CIFAR-style stem)
unet.py    U-Net 2D/3D (Ronneberger et al. 2015; Cicek et al. 2016)
vnet.py    V-Net (Milletari et al. 2016)
stn.py     STNClassifier: nn.SpatialTransformer + SmallCNN (Jaderberg et al. 2015)
fcn.py     FCN-32s/16s/8s (Long et al. 2015)
hyperdense.py  HyperDense-Net 2D/3D (Dolz et al. 2018)
captioning.py  image-to-text: CNN encoder + LSTM decoder (Show and Tell), Vocabulary; registered as 'captioner'
autoencoder.py ConvAutoencoder, VAE (Kingma and Welling 2013); registered as 'autoencoder', 'vae', 'vae2d'
prob_unet.py   Probabilistic U-Net (Kohl et al. 2018); registered as 'prob_unet'
graph_models.py  SpectralGCN, GeometricGCN, VertexMLP (per-vertex cortex parcellation), GraphClassifier
           (adaptive pooling); registered as 'spectral_gcn', 'geometric_gcn', 'vertex_mlp', 'graph_classifier'
(what each registered model is trained for -- its loss, metrics and pictures -- is tinygrad_med/training/objectives/)
alexnet.py AlexNet (Krizhevsky et al. 2012), ZF Net (Zeiler and Fergus 2014); LRN optional
vgg.py     VGG-11/13/16/19 (Simonyan and Zisserman 2014, configurations A, B, D, E)
googlenet.py  GoogLeNet / Inception v1 (Szegedy et al. 2014), two auxiliary classifiers
densenet.py   DenseNet-121/169/201/161 (Huang et al. 2016), CIFAR-style stem for small images
cnn3d.py   3D CNN for Alzheimer's diagnosis (Hosseini-Asl et al. 2016)
rpn.py, faster_rcnn.py, mask_rcnn.py  RPN, Faster R-CNN (Ren et al. 2015), Mask R-CNN (He et al. 2017); registered
           as 'fasterrcnn' and 'maskrcnn' (boxes and masks per image: training/objectives/detection.py)
As in torchvision, the functions alexnet and googlenet shadow their modules as attributes of this
package; import module-level names from the module (``from tinygrad_med.models.alexnet import LRN_PAPER``).
"""

from ..errors import UnknownNameError, fmt
from .alexnet import AlexNet, ZFNet, alexnet, zfnet
from .autoencoder import VAE, ConvAutoencoder
from .captioning import ImageCaptioner, Vocabulary
from .cnn import MLP, SmallCNN
from .cnn3d import AlzheimerCNN3D
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .faster_rcnn import FasterRCNN
from .fcn import FCN
from .googlenet import GoogLeNet, GoogLeNetOutputs, googlenet, googlenet_loss
from .graph_models import GeometricGCN, GraphClassifier, SpectralGCN, VertexMLP
from .hyperdense import HyperDenseNet
from .mask_rcnn import MaskRCNN
from .prob_unet import ProbUNet
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101, resnet152
from .rpn import RegionProposalNetwork
from .stn import STNClassifier
from .unet import UNet, UNet3D
from .vgg import VGG, vgg11, vgg13, vgg16, vgg19
from .vnet import VNet

__all__ = [
    "MLP",
    "SmallCNN",
    "STNClassifier",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "UNet",
    "UNet3D",
    "VNet",
    "FCN",
    "HyperDenseNet",
    "ImageCaptioner",
    "Vocabulary",
    "ConvAutoencoder",
    "VAE",
    "ProbUNet",
    "AlexNet",
    "alexnet",
    "ZFNet",
    "zfnet",
    "VGG",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "googlenet",
    "googlenet_loss",
    "DenseNet",
    "densenet121",
    "densenet169",
    "densenet201",
    "densenet161",
    "AlzheimerCNN3D",
    "RegionProposalNetwork",
    "FasterRCNN",
    "MaskRCNN",
    "SpectralGCN",
    "GeometricGCN",
    "VertexMLP",
    "GraphClassifier",
    "MODELS",
    "create_model",
    "UnknownNameError",
]


def _mlp(in_channels, num_classes, input_size=(8, 8), **options):
    features = in_channels
    for size in input_size:
        features *= size
    return MLP(features, num_classes, **options)


# The detection models' defaults for nuclei-sized objects (10-30 pixels) on 2 CPU cores: stride 8, anchors of
# 16 and 32 pixels, room for ~100 objects per image (as benchmarks/mask_rcnn_nuclei.py).
_DETECTION = {
    "widths": (16, 16, 32, 32),
    "anchor_sizes": (16, 32),
    "rpn_options": {
        "pre_nms_top_n": {"training": 600, "testing": 1500},
        "post_nms_top_n": {"training": 150, "testing": 300},
    },
    "box_options": {
        "batch_size_per_image": 128,
        "score_thresh": 0.05,
        "detections_per_img": 200,
        "class_agnostic_nms": True,
    },
}

MODELS = {
    "mlp": (_mlp, "multi-layer perceptron (Flatten, Linear, ReLU, Linear) for small images"),
    "cnn": (
        lambda in_channels, num_classes, **o: SmallCNN(in_channels, num_classes, **o),
        "small CNN: conv-BN-ReLU blocks, max pooling, global average pooling",
    ),
    "stn": (
        lambda in_channels, num_classes, **o: STNClassifier(in_channels, num_classes, **o),
        "spatial transformer (Jaderberg et al. 2015) in front of the small CNN; starts as the identity warp",
    ),
    "resnet18": (
        lambda in_channels, num_classes, stem="cifar", **o: resnet18(in_channels, num_classes, stem, **o),
        "ResNet-18 (He et al. 2015), CIFAR-style stem by default",
    ),
    "unet": (
        lambda in_channels, num_classes, **o: UNet(in_channels, num_classes, **o),
        "2D U-Net (Ronneberger et al. 2015), widths 16-32-64 by default",
    ),
    "unet3d": (
        lambda in_channels, num_classes, **o: UNet3D(in_channels, num_classes, **o),
        "3D U-Net (Cicek et al. 2016), widths 8-16-32 by default",
    ),
    "vnet": (
        lambda in_channels, num_classes, **o: VNet(in_channels, num_classes, **o),
        "V-Net (Milletari et al. 2016): residual stages, strided-conv down-sampling, PReLU; widths 8-16-32",
    ),
    "fcn": (
        lambda in_channels, num_classes, **o: FCN(in_channels, num_classes, **o),
        "FCN-8s (Long et al. 2015): VGG-like backbone, skips from pool3/pool4, bilinear-initialised up-sampling",
    ),
    "hyperdense": (
        lambda in_channels, num_classes, **o: HyperDenseNet(in_channels, num_classes, **o),
        "3D HyperDense-Net (Dolz et al. 2018): one densely interconnected path per modality (input channel)",
    ),
    "hyperdense2d": (
        lambda in_channels, num_classes, **o: HyperDenseNet(in_channels, num_classes, spatial_dims=2, **o),
        "2D HyperDense-Net (Dolz et al. 2018): one densely interconnected path per modality (input channel)",
    ),
    "densenet": (
        lambda in_channels, num_classes, **o: DenseNet(
            **{"growth_rate": 12, "block_config": (4, 4, 4), "num_init_features": 24, "stem": "cifar", **o},
            in_channels=in_channels,
            num_classes=num_classes,
        ),
        "DenseNet-BC (Huang et al. 2016) for small images: k=12, blocks (4, 4, 4), 3x3 stem",
    ),
    "autoencoder": (
        lambda in_channels, num_classes, **o: ConvAutoencoder(in_channels, **o),
        "convolutional autoencoder (8-number code, widths 16-32); trained to reconstruct its input",
    ),
    "vae": (
        lambda in_channels, num_classes, **o: VAE(in_channels, **o),
        "variational autoencoder (Kingma and Welling 2013), 8 latent dimensions; negative ELBO with free bits",
    ),
    "vae2d": (
        lambda in_channels, num_classes, **o: VAE(in_channels, **{"latent_dim": 2, **o}),
        "the VAE with a 2-D code, whose latent space latent.png draws (test codes by class, decoded grid)",
    ),
    "prob_unet": (
        lambda in_channels, num_classes, **o: ProbUNet(in_channels, num_classes, **o),
        "Probabilistic U-Net (Kohl et al. 2018): U-Net + prior/posterior nets, 6 latent dimensions",
    ),
    "fasterrcnn": (
        lambda in_channels, num_classes, **o: FasterRCNN(num_classes, in_channels, **{**_DETECTION, **o}),
        "Faster R-CNN (Ren et al. 2015): ResNet-style backbone (stride 8), RPN, RoIAlign box head",
    ),
    "maskrcnn": (
        lambda in_channels, num_classes, **o: MaskRCNN(num_classes, in_channels, **{**_DETECTION, **o}),
        "Mask R-CNN (He et al. 2017): Faster R-CNN with a 28 x 28 mask branch",
    ),
    "captioner": (
        lambda in_channels, num_classes, **o: ImageCaptioner(num_classes, in_channels, **o),
        "image-to-text (Show and Tell): CNN encoder + LSTM decoder writing a caption; num_classes = vocabulary size",
    ),
    "spectral_gcn": (
        lambda in_channels, num_classes, **o: SpectralGCN(in_channels, num_classes, **o),
        "per-vertex labels from Chebyshev graph convolutions (Defferrard et al. 2016), 3 blocks of K=8, width 32",
    ),
    "geometric_gcn": (
        lambda in_channels, num_classes, **o: GeometricGCN(in_channels, num_classes, **o),
        "per-vertex labels from the slide's Gaussian-kernel geometric convolution (MoNet), 3 blocks, 4 kernels",
    ),
    "vertex_mlp": (
        lambda in_channels, num_classes, **o: VertexMLP(in_channels, num_classes, **o),
        "per-vertex MLP on the same features, no graph (the baseline of the graph models)",
    ),
    "graph_classifier": (
        lambda in_channels, num_classes, **o: GraphClassifier(in_channels, num_classes, **o),
        "graph convolutions + adaptive soft-cluster pooling (DiffPool, 8 clusters) + classifier, any graph size",
    ),
}


def create_model(name, in_channels, num_classes, **options):
    """Build the registered model ``name``.

    Raises:
        UnknownNameError listing the valid names if ``name`` is not registered.
    """
    if name not in MODELS:
        valid = ", ".join(sorted(MODELS))
        raise UnknownNameError(fmt("create_model", f"unknown model {name!r}; valid models: {valid}"))
    constructor, _ = MODELS[name]
    return constructor(in_channels, num_classes, **options)
