"""The gap report's files: ``heatmap.png`` (normalized returns, policies x worlds) and ``report.md``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wmgym.gap.matrix import Scale


def write_report(out: Path, report: dict, scale: Scale) -> dict:
    """Write the heatmap and report.md into ``out``; returns {what: file name}."""
    files = {"heatmap": _heatmap(out / "heatmap.png", report, scale), "report": "report.md"}
    (out / "report.md").write_text(_markdown(report, files))
    return files


def _heatmap(path: Path, report: dict, scale: Scale) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, worlds = list(report["returns"]), report["worlds"]
    means = np.array([[report["returns"][r][w]["mean"] for w in worlds] for r in rows])
    norm = scale(means)
    fig, ax = plt.subplots(figsize=(1.5 + 1.25 * len(worlds), 1.0 + 0.5 * len(rows)))
    image = ax.imshow(
        norm, cmap="viridis", vmin=min(0.0, np.nanmin(norm)), vmax=max(1.0, np.nanmax(norm)), aspect="auto"
    )
    for i, r in enumerate(rows):
        for j, w in enumerate(worlds):
            low, high = report["returns"][r][w]["ci95"]
            text = f"{means[i, j]:.1f}\n[{low:.1f}, {high:.1f}]"
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="w" if norm[i, j] < 0.6 else "k")
    ax.set_xticks(range(len(worlds)), worlds, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{r} policy" for r in rows], fontsize=8)
    ax.set_xlabel("world the policy is evaluated in")
    fig.colorbar(image, ax=ax, label="normalized return (random 0, expert 1)")
    ax.set_title(
        f"{report['model']}: return (mean [95% CI] over {report['settings']['episodes']} episodes)", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path.name


def _markdown(report: dict, files: dict) -> str:
    worlds, scale = report["worlds"], report["scale"]
    lines = [
        f"# Sim-to-real gap of `{report['model']}` ({report['task']}, {report['date']})",
        "",
        f"![returns]({files['heatmap']})",
        "",
        "## How to read it",
        "",
        "Rows are policies, named by where they were trained: `mujoco` in nominal MuJoCo, `dream` in the "
        "nominal world model, `adapted:P` in the world model adapted to robot P, `oracle:P` in robot P's "
        "MuJoCo itself. Columns are worlds: `mujoco` (the simulator), `mujoco:P` (a perturbed MuJoCo standing in "
        "for a real robot: `wmgym perturbations`), `dream` and `dream:P` (the world models). A cell is the mean "
        f"return over {report['settings']['episodes']} episodes (the same reset seeds in every MuJoCo world) with "
        "its 95% bootstrap interval. The sim-to-real gap of a policy is its row's drop from `mujoco` to "
        "`mujoco:P`; adaptation closes it if `adapted:P` comes closer to `oracle:P` in column `mujoco:P` than "
        "`dream` does.",
        "",
        f"Normalized return: random 0, expert 1; {scale['how']}.",
        "",
        "## Returns",
        "",
        "| policy | " + " | ".join(f"`{w}`" for w in worlds) + " |",
        "|---|" + "---:|" * len(worlds),
    ]
    for r, row in report["returns"].items():
        cells = [f"{row[w]['mean']:.2f} [{_num(row[w]['ci95'][0])}, {_num(row[w]['ci95'][1])}]" for w in worlds]
        lines.append(f"| `{r}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Does a dream rank the policies as a robot does?",
        "",
        "SIMPLER's metrics (Li et al. 2024) across the policies above: Pearson r of mean returns (1: the dream "
        "orders and spaces them as the robot), and the mean maximum rank violation (MMRV) in normalized return "
        "(0: every pair ordered as on the robot; larger: the dream prefers policies that are worse by that much).",
        "",
        "| dream | MuJoCo world | Pearson r [95% CI] | MMRV [95% CI] |",
        "|---|---|---:|---:|",
    ]
    for k in report["ranking"]:
        lo, hi = k["pearson_ci95"]
        mlo, mhi = k["mmrv_ci95"]
        lines.append(
            f"| `{k['dream']}` | `{k['mujoco']}` | {_num(k['pearson'])} [{_num(lo)}, {_num(hi)}] | "
            f"{_num(k['mmrv'], 3)} [{_num(mlo, 3)}, {_num(mhi, 3)}] |"
        )
    lines += _adaptation(report) + _missing(report) + ["", f"Written by `wmgym gap` in {report['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def _adaptation(report: dict) -> list[str]:
    if not report["adaptation"]:
        return []
    lines = [
        "",
        "## Adaptation",
        "",
        "| robot | episodes used | trust horizon before | after |",
        "|---|---:|---:|---:|",
    ]
    for p, a in report["adaptation"].items():
        cal = a.get("calibration", {})
        before, after = (cal.get(k, {}).get("trust_horizon", "n/a") for k in ("before", "after"))
        lines.append(f"| `{p}` | {a['episodes_used']} | {before} | {after} |")
    return lines


def _missing(report: dict) -> list[str]:
    if not report["missing"]:
        return []
    return ["", "Not compared (give them, or pass --train): " + ", ".join(f"`{m}`" for m in report["missing"]) + "."]


def _num(x, digits: int = 2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"
