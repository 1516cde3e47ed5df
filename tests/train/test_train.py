import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from tiny import tiny_config

from wmgym.checkpoint import CheckpointError, check_task, load_model
from wmgym.cli import main as cli
from wmgym.data import collect
from wmgym.tasks import get_task
from wmgym.train import train, trainer


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_trains_end_to_end_and_writes_a_checkpoint(data, tmp_path):
    model = train([data], tmp_path / "run", tiny_config(steps=4), progress=False)
    ckpt = tmp_path / "run" / "checkpoint"
    config = json.loads((ckpt / "config.json").read_text())
    assert config["step"] == 4
    assert config["task"]["name"] == "reacher" and config["datasets"][0]["fingerprint"]
    assert "heldout_psnr_h1" in config["metrics"]
    assert config["action_space"] == {"low": [-1.0, -1.0], "high": [1.0, 1.0]}
    assert (tmp_path / "run" / "config.json").is_file() and any((tmp_path / "run" / "tensorboard").iterdir())
    loaded, _ = load_model(ckpt)
    for k, v in _params(model).items():
        torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)


def test_resume_continues_exactly(data, tmp_path):
    straight = train([data], tmp_path / "a", tiny_config(steps=4, checkpoint_every=100), progress=False)
    train([data], tmp_path / "b", tiny_config(steps=2, checkpoint_every=100), progress=False)
    resumed = train([data], tmp_path / "b", tiny_config(steps=4, checkpoint_every=100), progress=False)
    for k, v in _params(straight).items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=0, msg=f"{k} differs after resume")


def test_damaged_and_mismatched_checkpoints_are_clear_errors(data, tmp_path):
    train([data], tmp_path / "run", tiny_config(steps=2), progress=False)
    ckpt = tmp_path / "run" / "checkpoint"
    config = json.loads((ckpt / "config.json").read_text())
    with pytest.raises(CheckpointError, match="trained on task 'reacher'.*task 'pusher'"):
        check_task(config, get_task("pusher"))
    with pytest.raises(CheckpointError, match="differs in: image_size"):
        check_task(config, get_task("reacher").replace(image_size=(96, 96)))
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="damaged: model.safetensors"):
        load_model(ckpt)
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="damaged: config.json"):
        load_model(ckpt)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_model(tmp_path / "nowhere")


def test_resume_on_other_data_is_refused(data, tmp_path):
    other = tmp_path / "other"
    collect("reacher", 4, other, seed=7, workers=1, progress=False)
    train([data], tmp_path / "run", tiny_config(steps=2), progress=False)
    with pytest.raises(CheckpointError, match="trained on other data"):
        train([other], tmp_path / "run", tiny_config(steps=4), progress=False)


def test_cli_train_and_resume(data, tmp_path, capsys):
    args = [
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--preset",
        "debug",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--seq-len",
        "8",
        "--device",
        "cpu",
    ]
    assert cli(args) == 0
    args[args.index("--steps") + 1] = "3"
    assert cli(args) == 0
    assert "resuming" in capsys.readouterr().out
    assert cli(["train", "--data", str(data), "--out", str(tmp_path / "x"), "--preset", "debug"]) == 2
    assert "how long" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, data, out, results):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    model = train([data], out, tiny_config(steps=3), progress=False)
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, results / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_ddp_two_gloo_processes_stay_in_sync(data, tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(data), str(tmp_path / "run"), results), nprocs=2, join=True)
    a, b = (torch.load(results / f"rank{r}.pt") for r in (0, 1))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{k} differs between ranks")
    monkeypatch.setattr(trainer, "_loop", lambda run: None)  # the same seed, untrained
    init = train([data], tmp_path / "fresh", tiny_config(steps=3), progress=False)
    assert any(not torch.equal(init.state_dict()[k], a[k]) for k in a), "DDP run did not train"
    config = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert config["world_size"] == 2 and set(config["sampler"]) == {"0", "1"}


def test_fine_tuning_starts_from_a_run_folder_s_weights(data, tmp_path, monkeypatch):
    base = train([data], tmp_path / "base", tiny_config(steps=2), progress=False)
    with monkeypatch.context() as m:
        m.setattr(trainer, "_loop", lambda run: None)
        start = train(
            [data], tmp_path / "tuned", tiny_config(steps=1, init_from=str(tmp_path / "base")), progress=False
        )
    for k, v in _params(base).items():
        torch.testing.assert_close(start.state_dict()[k], v, rtol=0, atol=0, msg=k)
    tuned = train([data], tmp_path / "tuned", tiny_config(steps=1, init_from=str(tmp_path / "base")), progress=False)
    assert json.loads((tmp_path / "tuned" / "checkpoint" / "config.json").read_text())["step"] == 1
    assert any(not torch.equal(tuned.state_dict()[k], v) for k, v in _params(base).items())


def test_auto_on_a_cpu_with_native_bf16_trains_on_in_the_precision_it_measured_faster(data, tmp_path, monkeypatch):
    from wmgym.model import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    steps = 2 * (1 + precision.PROBE_STEPS)
    train([data], tmp_path / "run", tiny_config(steps=steps + 2, precision="auto"), progress=False)
    run_cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    probe = run_cfg["precision_probe"]
    assert run_cfg["precision"] == probe["chosen"] in ("fp32", "bf16")
    fp32, bf16 = probe["median_s"]["fp32"], probe["median_s"]["bf16"]
    assert fp32 > 0 and bf16 > 0 and probe["chosen"] == ("bf16" if bf16 < fp32 else "fp32")
    ckpt = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert ckpt["precision"] == probe["chosen"] and ckpt["precision_probe"] == probe
    # a resume keeps what was measured instead of measuring again
    train([data], tmp_path / "run", tiny_config(steps=steps + 4, precision="auto"), progress=False)
    resumed = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert resumed["step"] == steps + 4 and resumed["precision_probe"] == probe
