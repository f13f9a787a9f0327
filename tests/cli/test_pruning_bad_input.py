"""Pruning mistakes: a clear message with the YAML place, exit 2, nothing written."""
import pytest

AGP = ("pruners:\n  agp:\n    class: AutomatedGradualPruner\n    initial_sparsity: {initial}\n"
       "    final_sparsity: {final}\n    weights: [{weight}]\n"
       "policies:\n  - pruner: {{instance_name: agp}}\n    starting_epoch: 0\n    ending_epoch: 2\n")
FILTERS = ("pruners:\n  f:\n    class: L1RankedStructureParameterPruner\n    group_type: Filters\n"
           "    desired_sparsity: 0.5\n    weights: [fc1.weight]\n"
           "policies:\n  - pruner: {instance_name: f}\n    epochs: [0]\n")

CASES = {
    "missing_layer": (AGP.format(initial=0.1, final=0.5, weight="conv9.weight"),
                      ["pruners.agp.weights[0] (line 6)", "did you mean 'conv3.weight'", "fc2.weight"]),
    "filters_on_linear": (FILTERS, ["pruners.f (line 2)", "'Filters' needs a 4-D weight", "Linear weight"]),
    "sparsity_one": (AGP.format(initial=0.1, final=1.0, weight="conv2.weight"),
                     ["pruners.agp.final_sparsity (line 5)", "less than 1"]),
    "negative_sparsity": (AGP.format(initial=-0.1, final=0.5, weight="conv2.weight"),
                          ["pruners.agp.initial_sparsity (line 4)", "greater than or equal to 0"]),
    "agp_not_increasing": (AGP.format(initial=0.5, final=0.5, weight="conv2.weight"),
                           ["pruners.agp (line 2)", "must be greater than initial_sparsity"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "train"])
def test_pruning_mistakes(cli, tmp_path, name, command):
    text, expected = CASES[name]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    extra = ["--out", tmp_path / "run"] if command == "train" else []
    result = cli(command, "--schedule", path, *extra)
    assert result.code == 2, result.err
    for fragment in expected:
        assert fragment in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "run").exists()


def test_distiller_module_prefix_is_accepted(cli, tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(AGP.format(initial=0.1, final=0.5, weight="module.conv2.weight"))
    assert cli("validate", "--schedule", path).code == 0
