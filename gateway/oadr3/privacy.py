"""Object privacy (Definition.md, Object Privacy). Pure rules, no I/O.

- A VEN client reads only the ven, resource and report objects that are its own.
- A program or event with targets is read by a VEN only through targets 'granted' to it (the
  targets of its ven object and of that VEN's resources), ANDed with the targets of its
  query when it gives some; and it sees only those targets of the object (target hiding).
- One without targets is for every VEN; business logic reads everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads, for targeting: business logic (``granted`` None) or a VEN and its grants."""

    granted: frozenset[str] | None
    asked: frozenset[str] | None  # the query's targets, if any

    @property
    def effective(self) -> frozenset[str] | None:
        """The targets the reader may match with; None: any (business logic)."""
        if self.granted is None:
            return self.asked
        return self.granted if self.asked is None else self.granted & self.asked


def visible_targets(reader: Reader, targets: Iterable[str] | None) -> list[str] | None:
    """The object's targets as ``reader`` sees them, or None when it must not see the object."""
    own = list(targets or [])
    effective = reader.effective
    if effective is None:
        return own
    if not own:
        # An untargeted object: every VEN's, unless the query asked for targets it lacks.
        return own if reader.asked is None else None
    shown = [t for t in own if t in effective]
    if not shown:
        return None
    return shown if reader.granted is not None else own


def grants_of(
    ven_targets: Iterable[str] | None, resource_targets: Iterable[Iterable[str]]
) -> frozenset[str]:
    found = set(ven_targets or [])
    for targets in resource_targets:
        found.update(targets)
    return frozenset(found)
