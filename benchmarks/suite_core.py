"""Record the core benchmark suite: every shipped dream (reacher, inverted_pendulum, pusher), agents
ppo, sac and latent_ac, 5 seeds, 60k dream steps per cell, scored in MuJoCo, rliable statistics.

Run:  python benchmarks/suite_core.py [--out runs/bench-core] [--workers 2]
      (the same as `wmgym bench --suite core --out runs/bench-core`, then copying its outputs)
Writes benchmarks/results/suite_core.{json,md} and benchmarks/results/suite_core/*.png. About 30-45
minutes on 2 free cores (docs/benchmarks.md); an interrupted run resumes with the same command.
``--suite smoke --results DIR`` tries the whole script in minutes (writing DIR/suite_smoke.*).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from wmgym.bench.config import BenchConfig
from wmgym.bench.runner import run_bench

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/bench-core"), help="the run folder (resumes if it exists)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--suite", default="core")
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args()
    start = time.perf_counter()
    results = run_bench(args.out, BenchConfig(suite=args.suite, workers=args.workers))
    if results["missing"]:
        sys.exit(f"{len(results['missing'])} cells did not finish; run the same command again to retry them")
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    record = {"command": command, "date": time.strftime("%Y-%m-%d"), "wall_minutes": _minutes(start), **results}
    name, res = f"suite_{args.suite}", args.results
    res.mkdir(parents=True, exist_ok=True)
    (res / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    plots = res / name
    plots.mkdir(exist_ok=True)
    report = (args.out / "report.md").read_text()
    for png in sorted(args.out.glob("*.png")):
        shutil.copy(png, plots / png.name)
        report = report.replace(f"]({png.name})", f"]({name}/{png.name})")
    when = f"{record['date']}; this invocation {record['wall_minutes']:.0f} minutes wall time"
    title, _, body = report.partition("\n\n")
    (res / f"{name}.md").write_text(f"{title}\n\nCommand: `{command}` ({when})\n\n{body}")
    print(f"wrote {res / name}.json, {res / name}.md and {plots}/")


def _minutes(start: float) -> float:
    return round((time.perf_counter() - start) / 60, 1)


if __name__ == "__main__":
    main()
