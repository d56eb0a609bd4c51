"""The README's commands stay true: .ci/run runs its test command verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in first_block.splitlines() if line and not line.startswith("#")]


def test_two_commands_first_and_ci_runs_the_test_command():
    setup_and_run, setup_and_test = _readme_commands()
    assert "constraints.txt" in setup_and_run and "python search.py" in setup_and_run
    assert "pytest" in setup_and_test
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup_and_test in ci_lines
