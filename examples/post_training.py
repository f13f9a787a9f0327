"""Post-training int8 quantization in Python, as Distiller's how-to does it:

    python examples/post_training.py

Trains a digits CNN briefly (stand-in for your trained model), collects activation
statistics, simulates the range-linear quantized model, then builds the real int8 model and
writes it as a torch.export file that runs with torch alone.
"""
import copy
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

import compressor
from compressor.compression.models import build_model
from compressor.datasets import DatasetConfig, build_datasets, build_loaders


def accuracy(model, loader):
    with torch.no_grad():
        hits = sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
    return 100.0 * hits / len(loader.dataset)


def trained_model(loaders, epochs=3):
    torch.manual_seed(0)
    model = build_model("digits_cnn")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(epochs):
        loaders.begin_epoch(epoch)
        for images, targets in loaders.train:
            optimizer.zero_grad()
            F.cross_entropy(model(images), targets).backward()
            optimizer.step()
    return model.eval()


def main(out_folder):
    loaders = build_loaders(build_datasets(DatasetConfig(name="digits"), (1, 8, 8), 10, 0), 64, 0, 0)
    model = trained_model(loaders)
    stats = compressor.collect_stats(model, loaders.val)
    compressor.save_stats(stats, Path(out_folder) / "acts_quantization_stats.yaml")  # Distiller's stats file
    quantizer = compressor.PostTrainLinearQuantizer(
        copy.deepcopy(model), bits_activations=8, bits_parameters=8, mode="ASYMMETRIC_UNSIGNED",
        per_channel_wts=True, model_activation_stats=Path(out_folder) / "acts_quantization_stats.yaml")
    dummy_input = torch.zeros(1, 1, 8, 8)
    simulated = quantizer.prepare_model(dummy_input)
    calibration = [images for images, _ in loaders.val]
    int8 = quantizer.convert_to_int8(calibration)
    result = compressor.export(int8, Path(out_folder) / "model_int8.pt2", "pt2", calibration=torch.cat(calibration))
    scores = {"fp32": accuracy(model, loaders.test), "simulated": accuracy(simulated, loaders.test),
              "int8": accuracy(int8, loaders.test)}
    print(f"test top-1: FP32 {scores['fp32']:.2f}%, simulated {scores['simulated']:.2f}%, int8 {scores['int8']:.2f}%; "
          f"{result.out}: {result.file_bytes / 1e3:.0f} kB")
    return scores


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        main(folder)
