"""Benchmark suites: agents trained only in a task's dream, scored in MuJoCo, reported with rliable.

``wmgym bench --suite smoke|core --out DIR`` (docs/benchmarks.md). Names load on first use, so
``import wmgym.bench`` loads neither torch nor MuJoCo; the statistics need ``pip install 'wmgym[bench]'``.
"""

from wmgym._lazy import lazy_names

_PUBLIC = {
    "SUITES": "wmgym.bench.config",
    "BenchConfig": "wmgym.bench.config",
    "BudgetExceeded": "wmgym.bench.dream",
    "Dream": "wmgym.bench.dream",
    "run_bench": "wmgym.bench.runner",
    "run_cell": "wmgym.bench.cell",
}


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)

__all__ = sorted(_PUBLIC)
