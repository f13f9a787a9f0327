"""What Distiller was lenient about is a warning in validate's output; its files that are
not schedules are refused with exit 2, saying what they are."""
LEVELS_TWICE = ("pruners:\n  p:\n    class: SparsityLevelParameterPruner\n"
                "    levels: {conv2.weight: 0.3, conv2.weight: 0.6}\n"
                "policies:\n  - pruner: {instance_name: p}\n    epochs: [0]\n")
WARNING = "pruners.p.levels.conv2.weight (line 4): duplicate key 'conv2.weight' (lines 4 and 4)"


def test_validate_shows_a_duplicated_key_as_a_warning(cli, tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(LEVELS_TWICE)
    checked = cli("validate", "--schedule", path)
    assert checked.code == 0 and f"warning: {WARNING}" in " ".join(checked.err.split())
    as_json = cli("validate", "--schedule", path, "--json")
    assert any(warning.startswith(WARNING) for warning in as_json.json()["warnings"])


def test_an_amc_configuration_is_refused_naming_what_it_is(cli, tmp_path):
    path = tmp_path / "amc.yaml"
    path.write_text("network:\n  tiny: ['module.conv1']\n")
    for command in (["validate"], ["train", "--out", tmp_path / "run"]):
        result = cli(*command, "--schedule", path)
        assert result.code == 2 and "automated compression (AMC)" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "run").exists()


def test_a_statistics_file_given_as_a_schedule_points_to_quantize(cli, tmp_path):
    path = tmp_path / "stats.yaml"
    path.write_text("conv1:\n  output: {min: -1.0, max: 1.0, avg_min: -0.5, avg_max: 0.5, mean: 0.0, std: 0.3}\n")
    result = cli("validate", "--schedule", path)
    assert result.code == 2 and "activation statistics file" in result.err
    assert "compressor quantize --checkpoint CKPT --stats FILE" in " ".join(result.err.split())
