"""`compressor summary`: per-layer sparsity, parameters and MACs."""
from __future__ import annotations

import click

from ..compression.model_source import load_model
from ..compression.summary import summarize
from .common import emit_json, json_option, model_options, render_table, threads_option


@click.command()
@model_options
@threads_option
@json_option
def summary(checkpoint, arch, pretrained, weights, num_classes, input_size, as_json):
    """Per-layer table: shape, parameters, non-zeros, sparsity, zeroed filters/channels, MACs.

    \b
    Examples:
      compressor summary --arch resnet18
      compressor summary --checkpoint runs/digits_agp-x/best.pt --json
    """
    loaded = load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size)
    result = summarize(loaded.model, loaded.info.input_shape)
    if as_json:
        emit_json({"arch": loaded.info.name, **result.to_dict()})
        return
    rows = [(layer.name, "x".join(map(str, layer.shape)), f"{layer.params:,}", f"{layer.nnz:,}",
             f"{layer.sparsity:.1%}", layer.zero_filters, layer.zero_channels,
             f"{layer.macs:,}", f"{layer.effective_macs:,}") for layer in result.layers]
    footer = ("total (all parameters)", "", f"{result.total_params:,}", f"{result.nnz:,}",
              f"{result.sparsity:.1%}", "", "", f"{result.macs:,}", f"{result.effective_macs:,}")
    render_table(f"{loaded.info.name}: sparsity of Conv/Linear weights",
                 ["layer", "shape", "params", "nnz", "sparsity", "zero filters", "zero channels",
                  "MACs", "effective MACs"], rows, footer)
