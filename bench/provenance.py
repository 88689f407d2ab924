"""Where a number came from: the code version, the machine, and the run id that ties a run's
resolved config to its data fingerprint and code. Stored in every run's config.json."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from bench.config import RunConfig

_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def code_version() -> dict[str, str]:
    """Package version, a hash of the model/harness sources, and the git commit if any.
    Computed once per process: the code that was imported is the code that runs."""
    from bench import __version__

    h = hashlib.sha256()
    for pkg in ("bench", "baselines", "glo"):
        for p in sorted((_ROOT / pkg).rglob("*")):
            if p.suffix in (".py", ".j2") and p.is_file():
                h.update(p.relative_to(_ROOT).as_posix().encode())
                h.update(p.read_bytes())
    out = {"version": __version__, "source_sha256": h.hexdigest()[:16]}
    try:
        commit = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5)
        if commit.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(_ROOT), "status", "--porcelain", "--",
                                    "bench", "baselines", "glo"], capture_output=True, text=True,
                                   timeout=5)
            out["git_commit"] = commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def run_id(config: RunConfig, data_fingerprint: str, code: dict[str, str]) -> str:
    """The run's name in the store: a hash of what could change its numbers."""
    payload = json.dumps({"config": config.to_dict(), "data": data_fingerprint,
                          "code": {k: code[k] for k in ("version", "source_sha256")}},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


CPU_FEATURES = ("amx_tile", "amx_bf16", "avx512_bf16", "avx512f", "avx2", "fma")


@functools.cache
def cpu_info() -> dict:
    """The CPU's model name and its matrix-relevant flags from /proc/cpuinfo: what decides a
    CPU timing here (AMX or AVX512-BF16 change bf16's speed several-fold)."""
    info: dict = {"model": platform.processor() or "unknown", "flags": []}
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return info
    names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    if names:
        info["model"] = names[0]
    for line in lines:
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            info["flags"] = [f for f in CPU_FEATURES if f in flags]
            break
    return info


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
