"""Property: `compressor validate` on a mutated schedule exits 0, or 2 with a message; never a traceback."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedule_strategies import SCHEDULES, mutations

DIGITS = [path for path in SCHEDULES if path.name.startswith(("digits_", "simplenet_mnist_"))]  # small models


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutations(st.sampled_from(DIGITS)))
def test_validate_mutated_schedule(cli, tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("validate", "--schedule", path)
    assert result.code in (0, 2), (result.code, result.err)
    if result.code == 2:
        assert "error:" in result.err and "fuzz.yaml" in result.err
    assert "Traceback" not in result.out + result.err
