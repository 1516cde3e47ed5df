"""What a benchmark run measures: `BenchConfig`, and the named suites it starts from.

Light on purpose (no torch, MuJoCo or gymnasium): the CLI builds and checks a config before anything
heavy loads. A field left at None takes its value from the suite (``--suite core|smoke``); any flag
given overrides it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

BUILTIN_AGENTS = ("ppo", "sac", "latent_ac")
"""Agents wmgym ships (`wmgym.bench.agents`); any other is given as ``module:function``."""
NOMINAL = "nominal"
"""The unperturbed MuJoCo world; every run scores in it."""
EVAL_SEED = 1000
"""MuJoCo evaluation episode ``i`` resets with seed ``EVAL_SEED + i`` in every cell (the demo's
convention, ``seed + 1000 + i`` at seed 0), so every agent and training seed meets the same starts."""
_USER_AGENT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Suite:
    """A named preset: what `BenchConfig`'s unset fields become."""

    tasks: tuple[str, ...]
    agents: tuple[str, ...]
    seeds: int
    budget: int
    eval_episodes: int
    curve_points: int
    curve_episodes: int
    reps: int
    about: str


SUITES = {
    # 2 tasks x 3 agents x 2 seeds, tiny budgets: the whole loop in a few minutes on 2 cores (CI).
    "smoke": Suite(
        tasks=("reacher", "inverted_pendulum"),
        agents=("ppo", "sac", "latent_ac"),
        seeds=2,
        budget=4096,
        eval_episodes=4,
        curve_points=2,
        curve_episodes=2,
        reps=500,
        about="the whole pipeline on tiny budgets (minutes on 2 cores); its numbers mean nothing",
    ),
    # 3 tasks x 3 agents x 5 seeds; sized to about 45 minutes on 2 cores (docs/benchmarks.md).
    "core": Suite(
        tasks=("reacher", "inverted_pendulum", "pusher"),
        agents=("ppo", "sac", "latent_ac"),
        seeds=5,
        budget=60_000,
        eval_episodes=10,
        curve_points=4,
        curve_episodes=5,
        reps=5000,
        about="every shipped dream, three agents, five seeds: the table docs/benchmarks.md reports",
    ),
}


@dataclass(frozen=True)
class BenchConfig:
    """A benchmark run: which cells (task x agent x seed) and how each is trained and scored.

    Raises:
        ValueError: an unknown suite, agent name or world, a count out of range, or a ``models``
            entry that is not ``TASK=MODEL``.
    """

    suite: str = "smoke"
    """Preset that every field left unset comes from: ``smoke`` (minutes, CI) or ``core``."""
    tasks: tuple[str, ...] | None = None
    """Tasks to benchmark (None: the suite's); each needs a world model (the zoo's, or ``models``)."""
    agents: tuple[str, ...] | None = None
    """``ppo``, ``sac``, ``latent_ac``, or your own as ``module:function`` (None: the suite's)."""
    seeds: int | None = None
    """Training seeds per (task, agent): seeds 0 .. N-1 (None: the suite's: smoke 2, core 5)."""
    budget: int | None = None
    """Dream steps each agent may spend per cell, env or imagined latent steps (None: smoke 4096, core 60000)."""
    eval_episodes: int | None = None
    """MuJoCo episodes per cell for the final score, reset seeds 1000 .. 1000 + N - 1 (None: the suite's)."""
    curve_points: int | None = None
    """Evaluations along training, at budget/P, ..., budget: the sample-efficiency curve (None: the suite's)."""
    curve_episodes: int | None = None
    """MuJoCo episodes per intermediate evaluation, the first evaluation seeds (None: the suite's)."""
    reps: int | None = None
    """Bootstrap replications of every confidence interval (None: the suite's)."""
    worlds: tuple[str, ...] = (NOMINAL,)
    """MuJoCo worlds each policy is scored in: ``nominal``, and perturbations by name where the truth
    env offers them (``TruthEnv(..., perturbation=NAME)``). Aggregates are reported per world."""
    models: tuple[str, ...] = ()
    """World models other than the zoo's, as ``TASK=MODEL`` (a checkpoint or run folder)."""
    workers: int = 2
    """Cells run at once, each in a process of its own (0: in this process, one after another)."""
    ray: str | None = None
    """Run cells on Ray instead: a cluster address (``auto``, ``ray://HOST:10001``), or ``local`` for a
    Ray instance on this machine with ``workers`` CPUs. Needs ``pip install 'wmgym[ray]'``."""
    progress: bool = True
    """Progress bars: cells done, and each running cell's dream steps."""

    def __post_init__(self):
        if self.suite not in SUITES:
            raise ValueError(f"unknown suite {self.suite!r}: use one of {', '.join(SUITES)}")
        for name in ("seeds", "budget", "eval_episodes", "curve_points", "curve_episodes", "reps"):
            _positive(name, getattr(self, name))
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0: run cells in this process), got {self.workers}")
        for agent in self.agents or ():
            check_agent_name(agent)
        if not self.worlds or NOMINAL not in self.worlds:
            raise ValueError(f"worlds must include {NOMINAL!r} (every score is reported there), got {self.worlds!r}")
        for entry in self.models:
            if "=" not in entry or not all(entry.partition("=")[::2]):
                raise ValueError(f"models entry {entry!r}: write TASK=MODEL, e.g. reacher=runs/reacher")
        for name in ("tasks", "agents", "worlds"):
            value = getattr(self, name)
            if value is not None and len(set(value)) != len(value):
                raise ValueError(f"{name} lists an entry twice: {value!r}")
            if value is not None and not value:
                raise ValueError(f"{name} must not be empty")

    def resolved(self) -> BenchConfig:
        """This config with every unset field taken from its suite."""
        suite = SUITES[self.suite]
        unset = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is None and hasattr(suite, f.name)]
        fill = {name: getattr(suite, name) for name in unset}
        return dataclasses.replace(self, **fill)

    def model_of(self, task: str) -> str:
        """The world model a task's dream is built from: its ``models`` entry, else the zoo's."""
        return dict(e.split("=", 1) for e in self.models).get(task, task)

    def cell_settings(self) -> dict:
        """What a cell's result depends on besides its task, agent and seed: a resumed run must agree."""
        keys = ("budget", "eval_episodes", "curve_points", "curve_episodes", "worlds")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in ((k, getattr(self, k)) for k in keys)}

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def check_agent_name(agent: str) -> None:
    """Refuse a name that is neither a built-in agent nor ``module:function``."""
    if agent in BUILTIN_AGENTS or _USER_AGENT.match(agent):
        return
    raise ValueError(
        f"unknown agent {agent!r}: use one of {', '.join(BUILTIN_AGENTS)}, or your own as module:function "
        "(e.g. my_agents:train; see docs/benchmarks.md for its signature)"
    )


def _positive(name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def curve_targets(budget: int, points: int) -> list[int]:
    """Dream steps at which a cell is evaluated: budget/P, 2 budget/P, ..., budget."""
    return [budget * (i + 1) // points for i in range(points)]
