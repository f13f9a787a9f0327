import collections
import os
import stat

import pytest
import torch

from compressor.compression.core.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from compressor.compression.core.checkpoint_migrations import FORMAT_VERSION
from compressor.compression.core.errors import UserError


class CarriesCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_file_that_carries_code_is_refused(tmp_path, capsys):
    torch.save({"format": "compressor-checkpoint", "evil": CarriesCode()}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match="not a weights-only checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "must never run" not in capsys.readouterr().out


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save(collections.OrderedDict(w=torch.zeros(1)), tmp_path / "bare.pt")
    with pytest.raises(UserError, match="not a compressor checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(UserError, match="cannot read|not a weights-only"):
        load_checkpoint(tmp_path / "junk.pt")


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "c.pt"
    save_checkpoint({"epoch": 1}, target)

    def crash(tmp):
        with open(tmp, "wb") as stream:
            stream.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert load_checkpoint(target)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_written_file_gets_the_mode_open_would_give_it(tmp_path, umask):
    def mode(path):
        return stat.S_IMODE(os.stat(path).st_mode)

    previous = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as stream:
            stream.write("x")
        atomic_write(tmp_path / "written.txt", lambda tmp: open(tmp, "w").close())
        save_checkpoint({"epoch": 1}, tmp_path / "c.pt")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "written.txt") == mode(tmp_path / "plain.txt") == 0o666 & ~umask
    assert mode(tmp_path / "c.pt") == mode(tmp_path / "plain.txt")


def test_the_data_reach_the_disk_before_the_rename_and_the_rename_after(tmp_path, monkeypatch):
    import os

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                  real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append(("replace", str(dst))), real_replace(src, dst))[1])
    target = tmp_path / "c.pt"
    save_checkpoint({"epoch": 1}, target)
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert ".c.pt." in events[0][1] and events[2][1] == str(tmp_path)


def test_a_checkpoint_is_marked_with_the_format_and_its_version(tmp_path):
    save_checkpoint({"epoch": 1, "format_version": 99}, tmp_path / "c.pt")
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    assert (raw["format"], raw["format_version"]) == ("compressor-checkpoint", FORMAT_VERSION)
    assert load_checkpoint(tmp_path / "c.pt")["format_version"] == FORMAT_VERSION


def test_a_deployable_program_is_named_as_such_not_as_a_corrupted_checkpoint(tmp_path):
    """quantize's model_int8.pt2 (torch.export) and model_int8.pt (TorchScript) given where a checkpoint goes."""
    import warnings

    model = torch.nn.Linear(2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation
        torch.jit.save(torch.jit.script(model), str(tmp_path / "m.pt"))
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), str(tmp_path / "m.pt2"))
    with pytest.raises(UserError, match=r"is a TorchScript program, not a checkpoint: run it with torch.jit.load"):
        load_checkpoint(tmp_path / "m.pt")
    with pytest.raises(UserError, match=r"is a torch.export program \(.pt2\), not a checkpoint"):
        load_checkpoint(tmp_path / "m.pt2")
