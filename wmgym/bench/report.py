"""report.md and the plots of a benchmark run, from its results (as in results.json)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wmgym.bench.config import NOMINAL

PLOTS = {
    "per_task.png": "MuJoCo return per task: mean over seeds, 95% CI",
    "interval_estimates.png": "aggregate IQM, mean and optimality gap of normalized scores, 95% CIs",
    "performance_profile.png": "performance profiles: fraction of runs above each normalized score",
    "sample_efficiency.png": "MuJoCo score vs dream steps",
    "dream_vs_mujoco.png": "each cell's dream estimate against its MuJoCo return",
}


def write(out: Path, results: dict, timings: list[dict]) -> Path:
    """Write ``out/report.md`` and the PNGs it shows (those the results allow)."""
    drawn = [] if results["missing"] else _plots(out, results)
    text = "\n".join(_markdown(results, timings, drawn)) + "\n"
    (out / "report.md").write_text(text)
    return out / "report.md"


# -- markdown -----------------------------------------------------------------------------------------


def _markdown(r: dict, timings: list[dict], drawn: list[str]) -> list[str]:
    lines = [f"# wmgym bench: suite {r['suite']}", ""]
    lines += [
        f"Tasks {', '.join(r['tasks'])}; agents {', '.join(r['agents'])}; seeds {r['seeds'][0]}..{r['seeds'][-1]}; "
        f"{r['settings']['budget']} dream steps per cell; {r['settings']['eval_episodes']} MuJoCo episodes per "
        f"cell ({r['evaluation_seeds']}). Cell time: {sum(t.get('total_s', 0) for t in timings) / 60:.1f} CPU-minutes.",
        "",
    ]
    if r["missing"]:
        why = "; ".join(f"{k}: {v.strip().splitlines()[-1]}" for k, v in r["failed"].items())
        return [*lines, f"**Incomplete**: {len(r['missing'])} cells missing ({', '.join(r['missing'])}). {why}",
                "", "Run the same command again to run them; the statistics need every cell."]  # fmt: skip
    lines += _per_task_table(r)
    lines += _aggregate_table(r)
    lines += _improvement_table(r)
    lines += _correlation_table(r)
    lines += ["## What the results say", "", _paragraph(r), ""]
    lines += ["## Plots", ""] + [f"![{PLOTS[p]}]({p})" for p in drawn] + [""]
    lines += [
        "Statistics: rliable (Agarwal et al. 2021); 95% stratified percentile bootstrap CIs "
        f"({r['bootstrap_reps']} replications); see docs/benchmarks.md.",
    ]
    return lines


def _per_task_table(r: dict) -> list[str]:
    refs = r["references"]
    lines = [
        "## Per task (MuJoCo, nominal)",
        "",
        "Mean over seeds of each cell's mean return [95% CI]; normalized: random 0, reference 1 (tasks with a "
        "reference only); dream: the dream's own estimate of the same policies' return.",
        "",
        "| task | agent | MuJoCo return | normalized | dream estimate |",
        "|---|---|---:|---:|---:|",
    ]
    for task, agents in r["worlds"][NOMINAL]["per_task"].items():
        for agent, v in agents.items():
            norm = _ci(v["normalized"]) if v["normalized"] else ("n/a (no reference)" if refs[task] is None else "")
            lines.append(f"| {task} | {agent} | {_ci(v['return'])} | {norm} | {v['dream_return']:.2f} |")
    for world, entry in r["worlds"].items():
        if world != NOMINAL:
            lines += ["", f"In world `{world}`:", ""]
            for task, agents in entry["per_task"].items():
                lines.append(f"- {task}: " + ", ".join(f"{a} {_ci(v['return'])}" for a, v in agents.items()))
            if entry.get("aggregates"):
                iqm = ", ".join(f"{a} {_ci(m['iqm'])}" for a, m in entry["aggregates"].items())
                lines.append(f"- IQM of normalized scores: {iqm}")
    return [*lines, ""]


def _aggregate_table(r: dict) -> list[str]:
    if not r.get("aggregates"):
        return ["## Aggregate", "", "No task of this run has a reference, so no normalized aggregate.", ""]
    lines = [
        f"## Aggregate over tasks with a reference ({', '.join(r['normalized_tasks'])}), normalized scores",
        "",
        "| agent | IQM | mean | optimality gap |",
        "|---|---:|---:|---:|",
    ]
    for agent, m in r["aggregates"].items():
        lines.append(f"| {agent} | {_ci(m['iqm'])} | {_ci(m['mean'])} | {_ci(m['optimality_gap'])} |")
    left = [t for t in r["tasks"] if t not in r["normalized_tasks"]]
    if left:
        lines += ["", f"Raw only (no reference yet, so not aggregated): {', '.join(left)}."]
    return [*lines, ""]


def _improvement_table(r: dict) -> list[str]:
    poi = r["worlds"][NOMINAL]["probability_of_improvement"]
    if not poi:
        return []
    lines = ["## Probability of improvement (all tasks)", "", "| X | Y | P(X > Y) |", "|---|---|---:|"]
    for pair, v in poi.items():
        x, y = pair.split(",")
        lines.append(f"| {x} | {y} | {_ci(v)} |")
    return [*lines, ""]


def _correlation_table(r: dict) -> list[str]:
    c = r["correlation"]
    lines = [
        "## Dream vs MuJoCo (across each task's cells)",
        "",
        "| task | cells | Pearson | Spearman | MMRV (return) | MMRV (normalized) | dream - MuJoCo |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for task in r["tasks"]:
        v = c[task]
        lines.append(
            f"| {task} | {v['cells']} | {_f(v['pearson'])} | {_f(v['spearman'])} | {_f(v['mmrv'])} | "
            f"{_f(v['mmrv_normalized'])} | {_f(v['dream_minus_mujoco'])} |"
        )
    o = c["overall"]
    lines.append(f"| mean over tasks | | {_f(o['pearson'])} | {_f(o['spearman'])} | | {_f(o['mmrv_normalized'])} | |")
    return [*lines, ""]


def _paragraph(r: dict) -> str:
    parts = []
    agg = r.get("aggregates")
    if agg:
        ranked = sorted(agg, key=lambda a: -agg[a]["iqm"]["value"])
        best, rest = ranked[0], ranked[1:]
        lo = agg[best]["iqm"]["ci"][0]
        separated = [a for a in rest if agg[a]["iqm"]["ci"][1] < lo]
        parts.append(
            f"On the tasks with a reference ({', '.join(r['normalized_tasks'])}), {best} has the highest IQM "
            f"({_ci(agg[best]['iqm'])})"
            + (f"; its CI lies above {', '.join(separated)}'s" if separated else "")
            + (
                f"; it overlaps {', '.join(a for a in rest if a not in separated)}'s"
                if len(separated) < len(rest)
                else ""
            )
            + "."
        )
    poi = r["worlds"][NOMINAL]["probability_of_improvement"]
    sure = [(p, v) for p, v in poi.items() if v["ci"][0] > 0.5]
    if sure:
        parts.append(
            "Over all tasks, "
            + "; ".join(f"P({p.split(',')[0]} > {p.split(',')[1]}) = {_ci(v)}" for p, v in sure)
            + ": the CI excludes 0.5."
        )
    elif poi:
        parts.append(
            "No probability of improvement has a CI excluding 0.5: no agent is shown better at this number of seeds."
        )
    for task, agents in r["worlds"][NOMINAL]["per_task"].items():
        top = max(agents, key=lambda a: agents[a]["return"]["value"])
        parts.append(f"On {task}, {top} returns the most in MuJoCo ({_ci(agents[top]['return'])}).")
    c = r["correlation"]
    over = [f"{t} {c[t]['dream_minus_mujoco']:+.1f}" for t in r["tasks"] if c[t]["dream_minus_mujoco"] is not None]
    parts.append(
        f"The dreams rank the trained policies as MuJoCo does with a mean Spearman of {_f(c['overall']['spearman'])} "
        f"across tasks; the dream's estimate minus the MuJoCo return averages {', '.join(over)}"
        " (positive: the dream promises more than MuJoCo gives)."
    )
    if r["suite"] == "smoke":
        parts.append("This is the smoke suite: its budgets are tiny and its numbers say only that the pipeline runs.")
    return " ".join(parts)


def _ci(v: dict | None) -> str:
    if not v:
        return ""
    lo, hi = v["ci"]
    return f"{_f(v['value'])} [{_f(lo)}, {_f(hi)}]"


def _f(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.2f}"


# -- plots --------------------------------------------------------------------------------------------


def _plots(out: Path, r: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    drawn = [_per_task_plot(out, r)]
    if r.get("aggregates"):
        drawn += [_interval_plot(out, r), _profile_plot(out, r)]
    if r["curves"]["targets"]:
        drawn.append(_curve_plot(out, r))
    drawn.append(_dream_plot(out, r))
    return drawn


def _per_task_plot(out: Path, r: dict) -> str:
    import matplotlib.pyplot as plt

    per = r["worlds"][NOMINAL]["per_task"]
    fig, axes = plt.subplots(1, len(per), figsize=(3.2 * len(per), 0.5 + 0.45 * len(r["agents"])), squeeze=False)
    for ax, (task, agents) in zip(axes[0], per.items(), strict=True):
        for i, v in enumerate(agents.values()):
            lo, hi = v["return"]["ci"]
            ax.barh(i, hi - lo, left=lo, height=0.6, alpha=0.6, color=f"C{i}")
            ax.plot([v["return"]["value"]] * 2, [i - 0.3, i + 0.3], color="k")
        ax.set_yticks(range(len(agents)), list(agents))
        ax.set_title(task)
        ax.set_xlabel("MuJoCo return")
    return _save(fig, out, "per_task.png")


def _interval_plot(out: Path, r: dict) -> str:
    from rliable import plot_utils

    agg = r["aggregates"]
    points = {a: np.array([agg[a][m]["value"] for m in ("iqm", "mean", "optimality_gap")]) for a in agg}
    cis = {a: np.array([agg[a][m]["ci"] for m in ("iqm", "mean", "optimality_gap")]).T for a in agg}
    fig, _ = plot_utils.plot_interval_estimates(
        points,
        cis,
        metric_names=["IQM", "Mean", "Optimality gap"],
        algorithms=list(agg),
        xlabel="Normalized score",
        row_height=0.6,
        xlabel_y_coordinate=-0.3,
    )
    return _save(fig, out, "interval_estimates.png", tight=False)


def _profile_plot(out: Path, r: dict) -> str:
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    prof = r["worlds"][NOMINAL]["performance_profiles"]
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_utils.plot_performance_profiles(
        {a: np.array(v["value"]) for a, v in prof["profiles"].items()},
        np.array(prof["taus"]),
        performance_profile_cis={a: np.array(v["ci"]) for a, v in prof["profiles"].items()},
        ax=ax,
        xlabel=r"Normalized score ($\tau$)",
    )
    ax.legend(ax.get_lines()[: len(prof["profiles"])], list(prof["profiles"]), loc="upper right")
    return _save(fig, out, "performance_profile.png")


def _curve_plot(out: Path, r: dict) -> str:
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    cur = r["curves"]
    panels = [(t, "MuJoCo return", v) for t, v in cur["per_task"].items()]
    if cur["aggregate"]:
        panels.append((", ".join(cur["aggregate"]["tasks"]), "IQM normalized score", cur["aggregate"]["iqm"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    steps = np.array(cur["targets"])
    for ax, (title, label, curves) in zip(axes[0], panels, strict=True):
        plot_utils.plot_sample_efficiency_curve(
            steps,
            {a: np.array(v["value"]) for a, v in curves.items()},
            {a: np.array(v["ci"]) for a, v in curves.items()},
            algorithms=list(curves),
            ax=ax,
            xlabel="dream steps",
            ylabel=label,
            labelsize="medium",
            ticklabelsize="small",
        )
        ax.set_title(title)
        ax.legend(fontsize="small")
    return _save(fig, out, "sample_efficiency.png")


def _dream_plot(out: Path, r: dict) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(r["tasks"]), figsize=(3.6 * len(r["tasks"]), 3.4), squeeze=False)
    for ax, task in zip(axes[0], r["tasks"], strict=True):
        for i, agent in enumerate(r["agents"]):
            cells = [c for c in r["cells"] if c["task"] == task and c["agent"] == agent]
            real = [np.mean(c["returns"][NOMINAL]) for c in cells]
            dream = [np.mean(c["dream_returns"]) for c in cells]
            ax.scatter(dream, real, label=agent, color=f"C{i}", s=18)
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k:", lw=0.8)
        ax.set(title=f"{task} (Spearman {_f(r['correlation'][task]['spearman'])})", xlabel="dream", ylabel="MuJoCo")
        ax.legend(fontsize="small")
    return _save(fig, out, "dream_vs_mujoco.png")


def _save(fig, out: Path, name: str, tight: bool = True) -> str:
    import matplotlib.pyplot as plt

    if tight:
        fig.tight_layout()
    fig.savefig(out / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return name
