"""A test that hangs fails with a dump of every thread and every asyncio task.

pytest-timeout (``timeout`` in pyproject.toml) raises in the main thread when a test overruns.
Before it does, this prints where each asyncio task of the running loop is waiting, which the
plain thread dump does not show (an idle loop's thread dump says only "selector.select").
Should the failed test then hang again in its teardown, a backstop thread ends the run after
half the timeout again, so one hang can never eat CI's whole budget.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import pytest

_BACKSTOP_FACTOR = 1.5
# Set when the test's whole protocol (teardown included) is over. pytest-timeout cancels its
# timer as soon as a test fails, so the backstop is disarmed here instead.
_FINISHED = pytest.StashKey[threading.Event]()


def dump_tasks(out: Any = None) -> int:
    """Print every task of the running event loop with the stack it waits in; their count."""
    out = out or sys.stderr
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        print("(no running asyncio loop in the main thread)", file=out)
        return 0
    tasks = asyncio.all_tasks(loop)
    print(f"--- {len(tasks)} asyncio tasks ---", file=out)
    for task in sorted(tasks, key=lambda t: t.get_name()):
        print(f"task {task.get_name()}: {task!r}", file=out)
        task.print_stack(limit=12, file=out)
    return len(tasks)


def _dump_everything(title: str) -> None:
    print(f"\n{'+' * 20} {title} {'+' * 20}", file=sys.stderr)
    dump_tasks(sys.stderr)
    print("--- threads ---", file=sys.stderr)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None  # pytest-timeout's own thread method handles the rest
    timeout = float(settings.timeout)

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        _dump_everything(f"Timeout after {timeout:.0f} s: {item.nodeid}")
        pytest.fail(f"Timeout: the test ran longer than {timeout:.0f} s", pytrace=False)

    done = threading.Event()
    item.stash[_FINISHED] = done

    def backstop() -> None:
        if not done.wait(timeout * _BACKSTOP_FACTOR):
            capture = item.config.pluginmanager.getplugin("capturemanager")
            if capture is not None:  # what is printed now must reach the real stderr
                capture.suspend_global_capture(in_=True)
            print(f"\nteardown of {item.nodeid} hung after its timeout too", file=sys.stderr)
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            sys.stderr.flush()
            os._exit(3)

    guard = threading.Thread(target=backstop, name=f"hang-guard {item.nodeid}", daemon=True)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # read by pytest-timeout
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    guard.start()
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    yield
    finished = item.stash.get(_FINISHED, None)
    if finished is not None:
        finished.set()
