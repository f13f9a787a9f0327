"""Every timm model as `timm/<name>` (timm is optional: `pip install 'compressor[timm]'`).

What the registry knows of a timm model comes from timm's pretrained config: the input shape
(`input_size`), the class count (`num_classes`) and, for ImageNet-1k models, the `imagenet`
dataset. A model whose config says its input size is fixed (ViTs: `fixed_input_size`) is built
for the input shape asked for (`img_size=`); a channel count other than the config's is passed
as `in_chans=`. Pretrained weights come from the local caches only (Hugging Face's and
torch.hub's), never downloaded; with another class count than the weights' the classifier starts
fresh (timm's rule). `name.tag` (`timm/resnet18.a1_in1k`) picks one of timm's weight tags.
"""
from __future__ import annotations

import difflib
import os
from functools import partial
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from ..core.errors import UserError
from ..core.registry import Entry, NoArgs

if TYPE_CHECKING:  # timm and torch load when a timm model is built, not when a schedule naming one is checked
    from torch import nn

PREFIX = "timm/"
INSTALL = "pip install 'compressor[timm]' (or pip install timm)"
_DEFAULT_SHAPE = (3, 224, 224)
_HF_FILES = ("model.safetensors", "pytorch_model.bin")
_ENTRIES: Dict[str, Entry] = {}


def is_timm_name(name: str) -> bool:
    return name.startswith(PREFIX)


def timm_entry(name: str) -> Entry:
    """The registry entry of `timm/<name>` (timm's list is read once per name)."""
    if name not in _ENTRIES:
        model_name = name[len(PREFIX):]
        config = _pretrained_config(model_name)
        classes = config.num_classes if config is not None and config.num_classes else 1000
        extra = {"input_shape": _own_shape(config), "num_classes": classes,
                 "default_dataset": "imagenet" if classes == 1000 else "", "takes_input_shape": True}
        _ENTRIES[name] = Entry(name, partial(_build, name, model_name, config), NoArgs,
                               f"timm model {model_name}", extra)
    return _ENTRIES[name]


def _timm():
    try:
        import timm
    except ImportError:
        raise UserError(f"timm models need the timm package, which is not installed: {INSTALL}") from None
    return timm


def _pretrained_config(model_name: str):
    """timm's pretrained config of the model (its default weights, or the `.tag` named); None if it has none."""
    timm = _timm()
    architecture = model_name.partition(".")[0]
    if not architecture or not timm.is_model(architecture):
        raise UserError(_unknown(model_name, timm.list_models(), "model", "timm.list_models()"))
    try:
        return timm.get_pretrained_cfg(model_name)
    except RuntimeError:  # timm's "Invalid pretrained tag"
        tags = timm.list_pretrained(f"{architecture}.*")
        raise UserError(_unknown(model_name, tags, "weight tag", f"timm.list_pretrained('{architecture}.*')")) from None


def _unknown(model_name: str, names: List[str], what: str, lister: str) -> str:
    close = difflib.get_close_matches(model_name, names, n=3, cutoff=0.6)
    message = f"unknown timm {what} '{PREFIX}{model_name}'"
    if close:
        message += "; did you mean " + " or ".join(f"'{PREFIX}{c}'" for c in close) + "?"
    return message + f" ({len(names)} in this timm: {lister} names them)"


def _build(name: str, model_name: str, config: Any, num_classes: int, pretrained: bool = False,
           input_shape: Optional[Sequence[int]] = None) -> nn.Module:
    kwargs: Dict[str, Any] = {"num_classes": num_classes, **_shape_arguments(config, input_shape)}
    if pretrained:
        # "file" is the first source timm reads from; with source "" it never turns to the hub or the URL
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": _cached_weights(name, config), "source": ""})
    try:
        return _timm().create_model(model_name, **kwargs)
    except TypeError as err:
        if "img_size" in kwargs and "img_size" in str(err):
            own = ",".join(map(str, config.input_size))
            raise UserError(f"model '{name}' takes {_size(config.input_size)} inputs only (timm cannot build it "
                            f"for {_size(input_shape)}): give --input-size {own}") from None
        raise UserError(f"timm could not build '{name}': {type(err).__name__}: {err}") from None
    except Exception as err:  # noqa: BLE001  (timm's builders and weight loading raise many kinds)
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        what = "load its pretrained weights into" if pretrained else "build"
        raise UserError(f"timm could not {what} '{name}' for input {_size(input_shape or _own_shape(config))}: "
                        f"{type(err).__name__}: {detail}") from None


def _shape_arguments(config: Any, input_shape: Optional[Sequence[int]]) -> Dict[str, Any]:
    """`in_chans` and (for fixed-size models) `img_size` when the input shape asked for is not timm's own."""
    own = _own_shape(config)
    shape = tuple(input_shape) if input_shape else own
    arguments: Dict[str, Any] = {}
    if shape[0] != own[0]:
        arguments["in_chans"] = shape[0]
    if config is not None and config.fixed_input_size and shape[1:] != own[1:]:
        arguments["img_size"] = shape[1:]
    return arguments


def _own_shape(config: Any) -> Tuple[int, int, int]:
    return tuple(config.input_size) if config is not None and config.input_size else _DEFAULT_SHAPE


def _size(shape: Optional[Sequence[int]]) -> str:
    return "x".join(map(str, shape)) if shape else "?"


def _cached_weights(name: str, config: Any) -> str:
    """The local file of the model's pretrained weights: Hugging Face's cache first, then torch.hub's."""
    if config is None or not (config.hf_hub_id or config.url):
        raise UserError(f"timm has no pretrained weights for model '{name}'; train it from scratch or use --weights")
    places = _hf_cache_places(config) + _torch_cache_places(config)
    for path, _ in places:
        if path is not None and os.path.isfile(path):
            return path
    looked = "; ".join(where for _, where in places)
    raise UserError(f"pretrained weights for model '{name}' not found in the local caches (looked for {looked}). "
                    "Weights are never downloaded: fetch them where there is a network (e.g. huggingface-cli download "
                    f"{config.hf_hub_id or '...'}) and copy the cache here (HF_HOME), or copy the file into "
                    "torch.hub's checkpoints/ folder (TORCH_HOME)")


def _hf_cache_places(config: Any) -> List[Tuple[Optional[str], str]]:
    """(cached path or None, where it was looked for) for each file timm reads from the Hugging Face hub."""
    if not config.hf_hub_id:
        return []
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return []
    repo, _, revision = config.hf_hub_id.partition("@")
    files = (config.hf_hub_filename,) if config.hf_hub_filename else _HF_FILES
    cache = constants.HF_HUB_CACHE
    folder = os.path.join(cache, "models--" + repo.replace("/", "--"))
    places = []
    for file in files:
        found = try_to_load_from_cache(repo, file, cache_dir=cache, revision=revision or None)
        places.append((found if isinstance(found, str) else None, os.path.join(folder, "snapshots", "*", file)))
    return places


def _torch_cache_places(config: Any) -> List[Tuple[Optional[str], str]]:
    if not config.url:
        return []
    import torch

    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(config.url))
    return [(path, path)]
