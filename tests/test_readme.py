"""The README's Python examples run as written (in a temporary folder)."""

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert namespace["batch"]["pixels"].shape == (16, 32, 64, 64, 3)
    assert namespace["frames"].shape == (51, 64, 64, 3)


def test_cli_tasks_lists_the_suite(capsys):
    from wmgym.cli import main

    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for task in ("reacher", "pusher", "hopper", "half_cheetah", "inverted_pendulum"):
        assert task in out
    assert "wmgym/Reacher-truth-v0" in out
