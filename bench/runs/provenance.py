"""Where a number came from: the code version, the machine, and the run id that ties a run's
resolved config to its data fingerprint and code. Stored in every run's config.json."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from pathlib import Path

from bench import __version__
from bench.config.settings import RunConfig

_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def code_version() -> dict[str, str]:
    """Package version, a hash of the model/harness sources, and the git commit if any.
    Computed once per process: the code that was imported is the code that runs."""

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
