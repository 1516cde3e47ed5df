"""Calibrate every zoo model against MuJoCo and record the numbers the calibration issue names.

Run:  python benchmarks/calibration.py --policies-dir runs/policies [--models reacher ...] \\
          [--improve reacher --improve-rounds 1 --improve-minutes 5] [--ship]

For each model: PSNR/SSIM, moving-pixel PSNR and state RMSE at horizons 1, 5, 15, 50; reward MAE;
trust horizon (the task's tolerances, `wmgym.tasks.suite`); uncertainty-error rank correlation;
dream-vs-MuJoCo return correlation across policies: random, zero, OU noise, and SB3 SAC policies
trained in MuJoCo for 1k, 3k, a third of and all their steps (agents/sac_truth.py --checkpoints),
the final one also with action noise 0.3 and 1.0 (9 policies). With --improve, one model also goes
through active calibration (what `wmgym improve` runs) and the before/after is recorded. --ship
copies each card into wmgym/zoo/<name>/calibration.json, which `wmgym zoo` lists. Every flag of
`wmgym calibrate` is accepted too (`--episodes`, `--state-episodes`, ...: `CalibrationConfig`).
Writes benchmarks/results/calibration.{json,md} and the full reports under --work.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import tyro

os.environ.setdefault("MUJOCO_GL", "egl")

from wmgym.calibrate import CalibrationConfig, calibrate, improve  # noqa: E402
from wmgym.calibrate.report import policy_table  # noqa: E402
from wmgym.checkpoint import read_config  # noqa: E402
from wmgym.zoo import ZOO, zoo_models  # noqa: E402

HORIZONS = ("1", "5", "15", "50")
IMPROVE = inspect.signature(improve).parameters  # its defaults, rather than copies of them


@dataclass
class Args:
    """What to calibrate, and where the results go."""

    models: tuple[str, ...] | None = None
    """Zoo models (default: all)."""
    policies_dir: Path | None = None
    """Folder with sac-<task>.zip and sac-<task>_<steps>.zip (agents/sac_truth.py --checkpoints).
    Loading an SB3 .zip runs code from it (SB3 unpickles it): load only files you trust."""
    improve: str | None = None
    """A zoo model to run active calibration on (`wmgym improve`)."""
    improve_rounds: int = 1
    """Active calibration rounds."""
    improve_minutes: float = IMPROVE["minutes"].default
    """Fine-tuning per round."""
    improve_episodes: int = IMPROVE["episodes"].default
    """New MuJoCo episodes per round."""
    improve_with: tuple[str, ...] = IMPROVE["train_also"].default
    """The model's own training data, to fine-tune on too."""
    work: Path = Path("runs/calibration")
    """Folder for the full reports."""
    ship: bool = False
    """Copy each card into wmgym/zoo/<name>/calibration.json."""
    results: Path = Path(__file__).parent / "results"
    """Folder for calibration.json and calibration.md."""
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    """What each calibration measures."""


def policies_for(task: str, folder: Path | None) -> list[str]:
    if folder is None:
        return []
    final = folder / f"sac-{task}.zip"
    partial = sorted(folder.glob(f"sac-{task}_*.zip"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if not final.is_file():
        print(f"no {final}: {task} is compared on the baseline policies only", file=sys.stderr)
        return []
    return [str(p) for p in partial] + [str(final), f"{final}@0.3", f"{final}@1.0"]


def with_policies(args: Args, task: str) -> CalibrationConfig:
    """The calibration settings, with the policies of ``task`` from ``--policies-dir`` added."""
    found = tuple(policies_for(task, args.policies_dir))
    return replace(args.calibration, policies=args.calibration.policies + found)


def summarize(card: dict) -> dict:
    by_h = card["by_horizon"]
    ret = card.get("returns") or {}
    return {
        "trust_horizon": card["trust_horizon"]["steps"],
        "trust_horizon_of": card["trust_horizon"]["of"],
        "limited_by": card["trust_horizon"]["limited_by"],
        "criteria": {
            n: {"model": c["horizon"], **c["baseline_horizons"]} for n, c in card["trust_horizon"]["criteria"].items()
        },
        "by_horizon": {
            h: {
                k: by_h[h][k]
                for k in ("psnr", "ssim", "psnr_moving", "psnr_moving_background", "state_rmse", "reward_mae")
            }
            | {"tolerance_median": by_h[h]["tolerance_median"]}
            for h in HORIZONS
            if h in by_h
        },
        "reward_mae": card["reward"]["mae"],
        "termination": card.get("termination"),
        "uncertainty_spearman": card["uncertainty"]["spearman_pooled"],
        "uncertainty_spearman_within_horizon": card["uncertainty"]["spearman_within_horizon"],
        "coverage_90": card["uncertainty"]["coverage_90"]["coverage"],
        "returns": {
            k: ret.get(k) for k in ("policies", "spearman", "spearman_ci95", "pearson", "pearson_ci95", "return_mae")
        },
        "returns_by_policy": [
            {k: r[k] for k in ("policy", "truth", "dream", "truth_length", "dream_length") if k in r}
            for r in ret.get("by_policy", [])
        ],
        "seconds": card["seconds"],
    }


def write_md(path: Path, result: dict) -> None:
    f = lambda x, n=2: "n/a" if x is None else f"{x:.{n}f}"  # noqa: E731
    lines = [
        "# Calibration of the zoo models against MuJoCo",
        "",
        f"Command (the latest run; each model's own under its heading): `{result['command']}`  ",
        f"Machine: {result['machine']}; {result['date']}. Full reports: {result['work']}/<model>/report.md.",
        "",
        "| model | trust horizon (steps) | limited by | uncertainty-error Spearman (pooled / within h) | "
        "return Spearman [95% CI] | return Pearson | policies | reward MAE |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["models"].items():
        ret = r["returns"]
        ci = ret.get("spearman_ci95") or [None, None]
        lines.append(
            f"| {name} | {r['trust_horizon']} of {r['trust_horizon_of']} | {r['limited_by'] or 'none within them'} | "
            f"{f(r['uncertainty_spearman'])} / {f(r['uncertainty_spearman_within_horizon'])} | "
            f"{f(ret.get('spearman'))} [{f(ci[0])}, {f(ci[1])}] | {f(ret.get('pearson'))} | {ret.get('policies')} | "
            f"{f(r['reward_mae'], 3)} |"
        )
    for name, r in result["models"].items():
        lines += [
            "",
            f"## {name}",
            "",
            *([f"Measured by `{r['command']}` ({r['date']})", ""] if r.get("command") else []),
            "Trust horizon per criterion (in brackets: how long the last frame repeated, and the static "
            "background, stay inside the same tolerance): "
            + ", ".join(
                f"{k} {v['model']} steps ({', '.join(f'{b} {n}' for b, n in v.items() if b != 'model')})"
                for k, v in r["criteria"].items()
            )
            + ".",
            "",
        ]
        tol = list(next(iter(r["by_horizon"].values()))["tolerance_median"])
        lines += [
            "| h | PSNR | SSIM | moving-px PSNR | background | state RMSE | reward MAE |"
            + "".join(f" {t} (median) |" for t in tol),
            "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(tol),
        ]
        for h, row in r["by_horizon"].items():
            lines.append(
                f"| {h} | {f(row['psnr'], 1)} | {f(row['ssim'])} | {f(row['psnr_moving'], 1)} | "
                f"{f(row['psnr_moving_background'], 1)} | {f(row['state_rmse'], 3)} | {f(row['reward_mae'], 3)} |"
                + "".join(f" {f(v, 3)} |" for v in row["tolerance_median"].values())
            )
        if r["termination"]:
            t = r["termination"]
            lines += [
                "",
                f"Termination: precision {f(t['precision'])}, recall {f(t['recall'])} ({t['true_terminations']} true).",
            ]
        by = r["returns_by_policy"]
        ended = bool(r["termination"]) and all("dream_length" in p for p in by)  # tasks whose episodes end early
        lines += ["", *policy_table(by, ("MuJoCo return", "dream return"), lengths=ended)]
    if result.get("improve"):
        imp = result["improve"]
        lines += ["", f"## Active calibration: {imp['model']}", "", f"Command part: {imp['settings']}", ""]
        keys = [
            k for k in imp["history"][0] if k not in ("label", "criteria", "tolerance_median_h5", "weak_starts", "data")
        ]
        lines += ["| | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
        for h in imp["history"]:
            lines.append(
                f"| {h['label']} | "
                + " | ".join(f(h[k], 3) if isinstance(h.get(k), float) else str(h.get(k)) for k in keys)
                + " |"
            )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    args = tyro.cli(Args, description=__doc__.splitlines()[0], config=(tyro.conf.OmitArgPrefixes,))
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, CPU only",
        "date": time.strftime("%Y-%m-%d"),
        "work": str(args.work),
        "models": {},
    }
    args.results.mkdir(parents=True, exist_ok=True)
    json_path = args.results / "calibration.json"
    if json_path.is_file():  # keep models measured by an earlier run of this script
        result["models"] = json.loads(json_path.read_text()).get("models", {})
        result["improve"] = json.loads(json_path.read_text()).get("improve")
    if result.get("improve") and result["improve"]["model"] in (args.models or zoo_models()):
        result["improve"] = None  # it measured the model this run re-calibrates: maybe no longer the same model
    for name in zoo_models() if args.models is None else args.models:
        task = read_config(ZOO / name)["task"]["name"]
        card = calibrate(name, args.work / name, with_policies(args, task))
        result["models"][name] = summarize(card) | {"command": result["command"], "date": result["date"]}
        if args.ship:
            shutil.copy(args.work / name / "card.json", ZOO / name / "calibration.json")
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        write_md(args.results / "calibration.md", result)
    if args.improve:
        task = read_config(ZOO / args.improve)["task"]["name"]
        card = improve(
            args.improve,
            args.work / f"{args.improve}-improve",
            args.improve_rounds,
            with_policies(args, task),
            minutes=args.improve_minutes,
            episodes=args.improve_episodes,
            train_also=tuple(args.improve_with),
        )
        result["improve"] = {
            "model": args.improve,
            "settings": f"--improve-rounds {args.improve_rounds} --improve-minutes {args.improve_minutes} "
            f"--improve-episodes {args.improve_episodes}"
            + (f" --improve-with {' '.join(args.improve_with)}" if args.improve_with else ""),
            "history": card["improve"]["history"],
        }
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    write_md(args.results / "calibration.md", result)
    print((args.results / "calibration.md").read_text())


if __name__ == "__main__":
    main()
