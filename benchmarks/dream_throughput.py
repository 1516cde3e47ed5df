"""Steps/s of the dream vector env (batch 1, 64, 256, 1024; state, latent and pixel observations;
fp32 and bf16) against the rendered truth env, in one run, printed as ratios.

Run:  python benchmarks/dream_throughput.py --model reacher [--device cpu] [--seconds 3]
Writes benchmarks/results/dream_throughput[_<device>].{json,md}. The truth baselines are measured
in the same run: TruthEnv with pixels in one process, `wmgym collect` with 2 worker processes, and
the plain gymnasium env (`Reacher-v5`, state only, no rendering): the number a user will ask for.
On CPU the dream returns numpy (what a user gets); on CUDA torch tensors (array_type="torch"), so no
host copy is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from wmgym.data import collect  # noqa: E402
from wmgym.dream import DreamVectorEnv  # noqa: E402
from wmgym.truth import TruthEnv  # noqa: E402

BATCHES = (1, 64, 256, 1024)
MODES = ("state", "latent", "pixels")


def dream_steps_per_s(model: str, mode: str, n: int, device: str, seconds: float, precision: str) -> float:
    arrays = "torch" if device.startswith("cuda") else "numpy"
    env = DreamVectorEnv.load(model, num_envs=n, device=device, obs_mode=mode, precision=precision, array_type=arrays)
    env.reset(seed=0)
    actions = torch.zeros((n, *env.single_action_space.shape), device=device)
    env.step(actions)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions)
        steps += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * n / (time.perf_counter() - start)


RENDERER_DEPTHS = (16, 12, 10, 8)
"""cnn_depth of the renderers timed alone (random weights; 16 is ``ensemble-small``'s): what a smaller
renderer would buy in pixel throughput, before anyone trains one."""


def renderer_rows(model, device: str, seconds: float, batch: int = 256) -> list[dict]:
    """Frames/s and MFLOP per frame of the model's renderer architecture at its own cnn depth, then
    each other one of RENDERER_DEPTHS."""
    from wmgym.model.ensemble_nets import Renderer

    cfg = model.cfg
    latent = model.renderer.fc[0].in_features
    rows = []
    for depth in dict.fromkeys((cfg.cnn_depth, *RENDERER_DEPTHS)):
        r = Renderer(cfg.image_size, depth, latent, cfg.hidden).to(device).eval()
        x = torch.randn(batch, latent, device=device)
        background = torch.rand(*cfg.image_size, 3, device=device)

        def generic(x=x, r=r, background=background):  # the textbook path: forward, add, clamp, round
            return ((r(x) + background).clamp(0, 1) * 255).round().to(torch.uint8)

        rate = {
            name: _rate(f, x, batch, device, seconds)
            for name, f in (("generic", generic), ("frames", lambda x=x, r=r, b=background: r.frames(x, b)))
        }
        rows.append(
            {
                "depth": depth,
                "frames_per_s": rate["frames"],
                "generic_frames_per_s": rate["generic"],
                "mflop": _mflop(r, cfg),
            }
        )
    return rows


def _rate(fn, x, batch: int, device: str, seconds: float) -> float:
    """uint8 frames/s of ``fn(x)`` over about ``seconds`` (after one untimed call)."""
    with torch.inference_mode():
        fn(x)
        frames, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn(x)
            frames += batch
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return frames / (time.perf_counter() - start)


def _mflop(renderer, cfg) -> float:
    """Multiply-adds x 2 of one frame: the fc layers and each stride-2 transposed conv (4x4 kernel)."""
    fc = sum(m.in_features * m.out_features for m in renderer.fc if isinstance(m, torch.nn.Linear))
    pixels = (cfg.image_size[0] // 16) * (cfg.image_size[1] // 16)
    conv = 0
    for m in renderer.deconv:
        if isinstance(m, torch.nn.ConvTranspose2d):
            conv += pixels * m.in_channels * m.out_channels * 16
            pixels *= 4
    return 2 * (fc + conv) / 1e6


def cpu_description() -> str:
    """The CPU's model name and the vector extensions that decide these numbers (bf16 autocast is fast
    only with AVX512-BF16 or AMX; fp32 matmuls run ~2x faster with AVX-512 than with AVX2 alone)."""
    from wmgym.model.precision import cpu_flags

    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    known = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    ext = [f for f in known if f in flags]
    return f"{name} ({', '.join(ext) if ext else 'none of ' + ', '.join(known)})"


def truth_steps_per_s(task: str, seconds: float) -> dict:
    env = TruthEnv(task)
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, term, trunc, _ = env.step(np.zeros(env.action_space.shape))
        steps += 1
        if term or trunc:
            env.reset()
    single = steps / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        r = collect(task, 200, Path(tmp) / "d", workers=2, progress=False)  # long enough to amortize spawning
    return {"single": single, "workers_2": r.new_steps / r.seconds, "plain": plain_steps_per_s(task, seconds)}


def plain_steps_per_s(task: str, seconds: float) -> float:
    """The wrapped gymnasium env itself (e.g. Reacher-v5): state observations, no rendering."""
    import gymnasium as gym

    from wmgym.tasks import get_task

    env = gym.make(get_task(task).gym_id)
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, term, trunc, _ = env.step(action)
        steps += 1
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="reacher")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    env = DreamVectorEnv.load(args.model, num_envs=1)
    task = env.task_spec.name
    truth = truth_steps_per_s(task, args.seconds)
    rows = []
    for precision in ("fp32", "bf16"):
        for mode in MODES:
            for n in BATCHES:
                rate = dream_steps_per_s(args.model, mode, n, args.device, args.seconds, precision)
                rows.append(
                    {
                        "precision": precision,
                        "mode": mode,
                        "batch": n,
                        "steps_per_s": rate,
                        "x_truth_single": rate / truth["single"],
                        "x_truth_workers": rate / truth["workers_2"],
                        "x_plain": rate / truth["plain"],
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    renderers = renderer_rows(env.model, args.device, args.seconds) if hasattr(env.model, "renderer") else []
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    out = {
        "command": command,
        "device": args.device,
        "machine": f"{os.cpu_count()} cores, {cpu_description()}",
        "task": task,
        "truth_steps_per_s": truth,
        "rows": rows,
        "renderers": renderers,
        "date": time.strftime("%Y-%m-%d"),
    }
    suffix = "" if args.device == "cpu" else f"_{args.device.replace(':', '')}"
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"dream_throughput{suffix}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# Dream vector env throughput: {task}, {args.device}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {out['machine']}; {out['date']}. Truth (rendered, 64x64): {truth['single']:.0f} steps/s in one "
        f"process, {truth['workers_2']:.0f} with 2 workers; plain `{task}` gymnasium env (state, unrendered): "
        f"{truth['plain']:.0f} steps/s. Model: `{args.model}`.",
        "",
        "| precision | obs | batch | dream steps/s | x truth (1 proc) | x truth (2 workers) | x plain env |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['precision']} | {r['mode']} | {r['batch']} | {r['steps_per_s']:.0f} | {r['x_truth_single']:.1f} | "
        f"{r['x_truth_workers']:.1f} | {r['x_plain']:.2f} |"
        for r in rows
    ]
    if renderers:
        base = renderers[0]["frames_per_s"]
        lines += [
            "",
            f"The renderer alone (random weights, fp32, batch 256, uint8 frames by `Renderer.frames`, as the dream makes them; beside it the generic path, forward + background, clamp, round) by cnn depth ({renderers[0]['depth']}: the "
            "model's own, first); a frame per env step in pixel mode, so this bounds the pixel rows:",
            "",
            f"| cnn depth | MFLOP per frame | frames/s | x depth {renderers[0]['depth']} | x truth (1 proc) | "
            "generic path frames/s | x generic |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['depth']} | {r['mflop']:.1f} | {r['frames_per_s']:.0f} | {r['frames_per_s'] / base:.2f} | "
            f"{r['frames_per_s'] / truth['single']:.1f} | {r['generic_frames_per_s']:.0f} | "
            f"{r['frames_per_s'] / r['generic_frames_per_s']:.2f} |"
            for r in renderers
        ]
    (args.results / f"dream_throughput{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
