"""Machine facts: the CPU's model and matrix-relevant flags, and the software a run ran on."""

from __future__ import annotations

import functools
import os
import platform
import sys
from pathlib import Path

import torch

CPU_FEATURES = ("amx_tile", "amx_bf16", "avx512_bf16", "avx512f", "avx2", "fma")


def _proc_cpuinfo() -> list[str]:
    """/proc/cpuinfo's lines ([] where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def cpu_flags() -> set[str]:
    """Every flag /proc/cpuinfo lists for the CPU (empty where it cannot be read)."""
    for line in _proc_cpuinfo():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@functools.cache
def cpu_info() -> dict:
    """The CPU's model name and its matrix-relevant flags from /proc/cpuinfo: what decides a
    CPU timing here (AMX or AVX512-BF16 change bf16's speed several-fold)."""
    names = [ln.split(":", 1)[1].strip() for ln in _proc_cpuinfo() if ln.startswith("model name")]
    flags = cpu_flags()
    return {"model": names[0] if names else platform.processor() or "unknown",
            "flags": [f for f in CPU_FEATURES if f in flags]}


def cpu_text(info: dict | None) -> str:
    """'model (flags)' for a table, or '-'."""
    if not info:
        return "-"
    return f"{info.get('model', 'unknown')} ({', '.join(info.get('flags', [])) or 'no listed flags'})"


def environment(device: str) -> dict:
    """The machine and software a run ran on."""
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "platform": platform.platform(), "cpu": cpu_info(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "argv": sys.argv}
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
    return env
