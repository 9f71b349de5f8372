"""Device choice and mixed precision, in one place for training and prediction."""

from __future__ import annotations

import contextlib
import platform

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> cuda, else mps, else cpu; an explicit device that is missing is a ValueError."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available")
    if kind == "mps" and not _mps_available():
        raise ValueError("device 'mps' was requested but Apple MPS is not available")
    return torch.device(name)


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Autocast dtype for AMP: bfloat16 where the GPU has it (no loss scaling needed), else fp16."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None, cache: bool = True):
    """torch.autocast when a dtype is given; a no-op context otherwise. ``cache=False`` for
    CUDA graph capture (a cached cast would not be recomputed on replay)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=cache)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a GPU or CPU allocation failure (torch raises several types for it)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError) or (
        "out of memory" in str(exc) or "can't allocate memory" in str(exc)
    )


def device_name(device: torch.device) -> str:
    """A human-readable name of the device a run used (GPU model, or CPU and thread count)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return f"{cpu} CPU, {torch.get_num_threads()} torch threads"


def runtime_info(device: str | torch.device) -> dict:
    """What a benchmark or protocol run records about where it ran (for its JSON)."""
    from napari_ssdgl import __version__

    dev = resolve_device(device)
    return {
        "napari_ssdgl_version": __version__,
        "torch_version": torch.__version__,
        "device": str(dev),
        "device_name": device_name(dev),
        "threads": torch.get_num_threads(),
    }


def cpu_has_native_bf16() -> bool:
    """True when oneDNN runs bfloat16 natively here (AMX or AVX512-BF16), where bf16 autocast
    pays; elsewhere it is emulated and slower than float32."""
    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported()
                    and (torch.cpu._is_amx_tile_supported()
                         or torch.cpu._is_avx512_bf16_supported()))
    except (AttributeError, RuntimeError):
        return False
