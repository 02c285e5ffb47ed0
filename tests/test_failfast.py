"""Fail fast: which errors are programming errors (the same for every trial), and the guard check."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from torchsearch._failfast import hint, main_guard_problem, rebuild, split
from torchsearch.exceptions import ContractError, TrialError, TrialFailed

PARAMS = {"lr": 0.1, "width": 8}


@pytest.mark.parametrize("error, says", [
    (TrialError("trial 0: the study metric 'acc' is not among the reported metrics ['accuracy']"), "metric="),
    (ContractError("Net.setup(hp) must set optimizer"), "self.optimizer"),
    (ContractError("Net.training_step must return a loss tensor, got float"), "not loss.item()"),
    (ContractError("Net.validation_step must return a dict of metrics, got Tensor"), "dict of metrics"),
    (KeyError("dropout"), "no key 'dropout'"),
    (NameError("name 'nn' is not defined"), "mistake in the code"),
    (AttributeError("'Net' object has no attribute 'modle'"), "mistake in the code"),
    (ModuleNotFoundError("No module named 'mymodels'"), "importable"),
    (NotImplementedError("Net must implement validation_step(self, batch)"), "mistake in the code"),
], ids=lambda x: type(x).__name__ if isinstance(x, BaseException) else "")
def test_programming_errors_get_a_hint_from_the_object_and_from_a_workers_text(error, says):
    assert says in hint(error, PARAMS)
    kind, message = split(error)
    assert says in hint(f"{kind}: {message}", PARAMS)  # as a worker process sends it


@pytest.mark.parametrize("error", [
    TrialFailed("training loss became non-finite (nan or inf) during epoch 2"),
    RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("mat1 and mat2 shapes cannot be multiplied (32x64 and 128x10)"),
    ValueError("Expected parameter loc to be finite"),
    TypeError("unsupported operand type(s) for +: 'int' and 'str'"),
    KeyError("lr"),  # a key the params hold: not a missing space key
    KeyError(3),
], ids=lambda e: f"{type(e).__name__}-{e}"[:40])
def test_errors_that_may_depend_on_the_hyperparameters_fail_only_their_trial(error):
    assert hint(error, PARAMS) is None
    kind, message = split(error)
    assert hint(f"{kind}: {message}", PARAMS) is None


def test_a_workers_error_text_is_rebuilt_as_the_same_class():
    assert isinstance(rebuild("KeyError", "'dropout'"), KeyError) and rebuild("KeyError", "'dropout'").args == ("dropout",)
    assert isinstance(rebuild("ContractError", "x"), ContractError)
    assert isinstance(rebuild("NameError", "name 'nn' is not defined"), NameError)
    odd = rebuild("SomeLibraryError", "boom")
    assert isinstance(odd, TrialError) and str(odd) == "SomeLibraryError: boom"


def _run(tmp_path, body: str) -> str:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_guard_check_sees_a_script_without_the_main_guard(tmp_path):
    out = _run(tmp_path, """
        from torchsearch._failfast import main_guard_problem

        def start():
            return main_guard_problem()

        print(start())
    """)
    assert "script.py, line 7, starts worker processes from the top level" in out


def test_the_guard_check_passes_a_script_with_the_guard(tmp_path):
    out = _run(tmp_path, """
        from torchsearch._failfast import main_guard_problem

        def main():
            return main_guard_problem()

        if __name__ == "__main__":
            print(main())
    """)
    assert out == "None"


def test_the_guard_check_does_not_judge_code_without_a_script_file():
    out = subprocess.run([sys.executable, "-c", "from torchsearch._failfast import main_guard_problem as m; print(m())"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "None", out.stderr
    assert main_guard_problem() is None  # under pytest: its own __main__ is guarded


def test_a_report_the_coordinator_refused_is_judged_by_the_refusal():
    text = "TrialFailed: TrialError: trial 0: the study metric 'acc' is not among the reported metrics ['loss']"
    assert split(text) == ("TrialError", "trial 0: the study metric 'acc' is not among the reported metrics ['loss']")
    assert "metric=" in hint(text, PARAMS)
    assert hint("TrialFailed: training loss became non-finite", PARAMS) is None


def test_the_guard_check_accepts_a_guard_inside_a_larger_condition_and_the_reversed_form(tmp_path):
    out = _run(tmp_path, """
        import sys
        from torchsearch._failfast import main_guard_problem

        if "__main__" == __name__ and len(sys.argv) > 0:
            print(main_guard_problem())
        else:
            print("skipped")
    """)
    assert out == "None"
