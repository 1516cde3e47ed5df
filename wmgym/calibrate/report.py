"""The calibration report: Markdown with PNG plots (matplotlib, Agg), and mp4s of paired rollouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wmgym.metrics import describe_limit
from wmgym.video import error_frames, side_by_side, write_mp4


def write_report(out: Path, card: dict, spec, truth, pred, fidelity, state, sweep, videos: bool = True) -> dict:
    """Write plots, videos and ``report.md`` into ``out``; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    files = {
        "error_vs_horizon": _plot_errors(out / "error_vs_horizon.png", card, fidelity, state),
        "uncertainty_vs_error": _plot_uncertainty(out / "uncertainty_vs_error.png", card),
    }
    if card.get("returns"):
        files["returns"] = _plot_returns(out / "returns.png", card["returns"])
    trusted = card["trust_horizon"]["steps"]
    rollouts = _videos(out, truth, pred, state, len(truth), trusted) if videos else {}
    files.update({f"video_{name}": file for name, (file, _) in rollouts.items()})
    files["report"] = "report.md"
    (out / "report.md").write_text(_markdown(card, files, {name: i for name, (_, i) in rollouts.items()}))
    return files


def _plot_errors(path: Path, card: dict, fidelity: dict, state: dict) -> str:
    import matplotlib.pyplot as plt

    crit = card["trust_horizon"]["criteria"]
    trusted = card["trust_horizon"]["steps"]
    state_crit = [n for n, c in crit.items() if c["kind"] == "state"]
    ncols = 2 + len(state_crit)
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.4))
    h = np.arange(1, fidelity["psnr"].shape[1] + 1)
    ax = axes[0]
    for key, label in [
        ("psnr_moving", "model"),
        ("psnr_moving_repeat_last", "repeat last frame"),
        ("psnr_moving_background", "static background"),
    ]:
        ax.plot(h, np.nanmedian(fidelity[key], 0), label=label)
    pix = [c for c in crit.values() if c["kind"] == "pixels"]
    if pix:
        ax.axhline(pix[0]["threshold"], color="k", ls="--", lw=0.8, label="tolerance")
        _mark_trust(ax, trusted, pix[0]["horizon"])
    else:
        _mark_trust(ax, trusted)
    ax.set(title="robot and object pixels", xlabel="horizon (steps)", ylabel="median PSNR (dB)")
    ax.legend(fontsize=7)
    ax = axes[1]  # full frame
    ax.plot(h, np.nanmean(fidelity["psnr"], 0), label="PSNR, model")
    ax.plot(h, np.nanmean(fidelity["psnr_background"], 0), label="PSNR, background")
    ax.set(title="full frame", xlabel="horizon (steps)", ylabel="mean PSNR (dB)")
    _mark_trust(ax, trusted)
    ax2 = ax.twinx()
    ax2.plot(h, np.nanmean(fidelity["ssim"], 0), color="C3", label="SSIM, model (right axis)")
    ax2.set_ylabel("mean SSIM")
    handles = [hd for a in (ax, ax2) for hd in a.get_legend_handles_labels()[0]]
    ax2.legend(handles=handles, fontsize=7, loc="upper right")  # both axes' lines, drawn over them
    for ax, name in zip(axes[2:], state_crit, strict=True):
        c = crit[name]
        err = state["tolerances"][name]
        ax.plot(h, np.nanmedian(err, 0), label="median")
        ax.plot(
            h, np.nanmedian(state["tolerances_repeat_last"][name], 0), color="C1", lw=0.8, label="robot frozen (median)"
        )
        ax.fill_between(h, np.nanquantile(err, 0.25, 0), np.nanquantile(err, 0.75, 0), alpha=0.3, label="25-75%")
        ax.axhline(c["threshold"], color="k", ls="--", lw=0.8, label="tolerance")
        _mark_trust(ax, trusted, c["horizon"])
        ax.set(title=name, xlabel="horizon (steps)", ylabel=f"error ({c['unit']})")
        ax.legend(fontsize=7)
    fig.suptitle(f"{card['model']}: error vs horizon (trust horizon {trusted} steps)")
    return _save(fig, path)


def _mark_trust(ax, trusted: int, criterion: int | None = None) -> None:
    """The model's trust horizon on a panel, and the panel's own criterion's where it differs."""
    ax.axvline(trusted + 0.5, color="C4", lw=1.2, label=f"trust horizon h={trusted}")
    if criterion is not None and criterion != trusted:
        ax.axvline(criterion + 0.5, color="C4", lw=0.8, ls=":", label=f"this criterion alone: h={criterion}")


def _plot_uncertainty(path: Path, card: dict) -> str:
    import matplotlib.pyplot as plt

    unc, err, valid = card["uncertainty"]["_per_step"]
    hh = np.broadcast_to(np.arange(1, unc.shape[1] + 1), unc.shape)
    rng = np.random.default_rng(0)
    idx = np.flatnonzero(valid.ravel())
    idx = rng.choice(idx, min(len(idx), 4000), replace=False)
    fig, ax = plt.subplots(figsize=(5, 4))
    sc = ax.scatter(unc.ravel()[idx], err.ravel()[idx], c=hh.ravel()[idx], s=3, cmap="viridis", alpha=0.6)
    fig.colorbar(sc, label="horizon (steps)")
    u = card["uncertainty"]
    ax.set(
        xlabel="model uncertainty (ensemble disagreement)",
        ylabel="state error (std units)",
        title=f"Spearman {u['spearman_pooled']:.2f} pooled, {u['spearman_within_horizon']:.2f} within horizon",
    )
    return _save(fig, path)


def _plot_returns(path: Path, returns: dict) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.2))
    t = np.array([r["truth"] for r in returns["by_policy"]])
    d = np.array([r["dream"] for r in returns["by_policy"]])
    ax.scatter(t, d)
    for r in returns["by_policy"]:
        ax.annotate(r["policy"], (r["truth"], r["dream"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    lo, hi = min(t.min(), d.min()), max(t.max(), d.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="dream = MuJoCo")
    ax.set(
        xlabel="return in MuJoCo",
        ylabel="return in the dream",
        title=f"Spearman {returns.get('spearman', float('nan')):.2f}, Pearson {returns.get('pearson', float('nan')):.2f}",
    )
    ax.legend(fontsize=7)
    return _save(fig, path)


def _save(fig, path: Path) -> str:
    """Save ``fig`` as ``path`` (and free it); return the file name the report links."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _videos(out: Path, truth, pred, state, n: int, trusted: int) -> dict[str, tuple[str, int]]:
    """truth | dream | error of the worst rollout and the median one (by mean state error): their file
    names and rollout indices. With a single rollout they are the same, and only the worst is written."""
    k = truth.context
    err = np.nanmean(state["all_rmse"][:n], axis=1)
    order = np.argsort(err)
    picks = {"worst": int(order[-1]), "typical": int(order[(len(order) - 1) // 2])}
    if picks["typical"] == picks["worst"]:
        del picks["typical"]
    files = {}
    for name, i in picks.items():
        t = truth.pixels[i, k + 1 :][truth.valid[i]]
        p = pred["pixels"][i][truth.valid[i]]
        captions = [
            f"rollout {i} ({name}): dreamt {h} steps open loop after {k} real"
            + (f" (past the trust horizon, {trusted})" if h > trusted else "")
            for h in range(1, len(t) + 1)
        ]
        titles = ("MuJoCo (truth)", "dream (world model)", "|truth - dream| x4")
        frames = side_by_side(t, p, error_frames(t, p))
        files[name] = write_mp4(frames, out / f"rollout_{name}.mp4", titles=titles, captions=captions).name, i
    return files


def policy_table(by_policy: list[dict], columns: tuple[str, str], lengths: bool) -> list[str]:
    """Markdown rows of the policies' MuJoCo and dream returns (``columns`` names them), with their
    mean episode lengths when ``lengths``."""
    head = f"| policy | {columns[0]} | {columns[1]} |" + (" MuJoCo steps | dream steps |" if lengths else "")
    rows = [head, "|---|---:|---:|" + ("---:|---:|" if lengths else "")]
    for r in by_policy:
        row = f"| {r['policy']} | {r['truth']:.2f} | {r['dream']:.2f} |"
        rows.append(row + (f" {r['truth_length']:.0f} | {r['dream_length']:.0f} |" if lengths else ""))
    return rows


def _fmt(x, nd=2):
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def _robot(perturbation: dict | None) -> list[str]:
    """A line naming the perturbed robot measured against (none for nominal MuJoCo)."""
    if not perturbation:
        return []
    return [f"MuJoCo perturbed as the robot `{perturbation['name']}`: {perturbation['description']}", ""]


def _markdown(card: dict, files: dict, rollouts: dict[str, int]) -> str:
    th = card["trust_horizon"]
    lines = [
        f"# Calibration: `{card['model']}` against MuJoCo ({card['task']})",
        "",
        *_robot(card.get("perturbation")),
        f"{card['date']}; {card['episodes']['rendered']} rendered paired rollouts "
        f"({', '.join(card['episodes']['sources'])}) and {card['episodes']['state_sweep']} state-only pairs "
        f"(`mujoco.rollout`), {card['settings']['context']} context steps, {card['settings']['horizon']} steps open loop; "
        f"{card['seconds']:.0f} s.",
        "",
        f"## Trust horizon: {th['steps']} of {th['of']} steps ({_fmt(th['seconds'])} s), "
        + describe_limit(th["limited_by"]),
        "",
        "| criterion | tolerance | model trusted to (steps) | a still frame / background would be | why this tolerance |",
        "|---|---|---:|---:|---|",
    ]
    for name, c in th["criteria"].items():
        sign = ">=" if c["kind"] == "pixels" else "<="
        b = c["baseline_horizons"]
        base = f"{b['repeat_last']}" + (f" / {b['background']}" if "background" in b else "")
        lines.append(
            f"| {name} | median {sign} {c['threshold']} {c['unit']} | {c['horizon']} | {base} | {c['reason']} |"
        )
    lines += [
        "",
        f"![error vs horizon]({files['error_vs_horizon']})",
        "",
        "## Fidelity per horizon",
        "",
        "| h | PSNR | SSIM | moving-px PSNR (median) | repeat last | background | state RMSE | reward MAE |"
        + "".join(f" {n} (median) |" for n in next(iter(card["by_horizon"].values()))["tolerance_median"]),
        "|---|---:|---:|---:|---:|---:|---:|---:|"
        + "---:|" * len(next(iter(card["by_horizon"].values()))["tolerance_median"]),
    ]
    for h, r in card["by_horizon"].items():
        lines.append(
            f"| {h} | {_fmt(r['psnr'], 1)} | {_fmt(r['ssim'])} | {_fmt(r['psnr_moving'], 1)} | "
            f"{_fmt(r['psnr_moving_repeat_last'], 1)} | {_fmt(r['psnr_moving_background'], 1)} | "
            f"{_fmt(r['state_rmse'], 3)} | {_fmt(r['reward_mae'], 3)} |"
            + "".join(f" {_fmt(v, 3)} |" for v in r["tolerance_median"].values())
        )
    comps = next(iter(card["by_horizon"].values()))["state_rmse_by_component"]
    if comps:
        lines += [
            "",
            "State RMSE per component (mean over rollouts):",
            "",
            "| h | " + " | ".join(comps) + " |",
            "|---|" + "---:|" * len(comps),
        ]
        for h, r in card["by_horizon"].items():
            lines.append(f"| {h} | " + " | ".join(_fmt(v, 3) for v in r["state_rmse_by_component"].values()) + " |")
    rw = card["reward"]
    lines += ["", f"Reward: MAE {_fmt(rw['mae'], 3)} per step, Pearson {_fmt(rw['pearson'])} (all paired steps)."]
    if card.get("termination"):
        t = card["termination"]
        lines.append(
            f"Termination: precision {_fmt(t['precision'])}, recall {_fmt(t['recall'])} "
            f"({t['true_terminations']} true terminations in the paired steps)."
        )
    u = card["uncertainty"]
    cov = u["coverage_90"]
    lines += [
        "",
        "## Uncertainty",
        "",
        f"Does the ensemble's disagreement predict the error ({u['error']}, {u['pairs']} steps)? Spearman "
        f"{_fmt(u['spearman_pooled'])} pooled over all steps (horizon helps both grow), "
        f"{_fmt(u['spearman_within_horizon'])} within a horizon. A 90% error bound fitted per uncertainty bin on half "
        f"the steps covers {_fmt(cov['coverage'])} of the other half; the bounds span a factor "
        f"{_fmt(cov['width_ratio'])} (1 = the uncertainty says nothing)."
        + (
            f" State entries left out as constant: {', '.join(map(str, u['constant_entries']))}."
            if u.get("constant_entries")
            else ""
        ),
        "",
        f"![uncertainty vs error]({files['uncertainty_vs_error']})",
    ]
    ret = card.get("returns")
    if ret:
        lines += [
            "",
            "## Policies: returns in the dream vs in MuJoCo",
            "",
            f"{ret['steps']} steps after the context, {card['settings']['policy_episodes']} episodes per policy, same starts.",
            "",
        ]
        by = ret["by_policy"]
        # episodes ended early on one side at least: the lengths say where a dream ends them early (or late)
        ended = all("dream_length" in r for r in by) and any(
            min(r["truth_length"], r["dream_length"]) < ret["steps"] for r in by
        )
        lines += policy_table(by, ("MuJoCo", "dream"), lengths=ended)
        if "spearman" in ret:
            lines += [
                "",
                f"Across {ret['policies']} policies: Spearman {_fmt(ret['spearman'])} "
                f"(95% bootstrap {_fmt(ret['spearman_ci95'][0])} to {_fmt(ret['spearman_ci95'][1])}), Pearson "
                f"{_fmt(ret['pearson'])} ({_fmt(ret['pearson_ci95'][0])} to {_fmt(ret['pearson_ci95'][1])}); "
                f"mean absolute return error {_fmt(ret['return_mae'])}.",
                "",
                f"![returns]({files['returns']})",
            ]
    if "video_worst" in files:
        lines += [
            "",
            "## Videos (truth | dream | error)",
            "",
            f"- worst rollout (rollout {rollouts['worst']}): [{files['video_worst']}]({files['video_worst']})",
            f"- typical rollout (rollout {rollouts['typical']}): [{files['video_typical']}]({files['video_typical']})"
            if "typical" in rollouts
            else "- typical rollout: the same as the worst (a single rendered rollout), not written twice",
        ]
    if card.get("improve"):
        lines += ["", "## Active calibration (wmgym improve)", ""] + card["improve"].get("markdown", [])
    return "\n".join(lines) + "\n"
