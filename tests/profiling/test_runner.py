"""The profiling child reports a failing model and always ends.

A full (tiny) profile runs end to end in ``tests/cli/test_profile.py``. Nothing here asserts
on timing: the machine is shared.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys

import pytest

from themis_env.errors import ProfileError
from themis_env.profiling import ProfilePlan, run_profile
from themis_env.profiling import runner as runner_module

pytest.importorskip("torch")

TINY = "tests.profiling.tiny:TinyNet"


@pytest.mark.slow
def test_a_model_that_fails_is_reported_and_its_child_ends() -> None:
    plan = ProfilePlan("tests.profiling.tiny:Broken", cores=(1,), batches=(1,), input_shape=(8,))
    with pytest.raises(ProfileError, match="this model cannot run"):
        run_profile(plan)
    assert not multiprocessing.active_children()


@pytest.mark.slow
def test_an_interrupted_profile_ends_its_child(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(self: object, text: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module._Progress, "step", interrupt)
    plan = ProfilePlan(TINY, cores=(1,), batches=(1, 2), repeats=1000, input_shape=(8,))
    with pytest.raises(KeyboardInterrupt):
        run_profile(plan)
    assert not multiprocessing.active_children()


def test_the_package_imports_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import themis_env.profiling, themis_env.cli.profile\n"
        "from themis_env.profiling import fit_latency\n"
        "print(fit_latency([1, 2, 1, 2], [1, 1, 2, 2], [3.0, 5.0, 2.0, 3.0]).params)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
