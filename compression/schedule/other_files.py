"""Distiller's YAML files that are not schedules: say what the file is and where it belongs."""
from __future__ import annotations

from typing import Any, Collection, Dict

from ..core.errors import ScheduleError
from .yaml_source import YamlDocument

_STATS_KEYS = {"inputs", "output"}


def refuse_other_files(doc: YamlDocument, schedule_keys: Collection[str]) -> None:
    """Raise a ScheduleError naming the kind of file when `doc` is an AMC configuration or a statistics file."""
    data = doc.data
    if not isinstance(data, dict) or not data:
        return
    if "network" in data:
        message = ("this is a configuration file of Distiller's automated compression (AMC), not a schedule: its "
                   "'network:' section lists, for each model, the layers AMC's agent searches over: give it to "
                   "`compressor auto --checkpoint CKPT --strategy amc --amc-file FILE --target KIND=RATIO "
                   "--tolerance PT`")
        raise ScheduleError([doc.problem(("network",), message)], doc.source)
    if is_stats_file(data, schedule_keys):
        message = ("this is an activation statistics file (each layer's 'inputs'/'output' ranges, as "
                   "`compressor quantize --collect-stats` and Distiller's --qe-calibration write it), not a "
                   "schedule: quantize a checkpoint with it, `compressor quantize --checkpoint CKPT --stats FILE`")
        raise ScheduleError([doc.problem((), message)], doc.source)


def is_stats_file(data: Dict[Any, Any], schedule_keys: Collection[str]) -> bool:
    """No schedule section, and every top-level value a layer's {inputs, output} statistics."""
    if any(key in schedule_keys for key in data):
        return False
    return all(isinstance(value, dict) and value and set(value) <= _STATS_KEYS for value in data.values())
