"""Checkpoint format versions: every version released so far loads, brought up to this one here.

Version 1: no `format_version` key; a QAT model's quantizers were known only from the schedule
text the checkpoint kept. Version 2: `format_version: 2`, and a `qat` record (each quantizer's
instance name, registered class, validated config as plain values and state), so loading a model
never parses a schedule.

Each change of the format adds its version here (a function taking the previous version's payload
to the next) and its files to the test corpus (tests/corpus/).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List

import yaml

from .errors import UserError

FORMAT_VERSION = 2
FIRST_VERSION = 1

# The QAT quantizer classes that version-1 checkpoints could name (frozen: the past does not change).
V1_QAT_CLASSES = frozenset({"QuantAwareTrainRangeLinearQuantizer", "DorefaQuantizer", "PACTQuantizer",
                            "WRPNQuantizer", "LSQQuantizer"})


def upgrade(payload: Dict[str, Any], source: str) -> Dict[str, Any]:
    """`payload` in this release's format; UserError for a version this release cannot read."""
    version = payload.get("format_version", FIRST_VERSION)  # absent: written before versions were recorded
    readable = f"this release reads checkpoint format versions {FIRST_VERSION} to {FORMAT_VERSION}"
    if not isinstance(version, int) or isinstance(version, bool) or version < FIRST_VERSION:
        raise UserError(f"{source}: unknown checkpoint format version {version!r}; {readable}")
    if version > FORMAT_VERSION:
        raise UserError(f"{source} was written by a newer release of compressor (checkpoint format version "
                        f"{version}); {readable}: upgrade compressor to load it")
    while version < FORMAT_VERSION:
        payload = MIGRATIONS[version](payload, source)
        version += 1
    return {**payload, "format_version": FORMAT_VERSION}


def v1_to_v2(payload: Dict[str, Any], source: str) -> Dict[str, Any]:
    """Record the QAT quantizers that version 1 kept only in the schedule text.

    Reads the YAML as data (the schedule was validated when the run started): each quantizer
    policy whose class is a QAT quantizer, in policy order, with its arguments and saved state.
    The configs are validated when the model is rebuilt, as those of version 2 are.
    """
    text = payload.get("schedule_text") or ""
    states = payload.get("policies_state") or {}
    if "quantizer" not in text:
        return {**payload, "qat": []}
    try:
        document = yaml.safe_load(text) or {}
        records = _v1_qat_records(document, states)
    except (yaml.YAMLError, AttributeError, TypeError, KeyError) as err:
        raise UserError(f"{source}: cannot read the schedule kept in this version-1 checkpoint to find its "
                        f"QAT quantizers ({type(err).__name__})") from None
    return {**payload, "qat": records}


def _v1_qat_records(document: Dict[str, Any], states: Dict[str, Any]) -> List[Dict[str, Any]]:
    quantizers = document.get("quantizers") or {}
    records: Dict[str, Dict[str, Any]] = {}
    for index, policy in enumerate(document.get("policies") or []):
        if "quantizer" not in policy:
            continue
        instance = policy["quantizer"]["instance_name"]
        arguments = dict(quantizers[instance])
        class_name = arguments.pop("class")
        if class_name not in V1_QAT_CLASSES:
            continue
        record = records.setdefault(instance, {"instance": instance, "class": class_name,
                                               "config": arguments, "state": {}})
        state = states.get(f"{index}:{instance}")
        if state:
            record["state"] = state
    return list(records.values())


MIGRATIONS: Dict[int, Callable[[Dict[str, Any], str], Dict[str, Any]]] = {1: v1_to_v2}
