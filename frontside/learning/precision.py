"""Mixed precision: which arithmetic a device runs the networks in.

bf16 autocast roughly halves a training step on a CPU with AMX (measured: 95 instead of 247 ms per 256 x 256
sample for the two-view network, channels_last both) and on CUDA. Without native bf16 it is emulated and slower
than float32: on an AVX-512 Xeon without AVX512-BF16, 4.3 instead of 2.5 s for a batch of 8. The networks keep
their last, three-channel decoder layers in float32 (`networks.fp32_tail`): bf16 resolves 1/256 of the output
range, about one pixel of a position map, which is the size of the errors we measure. `multiview` runs only its
encoder in bf16 when asked, and stays float32 under "auto" (its class's `auto_precision`).

fp16 autocast (`--precision fp16`) is for GPUs without bf16 (before Ampere): its narrow exponent range
underflows small gradients, so its steps go through a `GradScaler` (`grad_scaler`), which multiplies the loss
before the backward pass and skips steps whose gradients overflowed. It runs on a CPU too (slowly), so its
logic is tested here.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def bf16_is_fast(device: torch.device) -> bool:
    """True where bf16 matrix arithmetic is native: CUDA with bf16 support, or a CPU that oneDNN runs bf16 on."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # oneDNN's own check (`_is_mkldnn_bf16_supported`) only asks for AVX-512 and then emulates bf16
        try:
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except (AttributeError, RuntimeError):
            capabilities = getattr(torch.cpu, "get_capabilities", dict)()
            return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return False


def resolve_precision(device: torch.device, precision: str = "auto", network: torch.nn.Module | None = None) -> str:
    """"bf16", "fp16" or "fp32" for `precision` in PRECISIONS; "auto" picks bf16 where it is native, unless the
    network's class says float32 is its default (`auto_precision = "fp32"`: `multiview`, whose bf16 is measured
    on one seed pair only); an explicit "bf16" runs bf16 for every network."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "auto":
        if getattr(network, "auto_precision", None) == "fp32":
            return "fp32"
        return "bf16" if bf16_is_fast(device) else "fp32"
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """A context in which the networks run in `precision` ("bf16", "fp16" or "fp32", as `resolve_precision`
    gives)."""
    if precision in ("bf16", "fp16"):
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """The loss scaler a training step goes through: active for fp16 only (bf16 and fp32 have float32's exponent
    range and need none; a disabled scaler passes the loss and the optimiser step through unchanged)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
