"""The MuJoCo side: the rendered truth env with restorable physics state, and perturbations that
stand in for "the real robot" (task specs: `wmgym.tasks`).

Names load on first use (PEP 562): `wmgym.truth.perturb` and `wmgym.truth.variants` are plain data,
so registering the perturbed env ids does not import MuJoCo.
"""

from wmgym._lazy import lazy_names

_PUBLIC = {
    "Perturbation": "wmgym.truth.perturb",
    "TruthEnv": "wmgym.truth.env",
    "get_perturbation": "wmgym.truth.variants",
    "list_perturbations": "wmgym.truth.variants",
    "register_perturbation": "wmgym.truth.variants",
}

__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)

__all__ = sorted(_PUBLIC)
