"""Each built-in model's parameter names, recorded when the catalog is written (catalog.py), for
checking the names a schedule gives without building the model (no torch)."""
from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Dict, List

PARAMETERS_PATH = Path(__file__).resolve().parents[1] / "model_parameters.json.gz"


@lru_cache(maxsize=1)
def recorded_parameters() -> Dict[str, List[str]]:
    """Built-in model name -> its parameter names (models that cannot be built on the meta device,
    torchvision's RegNets, are missing)."""
    return json.loads(gzip.decompress(PARAMETERS_PATH.read_bytes()))
