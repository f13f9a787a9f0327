"""Distiller's compress_classifier.py flags are answered with what to write here."""
import pytest


@pytest.mark.parametrize("args,said", [
    (["train", "--compress", "x.yaml"], "Distiller's --compress is --schedule FILE here."),
    (["validate", "--compress", "x.yaml"], "Distiller's --compress is --schedule FILE here."),
    (["train", "--out-dir", "runs"], "Distiller's --out-dir is --out DIR here."),
    (["train", "--thinnify"], "Distiller's --thinnify is `compressor thin --checkpoint CKPT --out FILE` here."),
    (["train", "--evaluate"], "Distiller's --evaluate is `compressor evaluate --checkpoint CKPT` here."),
    (["quantize", "--qe-stats-file", "s.yaml"], "Distiller's --qe-stats-file is --stats FILE here."),
    (["train", "--momentum", "0.9"], "Distiller's --momentum is `training: {momentum: M}` in the schedule file."),
    (["train", "--confusion"],
     "Distiller's --confusion has no equivalent here (evaluate reports top-1, top-5 and loss)."),
    (["quantize", "--qe-bits-accum", "16"],
     "Distiller's --qe-bits-accum is `bits_accum: 32 (PostTrainLinearQuantizer; the only width the int8 kernels "
     "run)` in the schedule file."),
    (["sensitivity", "--sense", "filter"],
     "Distiller's --sense is this command here (give --granularity element|filter|channel)."),
])
def test_a_distiller_flag_says_its_equivalent(cli, args, said):
    result = cli(*args)
    assert result.code == 2
    assert f"No such option '{args[1]}': {said}" in result.err


def test_other_unknown_flags_keep_their_suggestion(cli):
    result = cli("train", "--ouy", "runs")
    assert result.code == 2 and "No such option '--ouy'" in result.err and "--out" in result.err
