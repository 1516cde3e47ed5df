"""Pack a trained run into the package's model zoo: wmgym/zoo/<name>/.

Run:  python envs/export.py --name reacher --run runs/bench-wm/run --context runs/bench-wm/eval-ou \
          --results benchmarks/results/world_model.json

The context (real starts for the dream env) comes from held-out episodes, --context-episodes of
them, 5 frames each; the card copies the training budget and held-out open-loop numbers from the
benchmark's results; a fine-tuned run's card also keeps its base model's data and training
(``fine_tuned_from``), read before the export replaces that model when both share a name.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wmgym.checkpoint import read_config
from wmgym.data import load_episodes
from wmgym.model import ContextBank
from wmgym.zoo import resolve
from wmgym.zoo.export import export

ZOO = Path(__file__).parents[1] / "wmgym" / "zoo"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--run", type=Path, required=True, help="training run folder (with checkpoint/)")
    p.add_argument("--context", type=Path, required=True, help="dataset of held-out episodes for the starts")
    p.add_argument("--context-episodes", type=int, default=16)
    p.add_argument("--results", type=Path, required=True, help="benchmark results JSON of this run")
    args = p.parse_args()
    ckpt = args.run / "checkpoint"
    config = read_config(ckpt)
    results = json.loads(args.results.read_text())
    _, eps = load_episodes(args.context)
    bank = ContextBank.from_episodes(eps[: args.context_episodes], k=4)
    by_h = results["eval"]["by_horizon"]
    card = {
        "name": args.name,
        "task": config["task"]["name"],
        "data": {
            "frames": results["data_frames"],
            **({"state_only_frames": results["state_only_frames"]} if results.get("state_only_frames") else {}),
            "datasets": config["datasets"],
        },
        "training": {**results["train"], "preset": config["train"]["preset"], "command": results["command"]},
        "heldout_open_loop": by_h,
        "summary": {
            "psnr_h1": round(by_h["1"]["psnr"], 1),
            "psnr_h15": round(by_h["15"]["psnr"], 1),
            "state_rmse_h15": round(by_h["15"]["state_rmse"], 3) if "state_rmse" in by_h["15"] else None,
            "trust_horizon": "see calibration.json (benchmarks/calibration.py --ship writes it)",
        },
    }
    base = config["train"].get("init_from")
    if base:  # a fine-tune (e.g. a new renderer beside kept dynamics): what the kept parts were trained on and how
        base_card = resolve(base) / "card.json"
        kept = json.loads(base_card.read_text()) if base_card.is_file() else {}
        card["fine_tuned_from"] = {
            "model": base,
            **{k: kept[k] for k in ("data", "training") if k in kept},
            "trained_here": list(config["train"].get("train_only") or ["everything"]),
        }
    if "joint_angle_err_rad" in by_h["15"]:
        card["summary"]["joint_err_h15_rad"] = round(by_h["15"]["joint_angle_err_rad"], 3)
    out = export(ckpt, ZOO / args.name, bank, card)
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(f"wrote {out} ({size:.1f} MiB)")


if __name__ == "__main__":
    main()
