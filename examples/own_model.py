"""A model defined in your own code, compressed by the CLI without registering it anywhere:

    compressor train --schedule examples/own_model_agp.yaml --arch examples.own_model:Net
    compressor quantize --checkpoint runs/<run>/best.pt --collect-stats stats.yaml
    compressor export --checkpoint runs/<run>/best.pt --format onnx --out net.onnx

Any importable callable returning an nn.Module works (`package.module:factory`); the class
attributes below tell the commands what the model takes and which data it trains on.
"""
from torch import nn


class Net(nn.Module):
    """A small CNN for the 8x8 digits, defined outside the project."""

    input_shape = (1, 8, 8)
    num_classes = 10
    default_dataset = "digits"

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
