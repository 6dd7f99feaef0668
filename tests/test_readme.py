"""Every Python example in the README runs, and the sample evaluation prints what the README
shows."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from riskpilot.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run() -> None:
    blocks = python_blocks()
    assert blocks, "the README has no python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})


def test_readme_sample_evaluation_matches_the_cli() -> None:
    shown = re.search(r"```\n( position .*?)```", README.read_text(), flags=re.S)
    assert shown is not None
    result = CliRunner().invoke(app, ["evaluate", "--json"])
    assert result.exit_code == 0, result.output
    import json

    decisions = {d["id"]: d for d in json.loads(result.output)["decisions"]}
    for line in shown.group(1).splitlines()[1:]:
        cells = line.split()
        pid, action = cells[0], cells[7]
        assert decisions[pid]["action"] == action, (pid, decisions[pid])
        rule = cells[8]
        assert (decisions[pid]["rule"] or "-") == rule, (pid, decisions[pid])
