"""A user's mistake in a QAT quantizer is one message naming its YAML path."""
import pytest

from compressor.compression.core.errors import ScheduleError
from compressor.compression.schedule import parse_schedule_text
from qat_helpers import build, qat_schedule

RANGE = "QuantAwareTrainRangeLinearQuantizer"


@pytest.mark.parametrize("bits, message", [(0, "greater than or equal to 1"), (17, "less than or equal to 16")])
def test_bits_outside_1_to_16_are_refused(bits, message):
    with pytest.raises(ScheduleError) as err:
        parse_schedule_text(qat_schedule("DorefaQuantizer", bits=bits))
    paths = {problem.path for problem in err.value.problems}
    assert {"quantizers.q.bits_activations", "quantizers.q.bits_weights"} <= paths
    assert message in str(err.value)


def test_biases_are_never_binary():
    with pytest.raises(ScheduleError, match=r"quantizers\.q\.bits_bias .*greater than or equal to 2"):
        parse_schedule_text(qat_schedule("LSQQuantizer", extra="bits_bias: 1"))


@pytest.mark.parametrize("mode, path", [("FOO", "quantizers.q.mode"),
                                        ("{activations: FOO, weights: SYMMETRIC}", "quantizers.q.mode.activations")])
def test_unknown_mode_lists_the_modes(mode, path):
    with pytest.raises(ScheduleError) as err:
        parse_schedule_text(qat_schedule(RANGE, extra=f"mode: {mode}"))
    problem = next(p for p in err.value.problems if p.path == path)
    assert "unknown mode 'FOO'" in problem.message
    assert "SYMMETRIC_RESTRICTED" in problem.message and "ASYMMETRIC_UNSIGNED" in problem.message


def test_override_matching_no_module_lists_the_models_modules():
    with pytest.raises(ScheduleError) as err:
        build(qat_schedule("LSQQuantizer", overrides="conv9: null"))
    (problem,) = err.value.problems
    assert problem.path == "quantizers.q"
    assert "'conv9' matches no module" in problem.message and "conv1, bn1, relu1" in problem.message


def test_override_that_is_no_regex_or_has_unknown_fields():
    with pytest.raises(ScheduleError, match=r"quantizers\.q\.overrides .*not a valid regular expression"):
        parse_schedule_text(qat_schedule("DorefaQuantizer", overrides="'conv[': null"))
    with pytest.raises(ScheduleError, match=r"quantizers\.q\.overrides\.conv1\.bits .*unknown argument 'bits'"):
        parse_schedule_text(qat_schedule("DorefaQuantizer", overrides="conv1: {bits: 3}"))


def test_arguments_of_another_quantizer_are_refused():
    with pytest.raises(ScheduleError, match=r"quantizers\.q\.ema_decay .*unknown argument"):
        parse_schedule_text(qat_schedule("PACTQuantizer", extra="ema_decay: 0.9"))
