"""The README's Python examples run as they are pasted into a script.

Each block is written to a file of its own and run as ``python block<i>.py`` in a fresh process with
a time limit, so what `exec` in pytest could not see fails here: a hang, or worker processes that
import the script again (``collect(..., workers=2)`` without a ``__main__`` guard). The blocks run in
order in one temporary folder: the training block reads the data the collection block wrote.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
SECONDS_PER_BLOCK = 300  # the slowest (calibration) takes ~1 min on a busy 2-core machine

# Appended to each block: the shapes the README's comments state, for the test to compare.
SHAPES = """

if __name__ == "__main__":  # appended by tests/test_readme.py
    import json as _json

    _shapes = {"frames": frames.shape} if "frames" in globals() else {}
    if "batch" in globals():
        _shapes["batch pixels"] = batch["pixels"].shape
    with open("shapes.json", "a") as _f:
        _f.write(_json.dumps({k: list(v) for k, v in _shapes.items()}) + "\\n")
"""


def run_script(path: Path, timeout: float) -> subprocess.CompletedProcess:
    """``python path`` in its folder; on a timeout its whole process group (workers too) is killed."""
    proc = subprocess.Popen(
        [sys.executable, path.name],
        cwd=path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{path.name} ran longer than {timeout} s (a hang?); its output ended:\n{out[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def test_readme_python_blocks_run_as_scripts(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python examples"
    for i, block in enumerate(blocks):
        script = tmp_path / f"block{i}.py"
        script.write_text(block + SHAPES)
        done = run_script(script, SECONDS_PER_BLOCK)
        assert done.returncode == 0, f"README python block {i} failed:\n{block}\n{done.stdout[-3000:]}"
    shapes = {k: v for line in (tmp_path / "shapes.json").read_text().splitlines() for k, v in json.loads(line).items()}
    assert shapes["batch pixels"] == [16, 32, 64, 64, 3]
    assert shapes["frames"] == [51, 64, 64, 3]


HANG = """import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open("child.pid", "w").write(str(child.pid))
time.sleep(60)
"""


def test_a_block_that_hangs_fails_and_leaves_no_process(tmp_path):
    # with a child process of its own, as collect's workers are (unguarded collect: tests/data/test_collect.py)
    (tmp_path / "hang.py").write_text(HANG)
    with pytest.raises(pytest.fail.Exception, match="ran longer than 5 s"):
        run_script(tmp_path / "hang.py", timeout=5)
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while running(child):
        assert time.monotonic() < deadline, "the block's child process outlived it"
        time.sleep(0.1)


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (one nobody has reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_cli_tasks_lists_the_suite(capsys):
    from wmgym.cli import main

    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for task in ("reacher", "pusher", "hopper", "half_cheetah", "inverted_pendulum"):
        assert task in out
    assert "wmgym/Reacher-truth-v0" in out
