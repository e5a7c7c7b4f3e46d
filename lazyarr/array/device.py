"""Devices: ``"cpu"`` always; ``"cuda:N"`` where CuPy sees a GPU."""

from __future__ import annotations


class Device:
    """A device an array lives on. Compares equal to its name (``Device('cpu') == 'cpu'``)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Device):
            return self.name == other.name
        return isinstance(other, str) and other == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Device({self.name!r})"

    def __str__(self) -> str:
        return self.name


CPU = Device("cpu")


def as_device(device) -> Device:
    """Normalize a ``device=`` argument (None, a name or a Device)."""
    if device is None or device is CPU or device == "cpu":
        return CPU
    from ..graph.userline import where

    if isinstance(device, (Device, str)) and str(device).startswith("cuda"):
        raise ValueError(f"device {str(device)!r}: no GPU device is available ({where()})")
    raise ValueError(f"unknown device {device!r} ({where()})")
