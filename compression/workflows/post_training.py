"""`compressor quantize --stats`: range-linear PTQ from a stats file, then a real int8 model."""
from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import yaml
from torch import nn

from ..benchmark import speedup_summary
from ..engine_latency import measure_with_fp32_engines, vs_fastest_fp32
from ..engines.qdq_onnx import save_qdq_onnx
from ..engines.registry import AUTO, ENGINES
from ..core.checkpoint import atomic_write
from ..core.errors import UserError, first_line
from ..evaluation import evaluate
from ..export import max_abs_diff, run_onnx, run_program, top1_agreement
from ..model_source import LoadedModel
from ..packing_int8 import Int8Settings, export_packed_int8
from ..quantization.int8_backend import convert_to_int8
from ..quantization.int8_files import save_int8_torchscript
from ..quantization.int8_program import save_int8_program
from ..quantization.lapq import LapqResult, lapq as lapq_search
from ..quantization.lapq_settings import LapqSettings
from ..quantization.distiller_names import model_graph
from ..quantization.ptq import SimulatedModel, fp32_layers, int8_deployable, layer_plan, simulate
from ..quantization.ptq_config import PostTrainConfig
from ..quantization.qat import (
    binary_activations,
    carries_quantizers,
    int8_bit_changes,
    qat_activation_ranges,
    quantized_weight,
    remove_quantizers,
)
from ..quantization.range_report import range_report
from ..quantization.stats_format import check_stats_match_model
from ..quantization.tolerance import SearchResult, search
from ..quiet import CallableModule
from ..report import state_dict_bytes
from .int8_engines import EngineModels, build_engine_models, choose, compare_engines, engines_for

LATENCY_BATCH = 8


@dataclass
class QuantizeData:
    """Calibration images, validation data (for the search) and test data (for the report)."""

    calibration: List[torch.Tensor]
    val_loader: Any
    test_loader: Any
    calibration_labels: List[torch.Tensor] = field(default_factory=list)  # LAPQ's loss is measured on them


@dataclass
class QuantizeResult:
    report: Dict[str, Any]
    linear_quant_params: Dict[str, Any]
    search: Optional[SearchResult] = None
    files: Dict[str, str] = field(default_factory=dict)


def quantize_post_training(loaded: LoadedModel, config: PostTrainConfig, stats: Dict, data: QuantizeData,
                           out: Path, device: torch.device, tolerance: Optional[float] = None,
                           write_onnx: bool = False, lapq: Optional[LapqSettings] = None,
                           engine: str = "torch", pack: bool = False) -> QuantizeResult:
    if carries_quantizers(loaded.model):  # its int8 copy would compute with the FP32 weights behind them
        raise UserError("this model was trained with QAT quantizers: quantize its checkpoint without statistics "
                        "(no --stats, no model_activation_stats), with the weights and ranges it learned")
    model = loaded.model.to(device).eval()
    graph = model_graph(model)
    check_stats_match_model(stats, model, graph)
    plan = layer_plan(config, model, graph)
    simulated = simulate(model, config, stats, plan, data.calibration)  # bad settings fail here, before any work
    fp32 = _evaluate(model, data.test_loader, device)
    found = None
    if tolerance is not None:
        fp32_val = _evaluate(model, data.val_loader, device).top1
        found = search(model, config, stats, plan, data.calibration,
                       lambda m: _evaluate(m, data.val_loader, device).top1, fp32_val, tolerance)
        plan = found.plan
        config = config.model_copy(update={"clip_acts": found.clip, "clip_n_stds": config.clip_n_stds or 3.0})
        simulated = simulate(model, config, stats, plan, data.calibration)
    searched = None
    if lapq is not None:
        searched = _lapq(model, config, stats, plan, data, device, lapq)
        model, config, plan = searched.model, searched.config, searched.plan
        simulated = simulate(model, config, stats, plan, ranges=searched.ranges)
    report = {"arch": loaded.info.name, "fp32_top1": fp32.top1, "fp32_top5": fp32.top5,
              "simulated_top1": _evaluate(simulated.model, data.test_loader, device).top1,
              "clip_acts": config.clip_acts, "fp32_layers": fp32_layers(plan),
              **range_report(stats, simulated.layout)}
    if searched is not None:
        report.update(clip_acts="LAPQ", lapq=searched.summary())
    out.mkdir(parents=True, exist_ok=True)
    result = QuantizeResult(report, simulated.params, found)
    _write_params(out / "quant_params.yaml", simulated.params)
    result.files["quant_params"] = str(out / "quant_params.yaml")
    if int8_deployable(simulated.plan):
        _real_int8(model, config.per_channel_wts, list(simulated.layout.int8_fp32), simulated.int8_ranges, data,
                   out, result, write_onnx, simulated, engine, loaded if pack else None)
        model.to(device)
    else:
        report["top1"] = report["simulated_top1"]
        report["int8"] = "not built: real int8 kernels need 8-bit weights and activations"
        if pack:
            report["int8_packed"] = "not written: there is no int8 model to pack"
    return result


def quantize_qat_model(loaded: LoadedModel, data: QuantizeData, out: Path, device: torch.device,
                       write_onnx: bool = False, engine: str = "torch", pack: bool = False) -> QuantizeResult:
    """A model trained with QAT quantizers to real int8, with the activation ranges it learned and the
    weights its forward pass used (a 4-bit layer's weights on its 4-bit grid, not the FP32 weights
    behind them, which the QAT model never computed with; 1-bit weights are two integers per channel)."""
    binary = binary_activations(loaded.model)
    if binary:
        raise UserError(f"1-bit activations ({', '.join(binary)}) have no int8 form: the int8 model would compute "
                        "8-bit steps of their [0, alpha] range, not the {0, alpha} threshold the model was trained "
                        "with; train them with 2 bits or more to convert the model to int8")
    model = loaded.model.to(device).eval()
    qat = _evaluate(model, data.test_loader, device)
    reference = copy.deepcopy(model).cpu()  # the QAT model the int8 model is compared with
    ranges = {name: bounds for name, bounds in qat_activation_ranges(model).items() if name}
    trained = {name: weight for name, module in model.named_modules()
               if (weight := quantized_weight(module)) is not None}
    remove_quantizers(model)
    fp32 = _evaluate(model, data.test_loader, device)
    with torch.no_grad():
        for name, weight in trained.items():
            model.get_submodule(name).weight.copy_(weight)
    report = {"arch": loaded.info.name, "qat_top1": qat.top1, "fp32_top1": fp32.top1, "fp32_top5": fp32.top5,
              "fp32_layers": [], "source": "QAT quantizers of the checkpoint",
              "int8_bit_changes": int8_bit_changes(reference)}
    out.mkdir(parents=True, exist_ok=True)
    result = QuantizeResult(report, {})
    _real_int8(model, True, [], ranges, data, out, result, write_onnx, engine=engine, pack=loaded if pack else None,
               reference=reference)
    return result


def _lapq(model: nn.Module, config: PostTrainConfig, stats: Dict, plan, data: QuantizeData, device: torch.device,
          settings: LapqSettings) -> LapqResult:
    batches = [(images.to(device), labels.to(device))
               for images, labels in zip(data.calibration, data.calibration_labels)]
    return lapq_search(model, config, stats, plan, batches, settings)


def _real_int8(model: nn.Module, per_channel: bool, fp32_modules, ranges, data: QuantizeData, out: Path,
               result: QuantizeResult, write_onnx: bool, simulated: Optional[SimulatedModel] = None,
               engine: str = "torch", pack: Optional[LoadedModel] = None,
               reference: Optional[nn.Module] = None) -> None:
    """`reference`: the model the int8 one is compared with when there is no `simulated` one (a QAT model)."""
    cpu_model = model.cpu()
    example = data.calibration[0][:1].cpu()
    input_range = simulated.input_range if simulated is not None else None
    int8 = convert_to_int8(cpu_model, (example,), [batch.cpu() for batch in data.calibration], fp32_modules,
                           per_channel, ranges, input_range=input_range)
    tested = _evaluate_int8(int8, data.test_loader)
    path = out / "model_int8.pt"
    size = save_int8_torchscript(int8, (example,), path)
    engines = build_engine_models(int8, engines_for(engine), example, out, engine == AUTO)
    with tempfile.TemporaryDirectory() as folder:  # the FP32 ONNX file the other engines time
        latency, fp32, skipped = measure_with_fp32_engines(engines.models, cpu_model, tuple(example.shape[1:]), folder,
                                                  batch_size=LATENCY_BATCH, repeats=10, warmup=2)
    chosen = choose(engine, latency)
    result.files["int8_model"] = str(path)
    result.report.update({
        "top1": tested.top1, "top5": tested.top5, "int8": "x86/onednn quantized kernels",
        "int8_activation_bits": int8.activation_bits,
        "fp32_modules": int8.fp32_modules, "fp32_file_bytes": state_dict_bytes(cpu_model), "int8_file_bytes": size,
        "fp32_latency_ms": fp32["torch"].median_ms, "int8_latency_ms": latency[chosen].median_ms,
        **speedup_summary(latency[chosen], fp32["torch"], ("int8", "fp32")), "latency_batch_size": LATENCY_BATCH,
        **vs_fastest_fp32(latency[chosen], fp32), **({"fp32_engines_skipped": skipped} if skipped else {})})
    if simulated is not None:
        _compare_with_simulated(int8, simulated, data.test_loader, result)
    elif reference is not None:
        result.report.update(_agreement(reference, int8, data.test_loader))
    _engine_report(int8, engines, latency, chosen, engine, simulated, data.test_loader, result, reference)
    result.report["file_check_images"] = len(data.calibration[0])  # the files are compared on this batch
    _int8_program(int8, data.calibration[0].cpu(), out / "model_int8.pt2", result)
    if write_onnx:
        _int8_onnx(int8, data.calibration[0].cpu(), out / "model_int8.onnx", result)
    if pack is not None:
        settings = Int8Settings(per_channel, dict(ranges), input_range, list(fp32_modules),
                                simulated.params if simulated is not None else {})
        _int8_packed(pack, cpu_model, int8, settings, data.calibration[0].cpu(), out / "model_int8.cpk", result)


def _engine_report(int8, engines: EngineModels, latency, chosen: str, choice: str,
                   simulated: Optional[SimulatedModel], loader, result: QuantizeResult,
                   qat: Optional[nn.Module] = None) -> None:
    """Each engine's int8 latency, file, FP32 ops and agreement with the simulated (or QAT) model; the engine
    reported."""
    others = {name: model for name, model in engines.models.items() if name != "torch"}
    reference = simulated.model if simulated is not None else qat if qat is not None else CallableModule(int8)
    scores = compare_engines(others, reference, loader) if others else {}
    report = result.report
    report["engine"] = chosen
    compared_with = "simulated" if simulated is not None else "QAT model" if qat is not None else "torch int8"
    report["int8_engines"] = {name: {
        "latency_ms": latency[name].median_ms,
        "file": engines.qdq_file if name != "torch" else result.files["int8_model"],
        **({"fp32_ops": engines.fp32_ops[name], **scores[name], "compared_with": compared_with}
           if name in scores else {})}
        for name in engines.models}
    if choice == AUTO:
        timings = {name: timed.median_ms for name, timed in latency.items()}
        report["engine_auto"] = {"chosen": chosen, "int8_latency_ms": timings,
                                 **({"skipped": engines.skipped} if engines.skipped else {})}
    if engines.qdq_file:
        result.files["int8_qdq_onnx"] = engines.qdq_file
    if chosen != "torch":
        report.update(top1=scores[chosen]["top1"], top5=scores[chosen]["top5"],
                      int8=f"{ENGINES[chosen].label} int8, QDQ ONNX")


def _int8_program(int8, batch: torch.Tensor, path: Path, result: QuantizeResult) -> None:
    """The same int8 model as a torch.export file, loaded back and run once on a calibration batch."""
    size = save_int8_program(int8, (batch[:1],), path)
    actual, expected = run_program(path, batch), int8(batch)
    result.files["int8_program"] = str(path)
    result.report.update({"int8_program_bytes": size, "program_max_abs_diff": max_abs_diff(actual, expected),
                          "program_top1_agreement": top1_agreement(actual, expected)})


def _int8_packed(loaded: LoadedModel, model: nn.Module, int8, settings: Int8Settings, batch: torch.Tensor,
                 path: Path, result: QuantizeResult) -> None:
    """The int8 model as a packed file, converted again from it and compared with `int8` on `batch`."""
    packed = export_packed_int8(loaded, model, int8, settings, path, batch)
    weights = [t for t in packed.tensors if t["name"].endswith(".weight") and
               t["name"].rsplit(".", 1)[0] in packed.quantized_layers]
    bits = 8.0 * sum(t["packed_bytes"] for t in weights) / max(sum(t["numel"] for t in weights), 1)
    result.files["int8_packed"] = str(path)
    result.report.update({"packed_file_bytes": packed.file_bytes,
                          "packed_ratio_vs_fp32": packed.fp32_bytes / packed.file_bytes,
                          "packed_int8_bits_per_weight": bits, "packed_max_abs_diff": packed.max_abs_diff})


def _int8_onnx(int8, batch: torch.Tensor, path: Path, result: QuantizeResult) -> None:
    """The same int8 model as QDQ ONNX, run once in onnxruntime on a calibration batch.

    No stand-in from another quantizer here: the file must hold the quantization just reported.
    """
    try:
        save_qdq_onnx(int8, (batch[:1],), path)
    except UserError as err:
        result.report["int8_onnx"] = f"not written: {first_line(err)}"
        return
    result.files["int8_onnx"] = str(path)
    result.report["onnx_max_abs_diff"] = max_abs_diff(run_onnx(path, batch), int8(batch))


def _agreement(reference: nn.Module, int8, loader) -> Dict[str, float]:
    """Top-1 agreement and largest logit difference of the int8 model and `reference` on the test images."""
    agree, count, diff = 0, 0, 0.0
    reference.cpu()
    with torch.no_grad():
        for images, *_ in loader:
            expected, actual = reference(images.cpu()), int8(images.cpu())
            agree += (expected.argmax(1) == actual.argmax(1)).sum().item()
            count += len(images)
            diff = max(diff, (expected - actual).abs().max().item())
    return {"simulated_top1_agreement": agree / max(count, 1), "simulated_max_abs_diff": diff}


def _compare_with_simulated(int8, simulated: SimulatedModel, loader, result: QuantizeResult) -> None:
    """Agreement with the simulated model, the FP32 layers each keeps and the ranges the int8 model could not use."""
    reasons = simulated.layout.int8_fp32
    result.report.update({
        **_agreement(simulated.model, int8, loader),
        "fp32_modules": {name: reasons.get(name, why) for name, why in int8.fp32_modules.items()},
        "int8_unused_ranges": range_report(simulated.layout.stats_use, simulated.layout,
                                           int8.unused_ranges)["int8_unused_ranges"]})


def _evaluate(model: nn.Module, loader, device):
    return evaluate(model, loader, nn.CrossEntropyLoss(), device)


def _evaluate_int8(int8, loader):
    with torch.no_grad():
        return evaluate(CallableModule(int8), loader, nn.CrossEntropyLoss(), torch.device("cpu"))


def _write_params(path: Path, params: Dict[str, Any]) -> None:
    text = yaml.safe_dump({"linear_quant_params": params}, sort_keys=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
