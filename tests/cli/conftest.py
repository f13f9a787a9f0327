import json

import pytest

from compressor.cli.main import run


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    def invoke(*args):
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture(scope="session")
def dense_digits(tmp_path_factory):
    """A digits CNN trained 4 epochs on one thread (seed 0): its best.pt, shared by the `auto` tests."""
    folder = tmp_path_factory.mktemp("dense_digits")
    schedule = folder / "dense.yaml"
    schedule.write_text("version: 1\ndataset: {batch_size: 128}\n"
                        "training: {epochs: 4, lr: 0.05, seed: 0, skip_latency: true}\n")
    assert run(["train", "--schedule", str(schedule), "--out", str(folder / "dense"), "--threads", "1"]) == 0
    return folder / "dense" / "best.pt"
