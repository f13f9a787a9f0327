"""Distiller's own resnet18 / resnet50 statistics files on torchvision's resnet18 / resnet50.

Distiller names the operations of its ResNet blocks relu1, relu2 (relu3) and add; torchvision
calls one `relu` two or three times and adds with `+=`. This loads the canonical stats files of
Distiller's repository (examples/quantization/post_train_quant/stats/, read from
../shared/distiller-examples or --stats-dir) on the torchvision models and prints, per model:
the ranges in the file, how many quantize a tensor of the simulated model, how many belong to
operations folded or fused away as Distiller folds and fuses them (a convolution's output
before its BatchNorm, a ReLU after a quantized operation), the unused ones by name, the ranges
the real int8 model could not use (and why), and how the int8 model's top-1 agrees with the
simulated model's on the same images, with their largest logit difference. A last line is JSON.

No pretrained weights can be downloaded here: each model keeps random weights, its BatchNorm
statistics estimated on N fake 224x224 images (normalised as ImageNet's) so that its activations
have a trained network's scale, and a 10-class head fitted to those images (random labels,
`--fit-steps`; 0 keeps the head random), so that its answers on them are clear. Top-1 agreement
is measured on the fitted images and on as many unseen ones; it checks that the int8 model
computes what the simulated one does, not an accuracy. The largest logit difference is also
given in steps of the last layer's output grid, and FP32's agreement with the simulated model
for scale: where FP32's top-2 logits lie within a few steps of each other (unseen images, or a
random head), rounding alone decides the top-1.

    python benchmarks/distiller_resnet_stats.py [--images 128] [--size 224] [--fit-steps 300]
        [--models resnet18,resnet50] [--clip-acts NONE]
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch
from torch import nn
from torchvision import models, transforms
from torchvision.datasets import FakeData

from compressor.compression.quantization.post_train_quantizer import PostTrainLinearQuantizer
from compressor.compression.quantization.stats_format import read_stats

STATS_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "distiller-examples" / "examples"
             / "quantization" / "post_train_quant" / "stats")


def fake_images(count: int, size: int, offset: int) -> torch.Tensor:
    data = FakeData(count, (3, size, size), transform=transforms.ToTensor(), random_offset=offset)
    normalize = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])  # as the stats' ImageNet inputs
    return torch.stack([normalize(image) for image, _ in data])


def fitted_model(arch: str, images: torch.Tensor, steps: int) -> nn.Module:
    """`arch` with random weights, BatchNorm statistics estimated on `images` and a 10-class head fitted to
    them (random labels): its answers on those images are clear, and its activations have a trained
    network's scale. With `steps` 0 the head stays random too."""
    torch.manual_seed(0)
    model = getattr(models, arch)(num_classes=10)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # a plain average over the batches
        model.train()
        for batch in images.split(16):
            model(batch)
        model.eval()
        head, model.fc = model.fc, nn.Identity()
        features = torch.cat([model(batch) for batch in images.split(16)])
        model.fc = head
    labels = torch.randint(0, 10, (len(images),), generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(head(features), labels).backward()
        optimizer.step()
    return model


@torch.no_grad()
def logits(model, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(batch) for batch in images.split(16)])


def run(arch: str, stats_path: Path, count: int, size: int, clip: str, steps: int) -> dict:
    stats = read_stats(stats_path)
    fitted, unseen = fake_images(count, size, 0), fake_images(count, size, 10_000)
    model = fitted_model(arch, fitted, steps)
    # the int8 kernels' own scheme: uint8 activations, symmetric int8 weights per output channel
    quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats=stats, clip_acts=clip,
                                         mode={"activations": "ASYMMETRIC_UNSIGNED", "weights": "SYMMETRIC"},
                                         per_channel_wts=True)
    simulated = quantizer.prepare_model(fitted[:1])
    int8 = quantizer.convert_to_int8(list(fitted[:64].split(16)))
    report = quantizer.ranges_report()
    low, high = quantizer.simulated.ranges["fc"]
    result = {
        "arch": arch, "images": count, "size": size, "fit_steps": steps, "clip_acts": clip,
        "stats_file": stats_path.name, "ranges_in_file": report["stats_ranges"],
        "ranges_applied": report["ranges_applied"], "ranges_fused": len(report["ranges_fused"]),
        "unused_ranges": report["unused_ranges"], "int8_unused_ranges": dict(int8.unused_ranges),
        "int8_fp32_modules": int8.fp32_modules, "fc_output_step": (high - low) / 255,
    }
    for label, images in (("fitted", fitted), ("unseen", unseen)):
        fp32_out, sim_out, int8_out = logits(model, images), logits(simulated, images), logits(int8, images)
        difference = (int8_out - sim_out).abs().max().item()
        clear = top2_gap(sim_out) > 2 * difference  # no rounding difference seen could swap its top two
        result[label] = {
            "int8_vs_simulated_top1_agreement": agreement(int8_out, sim_out),
            "int8_vs_simulated_max_abs_diff": difference,
            "simulated_median_top2_logit_gap": top2_gap(sim_out).median().item(),
            "clear_images": int(clear.sum()),
            "int8_vs_simulated_top1_agreement_clear": agreement(int8_out[clear], sim_out[clear]) if clear.any() else None,
            "fp32_vs_simulated_top1_agreement": agreement(fp32_out, sim_out),
            "fp32_median_top2_logit_gap": top2_gap(fp32_out).median().item()}
    return result


def top2_gap(out: torch.Tensor) -> torch.Tensor:
    top2 = out.topk(2, dim=1).values
    return top2[:, 0] - top2[:, 1]


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.argmax(1) == b.argmax(1)).float().mean().item()


def show(result: dict) -> None:
    print(f"{result['arch']} with {result['stats_file']} ({result['images']} fake images, {result['size']}px, "
          f"head fitted in {result['fit_steps']} steps, clip {result['clip_acts']})")
    print(f"  ranges in the file      {result['ranges_in_file']}")
    print(f"  used                    {result['ranges_applied'] + result['ranges_fused']} "
          f"({result['ranges_applied']} quantize a tensor, {result['ranges_fused']} folded/fused away as Distiller does)")
    print(f"  unused                  {', '.join(result['unused_ranges']) or 'none'}")
    int8_unused = ", ".join(f"{name} ({why})" for name, why in result["int8_unused_ranges"].items())
    print(f"  not used by int8        {int8_unused or 'none'}")
    print(f"  int8 FP32 operations    {', '.join(result['int8_fp32_modules']) or 'none'}")
    for label in ("fitted", "unseen"):
        part = result[label]
        steps = part["int8_vs_simulated_max_abs_diff"] / result["fc_output_step"]
        clear = part["int8_vs_simulated_top1_agreement_clear"]
        print(f"  {label} images: top-1 int8 vs simulated {100 * part['int8_vs_simulated_top1_agreement']:.1f}%, "
              f"max abs logit diff {part['int8_vs_simulated_max_abs_diff']:.3f} ({steps:.1f} fc output steps); "
              f"where the simulated top-2 gap exceeds twice that ({part['clear_images']} images): "
              + (f"{100 * clear:.1f}%" if clear is not None else "-"))
        print(f"    simulated median top-2 gap {part['simulated_median_top2_logit_gap']:.2f}; FP32 vs simulated "
              f"{100 * part['fp32_vs_simulated_top1_agreement']:.1f}% (FP32 median top-2 gap "
              f"{part['fp32_median_top2_logit_gap']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--fit-steps", type=int, default=300, help="steps fitting the head (0: random head)")
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--clip-acts", default="NONE", help="clip mode of the activation ranges (Distiller's: AVG)")
    parser.add_argument("--stats-dir", type=Path, default=STATS_DIR)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for arch in args.models.split(","):
        path = args.stats_dir / f"{arch}_quant_stats.yaml"
        if not path.is_file():
            raise SystemExit(f"{path} not found: give --stats-dir (Distiller's examples/quantization/post_train_quant/stats)")
        results.append(run(arch, path, args.images, args.size, args.clip_acts, args.fit_steps))
        show(results[-1])
    print(json.dumps({"benchmark": "distiller_resnet_stats", "results": results}))


if __name__ == "__main__":
    main()
