"""`compressor summary`: per-layer sparsity, parameters and MACs."""
from __future__ import annotations

from dataclasses import asdict

import click

from .common import emit_json, json_option, model_options, render_table, threads_option


@click.command()
@model_options
@threads_option
@json_option
def summary(checkpoint, arch, pretrained, weights, num_classes, input_size, as_json):
    """Per-layer table: shape, parameters, non-zeros, sparsity, zeroed filters/channels, MACs.

    For a packed file (`export --format packed`) also each layer's packed bytes, bits per weight
    and share of the file.

    \b
    Examples:
      compressor summary --arch resnet18
      compressor summary --checkpoint runs/digits_agp-x/best.pt --json
      compressor summary --checkpoint digits.cpk
    """
    # torch and the library load here, not for `--help`
    from ..compression.model_source import load_model
    from ..compression.packing import packed_layers
    from ..compression.summary import summarize

    loaded = load_model(checkpoint, arch, bool(pretrained), weights, num_classes, input_size)
    result = summarize(loaded.model, loaded.info.input_shape)
    packed = packed_layers(loaded.checkpoint, {layer.name: layer.params for layer in result.layers}) \
        if loaded.checkpoint and "packed" in loaded.checkpoint else None
    if as_json:
        extra = {} if packed is None else {"packed": {
            "file_bytes": loaded.checkpoint["packed"]["file_bytes"],
            "layers": {name: asdict(layer) for name, layer in packed.items()}}}
        emit_json({"arch": loaded.info.name, **result.to_dict(), **extra})
        return
    rows = [(layer.name, "x".join(map(str, layer.shape)), f"{layer.params:,}", f"{layer.nnz:,}",
             f"{layer.sparsity:.1%}", layer.zero_filters, layer.zero_channels,
             f"{layer.macs:,}", f"{layer.effective_macs:,}") for layer in result.layers]
    # the footer counts every parameter (biases, BatchNorm): its sparsity is theirs, not the Conv/Linear weights'
    footer = ("total (all parameters)", "", f"{result.total_params:,}", f"{result.nnz:,}",
              f"{1 - result.nnz / max(result.total_params, 1):.1%}", "", "", f"{result.macs:,}",
              f"{result.effective_macs:,}")
    if result.other_macs:  # computed by modules themselves, outside Conv/Linear layers (attention, ...)
        rows.append(("other operations", "", "", "", "", "", "", f"{result.other_macs:,}", f"{result.other_macs:,}"))
    columns = ["layer", "shape", "params", "nnz", "sparsity", "zero filters", "zero channels", "MACs",
               "effective MACs"]
    if packed is not None:
        rows, footer, columns = _with_packed(rows, footer, columns, packed, loaded.checkpoint["packed"]["file_bytes"])
    render_table(f"{loaded.info.name}: sparsity of Conv/Linear weights", columns, rows, footer)


def _with_packed(rows, footer, columns, packed, file_bytes):
    """The packed file's bytes per layer; the other modules' tensors and the record in one row each."""
    def cells(layer):
        return (f"{layer.bytes:,}", f"{layer.bits_per_weight:.2f}", f"{layer.share:.1%}") if layer else ("", "", "")

    listed = {row[0] for row in rows}
    other = sum(layer.bytes for name, layer in packed.items() if name not in listed)
    record = file_bytes - sum(layer.bytes for layer in packed.values())
    blank = ("",) * (len(columns) - 1)
    rows = [row + cells(packed.get(row[0])) for row in rows]
    rows.append(("other tensors", *blank, f"{other:,}", "", f"{other / file_bytes:.1%}"))
    rows.append(("record", *blank, f"{record:,}", "", f"{record / file_bytes:.1%}"))
    footer = footer + (f"{file_bytes:,}", "", "100%")
    return rows, footer, columns + ["packed bytes", "bits/weight", "share"]
