"""How a device is named to its VEN: the one rule every protocol adapter shares."""

from __future__ import annotations


def resource_id_of(device_id: str, resource_id: str | None) -> str:
    """The resource id a VEN knows the device by; a device without one answers to its own id."""
    return resource_id or device_id
