"""Checkpoints: checksums catch changed bytes and edited configs, non-finite weights are neither saved
nor loaded, a failed save keeps the previous checkpoint, a crash mid-save is recovered, and a run
folder is understood wherever a model is asked for."""

import errno
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from wmgym import checkpoint
from wmgym.checkpoint import find, load_model, load_trainer_state, read_config, recover, save
from wmgym.errors import CheckpointError, DeviceError
from wmgym.model import ContextBank, WorldModel
from wmgym.model.config import debug
from wmgym.tasks import get_task
from wmgym.zoo import ZOO, resolve, zoo_models


def _model(seed: int = 0) -> WorldModel:
    torch.manual_seed(seed)
    return WorldModel(debug(state_dim=4, action_dim=2))


def _context() -> ContextBank:
    rng = np.random.default_rng(0)
    return ContextBank(
        rng.integers(0, 255, (2, 3, 64, 64, 3), dtype=np.uint8),
        rng.standard_normal((2, 2, 2), dtype=np.float32),
        rng.standard_normal((2, 3, 4), dtype=np.float32),
    )


def _save(folder, step: int = 1, seed: int = 0, optimizer: bool = False):
    model = _model(seed)
    meta = {"task": get_task("reacher").to_dict(), "action_space": {"low": [-1, -1], "high": [1, 1]}, "step": step}
    opt = torch.optim.Adam(model.parameters()) if optimizer else None
    save(folder, model, meta, opt, _context())
    return model


def _same(a: WorldModel, b: WorldModel) -> None:
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, rtol=0, atol=0, msg=k)


def _flip(file, n: int) -> None:
    """Invert ``n`` bytes in the middle of ``file`` (past the safetensors header)."""
    raw = bytearray(file.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + n] = bytes(b ^ 0xFF for b in raw[middle : middle + n])
    file.write_bytes(bytes(raw))


def _edit_config(folder, edit) -> None:
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))


def test_save_records_checksums_and_load_verifies_them(tmp_path):
    model = _save(tmp_path / "ckpt")
    sums = read_config(tmp_path / "ckpt")["checksums"]
    assert set(sums["files"]) == {"model.safetensors"} and len(sums["config"]) == 64
    _same(model, load_model(tmp_path / "ckpt")[0])


def test_flipped_bytes_in_the_weights_are_caught_and_named(tmp_path):
    _save(tmp_path / "ckpt")
    _flip(tmp_path / "ckpt" / "model.safetensors", 64)
    with pytest.raises(CheckpointError, match="damaged: model.safetensors does not match the sha256"):
        load_model(tmp_path / "ckpt")


def test_changed_trainer_state_is_caught_and_a_context_of_your_own_is_welcome(tmp_path):
    _save(tmp_path / "ckpt", optimizer=True)
    folder = tmp_path / "ckpt"
    trainer = folder / "trainer.safetensors"
    _flip(trainer, 8)
    model, config = load_model(folder)
    with pytest.raises(CheckpointError, match="damaged: trainer.safetensors does not match"):
        load_trainer_state(folder, torch.optim.Adam(model.parameters()), config)
    mine = _context()
    ContextBank(mine.pixels[:1], mine.actions[:1], mine.state[:1]).save(folder)  # the documented way to swap starts
    load_model(folder)


def test_a_config_edited_to_another_task_is_caught(tmp_path):
    _save(tmp_path / "ckpt")
    _edit_config(tmp_path / "ckpt", lambda c: c.update(task=get_task("pusher").to_dict()))
    with pytest.raises(CheckpointError, match="config.json was changed after saving"):
        read_config(tmp_path / "ckpt")


def test_checkpoints_without_checksums_still_load_but_not_with_nan_weights(tmp_path):
    model = _save(tmp_path / "ckpt")
    _edit_config(tmp_path / "ckpt", lambda c: c.pop("checksums"))
    _same(model, load_model(tmp_path / "ckpt")[0])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[key].view(-1)[0] = float("nan")
    save_file(state, str(tmp_path / "ckpt" / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"non-finite weights .* in '{key}'"):
        load_model(tmp_path / "ckpt")


@pytest.mark.parametrize("name", zoo_models())
def test_the_shipped_zoo_models_load_with_their_checksums_or_from_before_them(name):
    # models exported before checksums existed (pusher, inverted_pendulum) have none; reacher has them
    model, _ = load_model(resolve(name))
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


def test_non_finite_weights_are_never_saved(tmp_path):
    good = _save(tmp_path / "ckpt", step=1)
    bad = _model(1)
    with torch.no_grad():
        next(bad.parameters()).fill_(float("inf"))
    with pytest.raises(CheckpointError, match="refusing to save .* is not finite"):
        save(tmp_path / "ckpt", bad, {"task": get_task("reacher").to_dict(), "step": 2})
    _same(good, load_model(tmp_path / "ckpt")[0])


def test_a_failed_save_is_a_clear_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    good = _save(tmp_path / "ckpt", step=1)

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "_write_file", full)
    with pytest.raises(CheckpointError, match=r"could not save checkpoint .*ckpt: No space left on device .*kept"):
        _save(tmp_path / "ckpt", step=2, seed=1)
    monkeypatch.undo()
    assert not (tmp_path / ".ckpt.tmp").exists()
    assert read_config(tmp_path / "ckpt")["step"] == 1
    _same(good, load_model(tmp_path / "ckpt")[0])


def _state(tmp_path, ckpt=None, old=None, tmp=None, damage_tmp=False):
    """Lay out checkpoint/, .checkpoint.old and .checkpoint.tmp of the given steps."""
    run = tmp_path / "run"
    run.mkdir()
    for name, step in (("checkpoint", ckpt), (".checkpoint.old", old), (".checkpoint.tmp", tmp)):
        if step is not None:
            _save(tmp_path / "scratch", step=step, seed=step)
            shutil.move(tmp_path / "scratch", run / name)
    if damage_tmp:
        (run / ".checkpoint.tmp" / "model.safetensors").write_bytes(b"half")
    return run / "checkpoint"


@pytest.mark.parametrize(
    "layout, kept_step, note",
    [
        ({"ckpt": 3, "old": 2}, 3, None),  # crash after the second rename: drop the stale backup
        ({"ckpt": 2, "tmp": 3}, 3, "finished the save that was interrupted (step 3)"),  # fully written
        ({"ckpt": 2, "tmp": 3, "damage_tmp": True}, 2, None),  # crash while writing
        ({"ckpt": 3, "tmp": 3}, 3, None),  # not newer: keep what is in place
        ({"old": 2, "tmp": 3}, 3, "finished the save that was interrupted (step 3)"),  # between the renames
        ({"old": 2, "tmp": 3, "damage_tmp": True}, 2, "restored the checkpoint kept in .checkpoint.old (step 2)"),
        ({"old": 2}, 2, "restored the checkpoint kept in .checkpoint.old (step 2)"),
    ],
)
def test_recover_keeps_the_newest_complete_copy(tmp_path, layout, kept_step, note):
    folder = _state(tmp_path, **layout)
    assert find(folder)  # a reader finds it first, renaming nothing
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted(
        n for n, k in (("checkpoint", "ckpt"), (".checkpoint.old", "old"), (".checkpoint.tmp", "tmp")) if k in layout
    )
    assert recover(folder) == note
    assert sorted(p.name for p in folder.parent.iterdir()) == ["checkpoint"]
    assert read_config(folder)["step"] == kept_step
    _same(_model(kept_step), load_model(folder)[0])


def test_recover_drops_an_incomplete_first_save(tmp_path):
    folder = _state(tmp_path, tmp=1, damage_tmp=True)
    assert recover(folder) is None and not any(folder.parent.iterdir())


@pytest.mark.parametrize("marker", [{checkpoint.RUN_KEY: 1}, {"train": {}, "task": {}, "model": {}}])
def test_a_run_folder_is_understood_as_a_model(tmp_path, marker):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(marker))  # the second: a run from before the marker
    with pytest.raises(CheckpointError, match=f"run {run} has no checkpoint yet"):
        load_model(run)
    model = _save(run / "checkpoint", step=7)
    assert resolve(run) == run / "checkpoint" and find(run) == run / "checkpoint"
    assert read_config(run)["step"] == 7
    _same(model, load_model(run)[0])


def test_what_is_not_a_model_is_named(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wmgym.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no checkpoint at .*data: it holds no config.json"):
        load_model(tmp_path / "data")
    with pytest.raises(CheckpointError, match="no checkpoint at .*: the folder does not exist"):
        read_config(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="no model 'nowhere': not a zoo name"):
        resolve("nowhere")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_on_a_cpu_machine_blames_the_machine_not_the_checkpoint(tmp_path):
    _save(tmp_path / "ckpt")
    for folder in (tmp_path / "ckpt", tmp_path / "nowhere"):
        with pytest.raises(DeviceError, match="'cuda' asked for, but CUDA is not available"):
            load_model(folder, device="cuda")


def test_a_zoo_export_carries_checksums_that_catch_a_damaged_copy(tmp_path):
    import shutil

    shutil.copytree(ZOO / "reacher", tmp_path / "reacher")  # exported with checksums
    assert "checksums" in read_config(tmp_path / "reacher")
    _flip(tmp_path / "reacher" / "model.safetensors", 64)
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_model(tmp_path / "reacher")
