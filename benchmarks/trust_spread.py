"""How much a calibration's trust horizon moves with the truth episodes it happens to draw.

A card's trust horizon is the last step at which the *median* error over the paired rollouts stays
inside each tolerance. The median of a few dozen rollouts is itself a noisy number: where a model's
median error crosses a tolerance late and slowly (reacher's robot pixels near 20 dB over its last
steps), another draw of truth episodes moves the crossing by several steps. This calibrates the same
model again and again, with the settings of `benchmarks/calibration.py` (the same policies, 50
steps) and only the truth episodes' seed (`CalibrationConfig.seed`) and the number of rendered pairs
(`--pairs`) changed, and reports each run's trust horizon and the spread over seeds.

    python benchmarks/trust_spread.py --models reacher --policies-dir runs/policies \
        --seeds 10000 20000 30000 40000 --pairs 32 128

The return comparison (policy returns in the dream vs MuJoCo) does not enter the trust horizon and is
skipped here (``policy_episodes=0``). A model is a zoo name or a checkpoint folder. Results:
benchmarks/results/trust_spread.{md,json} (--results).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import tyro

sys.path.insert(0, str(Path(__file__).parent))
from calibration import policies_for  # noqa: E402

from wmgym.calibrate.run import CalibrationConfig, calibrate  # noqa: E402
from wmgym.checkpoint import read_config  # noqa: E402
from wmgym.zoo import resolve  # noqa: E402


@dataclass
class Args:
    models: tuple[str, ...] = ("reacher",)
    """Zoo names or checkpoint folders."""
    seeds: tuple[int, ...] = (10_000, 20_000, 30_000, 40_000)
    """Truth seeds (`CalibrationConfig.seed`; 10,000 is the zoo cards')."""
    pairs: tuple[int, ...] = (32,)
    """Rendered paired rollouts per calibration (`CalibrationConfig.episodes`; 32 is the default)."""
    policies_dir: Path | None = None
    """Folder with sac-<task>.zip and its checkpoints, as for benchmarks/calibration.py."""
    work: Path = Path("runs/trust_spread")
    """Folder for each calibration's report."""
    results: Path = Path(__file__).parent / "results"
    """Folder for trust_spread.json and trust_spread.md."""
    name: str = "trust_spread"
    """Stem of the results files."""
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    """The settings every run shares (its seed and episodes are set per run by --seeds and --pairs)."""


def spread(horizons: list[int]) -> dict:
    """Min, median, max and the max-min range of trust horizons over seeds."""
    return {
        "min": min(horizons),
        "median": statistics.median(horizons),
        "max": max(horizons),
        "range": max(horizons) - min(horizons),
    }


def run(args: Args) -> dict:
    rows = []
    for model in args.models:
        task = read_config(resolve(model))["task"]["name"]
        policies = tuple(policies_for(task, args.policies_dir))
        for episodes in args.pairs:
            runs = []
            for seed in args.seeds:
                cfg = replace(
                    args.calibration,
                    policies=args.calibration.policies + policies,
                    episodes=episodes,
                    seed=seed,
                    policy_episodes=0,
                    videos=False,
                )
                out = args.work / f"{Path(model).name}-e{episodes}-s{seed}"
                card = calibrate(model, out, cfg, progress=False)
                th = card["trust_horizon"]
                runs.append(
                    {
                        "seed": seed,
                        "trust_horizon": th["steps"],
                        "limited_by": th["limited_by"],
                        "criteria": {n: c["horizon"] for n, c in th["criteria"].items()},
                        "seconds": card["seconds"],
                    }
                )
                print(f"{model} episodes {episodes} seed {seed}: {th['steps']} of {th['of']} ({th['limited_by']})")
            rows.append(
                {
                    "model": model,
                    "task": task,
                    "episodes": episodes,
                    "of": card["trust_horizon"]["of"],
                    "runs": runs,
                    "spread": spread([r["trust_horizon"] for r in runs]),
                }
            )
    return {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, CPU only",
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }


def write_md(path: Path, result: dict) -> None:
    seeds = [r["seed"] for r in result["rows"][0]["runs"]] if result["rows"] else []
    lines = [
        "# How much a trust horizon moves with the truth episodes drawn",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}; {result['date']}.",
        "",
        "Each cell: one calibration by benchmarks/calibration.py's settings (its policies, 50 steps), with only the "
        "truth episodes' seed and the number of rendered pairs changed; the trust horizon, and in brackets the "
        "criterion that ended it. Seed 10,000 is the zoo cards' own.",
        "",
        "| model | rendered pairs | " + " | ".join(f"seed {s}" for s in seeds) + " | min / median / max |",
        "|---|---:|" + "---|" * len(seeds) + "---|",
    ]
    for row in result["rows"]:
        cells = [f"{r['trust_horizon']} ({r['limited_by']})" for r in row["runs"]]
        s = row["spread"]
        lines.append(
            f"| {row['model']} | {row['episodes']} | "
            + " | ".join(cells)
            + f" | {s['min']} / {s['median']:g} / {s['max']} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    args = tyro.cli(Args, description=__doc__.splitlines()[0], config=(tyro.conf.OmitArgPrefixes,))
    result = run(args)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    write_md(args.results / f"{args.name}.md", result)
    print((args.results / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
