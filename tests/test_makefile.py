"""The README's quick start is two make commands, CI runs the same ones, and the set-up runs once."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_the_quick_start_is_make_demo_and_make_test_and_ci_runs_them():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, flags=re.S).group(1)
    commands = [c for line in block.splitlines() if (c := line.split("#")[0].strip())]
    assert commands == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    for target in ("test", "demo"):
        assert re.search(rf"^make {target}\b", ci, flags=re.M), target


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_the_set_up_runs_only_until_it_is_done(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)

    def planned(target: str) -> str:  # what make would run (-n: nothing is run)
        done = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "pip install -q -e" in planned("test") and "-m venv" in planned("demo")
    (venv / ".wmgym-setup").touch()  # newer than pyproject.toml: the set-up is done
    for target, command in (("test", f"{venv}/bin/python -m pytest"), ("demo", f"{venv}/bin/wmgym demo")):
        plan = planned(target)
        assert command in plan and "pip install" not in plan
