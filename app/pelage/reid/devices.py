"""The one place a device name (``None``/``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) becomes a torch device.

Training, embedding and the command line all resolve devices here, so a device the machine lacks is
refused up front, with what torch does see, instead of failing deep inside a training step.
"""

from __future__ import annotations

import torch

AUTO = ("", "auto")


class DeviceError(ValueError):
    """A device name torch does not know, or a device this machine does not have."""


def available_devices() -> list[str]:
    """Every device torch can use here, e.g. ``["cpu", "cuda:0 (NVIDIA H200)"]``."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{index} ({torch.cuda.get_device_name(index)})" for index in range(torch.cuda.device_count())]
    if _mps_available():
        devices.append("mps")
    return devices


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _build() -> str:
    """Which torch this is, and why it may lack CUDA: a CPU-only build, or a CUDA build that finds no GPU or driver."""
    if not torch.version.cuda:
        return f"torch {torch.__version__}, a build without CUDA"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__}, a CUDA {torch.version.cuda} build that finds no GPU or driver"
    return f"torch {torch.__version__}, CUDA {torch.version.cuda}"


def _refuse(problem: str) -> DeviceError:
    return DeviceError(f"{problem} ({_build()}); devices: {', '.join(available_devices())}. "
                       "Use --device cpu, or leave the device out to use the best one here")


def resolve_device(requested: str | None) -> torch.device:
    """``requested`` as a device this machine has; ``None`` or ``auto``: CUDA when available, else the CPU."""
    name = (requested or "").strip().lower()
    if name in AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise _refuse(f"{requested!r} is not a device name (cpu, cuda, cuda:N, mps)") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise _refuse(f"{requested!r} was asked for, but CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise _refuse(f"there is no {requested!r} here")
        return device
    if device.type == "mps" and _mps_available():
        return device
    raise _refuse(f"{requested!r} is not available here")
