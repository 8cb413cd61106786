"""The running gateway's collector settings (gateway.heap), checked in a fresh interpreter so
that this test process keeps its own."""

from __future__ import annotations

import json
import subprocess
import sys

from gateway.heap import FULL_EVERY

PROBE = """
import gc, json
from gateway.heap import settle_after_start
before = gc.get_threshold()
kept = [{"state": i} for i in range(5000)]  # alive at start-up: frozen
frozen = settle_after_start()
cycle = []
cycle.append(cycle)  # garbage made after start-up is still collected
del cycle
collected = gc.collect()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": frozen,
                  "count": gc.get_freeze_count(), "collected": collected, "kept": len(kept)}))
"""


def test_start_up_objects_are_frozen_and_full_collections_spaced_out() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    probe = json.loads(result.stdout)
    assert probe["frozen"] == probe["count"] > 5000
    assert probe["after"] == [probe["before"][0], probe["before"][1], FULL_EVERY]
    assert probe["before"][2] < FULL_EVERY
    assert probe["collected"] >= 1
