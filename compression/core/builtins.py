"""Every built-in component, model and dataset, registered by one explicit call.

Each module below registers its own classes when it is imported; this is the one place that
imports them all, for what needs every registry's real factories (building a run, writing the
catalog). The modules are named here as data, imported by name when a registry first needs a
real factory (core/registry.py): checking a schedule needs none of them, the registries know the
built-ins from the shipped catalog (core/declarations.py).
"""
from __future__ import annotations

import importlib

_PACKAGE = "compressor.compression"
BUILTIN_MODULES = (
    f"{_PACKAGE}.lr_schedulers",
    *(f"{_PACKAGE}.pruning.{name}" for name in
      ("data_ranked", "element_pruners", "nm_pruner", "regularizers", "structure_pruners")),
    f"{_PACKAGE}.thinning.extensions",
    f"{_PACKAGE}.factorization.extension",
    f"{_PACKAGE}.folding.extension",
    f"{_PACKAGE}.quantization.qat.quantizers",
    f"{_PACKAGE}.quantization.registration",
    f"{_PACKAGE}.quantization.weight_sharing",
    *(f"{_PACKAGE}.models.{name}" for name in
      ("digits", "fashion", "resnet_cifar", "simplenet", "torchvision_zoo", "earlyexit", "alexnet_bn",
       "mobilenet_v1", "plain_cifar", "preact_resnet", "preact_resnet_cifar", "resnext_cadene", "simplenet_cifar",
       "vgg_cifar")),
    *(f"compressor.datasets.{name}" for name in
      ("digits", "fake", "fashion_mnist", "folder", "imagenet", "npz", "torchvision_sets")),
)


def load_builtins() -> None:
    """Register every built-in pruner, quantizer, regularizer, lr scheduler, extension, model and dataset."""
    for name in BUILTIN_MODULES:
        importlib.import_module(name)
