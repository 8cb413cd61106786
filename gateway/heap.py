"""The garbage collector of a long-running gateway process.

A full (generation 2) collection walks every object the collector tracks and answers nothing
meanwhile: with 10,000 VENs that is about 240,000 objects and 100-250 ms on this project's 2-core
machine, run every 30-60 s by the default thresholds, which alone put the soak benchmark's p99
poll latency over 100 ms. Two changes bound it:

- once start-up is done, what is alive then (modules, classes, the VTN's preloaded state) is
  moved out of the collector's reach (``gc.freeze``): it lives as long as the process, and
  walking it found nothing to free;
- a full collection waits for ``FULL_EVERY`` collections of generation 1 instead of 10, so it
  comes every few minutes. Cyclic garbage is still collected, a little later: young cycles by the
  frequent young collections, as before; reference counting frees everything else at once.

Only ``oadr-gateway run`` does this: a test process running many gateways keeps the defaults.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)

# Collections of generation 1 between two full collections (CPython's default is 10).
FULL_EVERY = 200


def settle_after_start() -> int:
    """Collect once, freeze what survived, and space out full collections; the number of
    objects frozen."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)
    frozen = gc.get_freeze_count()
    logger.info("start-up heap frozen: %d objects; full collections every %d", frozen, FULL_EVERY)
    return frozen
