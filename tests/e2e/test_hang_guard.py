"""A hung test fails fast with a dump of every asyncio task and thread, and a teardown that
hangs after that ends the run: one hang can never eat CI's time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

HANGING_TEST = """
import asyncio

async def test_waits_forever():
    async def stuck_in_a_call():
        await asyncio.Event().wait()
    asyncio.create_task(stuck_in_a_call(), name="the-stuck-task")
    await asyncio.sleep(3600)
"""

HANGING_TEARDOWN = """
import time
import pytest

@pytest.fixture
def teardown_that_hangs():
    yield
    time.sleep(3600)

def test_fails_then_hangs(teardown_that_hangs):
    time.sleep(3600)
"""


def _run(
    tmp_path: Path, body: str, timeout: float, processes: int = 0
) -> tuple[subprocess.CompletedProcess[str], float]:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_hang.py").write_text(body)
    # The project's own conftest (with the guard) and pytest settings, on the hanging file.
    (tests / "conftest.py").write_text(
        "from tests.hang_guard import pytest_runtest_protocol, pytest_timeout_set_timer  # noqa\n"
    )
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-o", f"timeout={timeout}", "-n", str(processes), str(tests / "test_hang.py")],
        cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return result, time.monotonic() - began


@pytest.mark.parametrize("processes", [0, 2], ids=["one-process", "xdist"])
def test_a_hung_test_fails_with_every_task_and_thread_dumped(
    tmp_path: Path, processes: int
) -> None:
    result, took = _run(tmp_path, HANGING_TEST, timeout=2, processes=processes)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 failed" in out
    assert "Timeout" in out
    assert "the-stuck-task" in out  # the asyncio task, with where it waits
    assert "stuck_in_a_call" in out
    assert "Current thread" in out or "Thread 0x" in out  # every thread's stack
    assert took < 60


def test_a_teardown_that_hangs_after_the_timeout_ends_the_run(tmp_path: Path) -> None:
    result, took = _run(tmp_path, HANGING_TEARDOWN, timeout=2)
    out = result.stdout + result.stderr
    assert result.returncode == 3, out  # the backstop's exit code
    assert "hung after its timeout too" in out
    assert took < 60


def test_under_xdist_a_teardown_that_hangs_costs_its_worker_not_the_run(tmp_path: Path) -> None:
    """The backstop ends the worker process; xdist reports the test as crashed and goes on."""
    result, took = _run(tmp_path, HANGING_TEARDOWN, timeout=2, processes=2)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "hung after its timeout too" in out
    assert "crashed" in out  # xdist: "worker 'gw0' crashed while running ..."
    assert took < 60
