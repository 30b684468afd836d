"""The README's Python example runs as written and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_the_scoring_example_runs():
    (example,) = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {})
    assert printed.getvalue() == "2.0 wants-more-closeness\n"


def test_the_two_set_up_commands_are_there():
    assert "pip install -e . && tandem serve" in README
    assert 'pip install -e ".[test]" && pytest' in README
