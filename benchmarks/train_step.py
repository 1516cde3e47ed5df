"""Time one training step of a world-model preset: fp32 vs bf16 autocast, eager vs torch.compile.

Run:  python benchmarks/train_step.py [--preset small] [--batch-size 16] [--seq-len 32] [--device cpu]
Writes benchmarks/results/train_step.{json,md}. Random inputs of Reacher's shapes; the median of
--steps timed steps after --warmup untimed ones (compilation happens in the warm-up).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from wmgym.model import WorldModel
from wmgym.model.config import preset


def batch(b: int, t: int) -> dict:
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    return {
        "pixels": torch.randint(0, 256, (b, t, 64, 64, 3), dtype=torch.uint8),
        "state": torch.randn(b, t, 10),
        "action": torch.rand(b, t, 2) * 2 - 1,
        "reward": torch.randn(b, t),
        "terminated": torch.zeros(b, t, dtype=torch.bool),
        "is_first": first,
    }


def time_steps(args, bf16: bool, compiled: bool) -> float:
    torch.manual_seed(0)
    model = WorldModel(preset(args.preset, state_dim=10, action_dim=2)).to(args.device)
    net = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), 6e-4)
    data = {k: v.to(args.device) for k, v in batch(args.batch_size, args.seq_len).items()}
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        with torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16, enabled=bf16):
            loss, _ = net(data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="small")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    rows = []
    for compiled in (False, True):
        for bf16 in (False, True):
            s = time_steps(args, bf16, compiled)
            frames = args.batch_size * args.seq_len / s
            rows.append(
                {"compile": compiled, "precision": "bf16" if bf16 else "fp32", "step_s": s, "frames_per_s": frames}
            )
            print(json.dumps(rows[-1]), flush=True)
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    out = {
        "command": command,
        "machine": f"{os.cpu_count()} cores",
        "device": args.device,
        "rows": rows,
        "date": time.strftime("%Y-%m-%d"),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    name = "train_step" if args.device == "cpu" else f"train_step_{args.device.replace(':', '')}"
    (args.results / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# Training step, `{args.preset}` preset, batch {args.batch_size}x{args.seq_len}, {args.device}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {out['machine']}; {out['date']}. Median of {args.steps} steps.",
        "",
        "| torch.compile | precision | s/step | frames/s |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {r['compile']} | {r['precision']} | {r['step_s']:.3f} | {r['frames_per_s']:.0f} |" for r in rows]
    (args.results / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
