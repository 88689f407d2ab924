"""The prepared GPU check: one command, about 8 minutes on one GPU, one JSON.

    python -m bench.gpu_check --prepare .gpu_data --data-root ../shared/data   # here, once
    python -m bench.gpu_check --data-root .gpu_data --out $OUT                 # on the GPU

On the GPU it (1) runs the tests that need CUDA, (2) measures each family's training images/s
and the fraction of the chip's bf16 peak (``bench perf gpu`` at 64 px, and ``bench perf
peak``'s per-step table on the device), (3) trains GLO-MSE-PCA on CelebA-64 at the paper's
width and batch (ngf 64, batch 128, the paper profile, bf16) for as many steps as the
measured rate fits in ``--train-seconds``, and PCA on the same images, and prints GLO's train
MSE against PCA's, (4) writes all of it, with the machine and the code version, to
<out>/gpu_check.json.

``--prepare DIR`` copies a subset of the shared CelebA images (the first N training and M test
images, with a trimmed partition file) into DIR: the device machine gets only the checkout,
so DIR (ignored by git) travels as a carried folder, under the 64 MiB a call may carry.
``--tiny`` runs every step small on the CPU, on the embedded LFW faces; tests/test_gpu_check.py
does, so the script cannot rot where no GPU is lent.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.runs.provenance import code_version
from bench.runs.store import find_runs, load_run
from bench.runtime.io import atomic_write_json
from bench.runtime.machine import environment
from bench.studies.peak import measure_steps
from bench.studies.perf_gpu import bench_gpu

ROOT = Path(__file__).resolve().parents[2]
DEVICE_LIMIT = 64 * 2**20  # what one device call may send: the working tree and carried paths
ASIDE = ("docs", "reports")  # tracked, never read on the device: `scripts/gpu_check.sh aside`


def travelling(root: Path = ROOT, carry: tuple[Path, ...] = ()) -> dict[str, int]:
    """Bytes per top-level entry of what a device call sends: the files of ``root`` that git
    tracks or does not ignore (those present in the working tree) and the ``carry`` paths."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, text=True, check=True)
    sizes: dict[str, int] = {}
    for rel in filter(None, listed.stdout.split("\0")):
        f = root / rel
        if f.is_file() and not f.is_symlink():
            top = rel.split("/", 1)[0]
            sizes[top] = sizes.get(top, 0) + f.stat().st_size
    for c in carry:
        files = [c] if c.is_file() else [f for f in c.rglob("*") if f.is_file()]
        sizes[c.name] = sizes.get(c.name, 0) + sum(f.stat().st_size for f in files)
    return sizes


def prepare(dest: Path, data_root: Path, n_train: int = 5000, n_test: int = 500) -> Path:
    """A CelebA-layout copy of the first n_train training and n_test test images."""
    src = data_root / "celeba"
    lines = (src / "list_eval_partition.txt").read_text().split()
    pairs = list(zip(lines[0::2], lines[1::2], strict=True))
    keep = ([p for p in pairs if p[1] == "0"][:n_train] + [p for p in pairs if p[1] == "2"][:n_test])
    out = dest / "celeba" / "img_align_celeba"
    out.mkdir(parents=True, exist_ok=True)
    for name, _split in keep:
        if not (out / name).exists():
            shutil.copyfile(src / "img_align_celeba" / name, out / name)
    (dest / "celeba" / "list_eval_partition.txt").write_text(
        "".join(f"{name} {split}\n" for name, split in keep))
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{dest}: {n_train} train + {n_test} test CelebA images, {size / 2**20:.1f} MiB")
    sizes = travelling(ROOT, (dest,))
    total = sum(sizes.values())
    slim = total - sum(sizes.get(a, 0) for a in ASIDE)
    aside = " and ".join(f"{a}/" for a in ASIDE)
    print(f"a device call carrying it sends {total / 2**20:.1f} MiB (limit "
          f"{DEVICE_LIMIT / 2**20:.0f}); without the tracked {aside}, which the check does "
          f"not read, {slim / 2**20:.1f} MiB")
    if total > DEVICE_LIMIT:
        print("over the limit: `scripts/gpu_check.sh aside` takes them out of the working tree "
              "(they are committed) before the device call, `scripts/gpu_check.sh back` "
              "restores them")
    return dest


def _tests(device: str) -> dict:
    t = time.time()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "tests/test_cuda.py",
                           "tests/test_perf_gpu.py"], cwd=ROOT, capture_output=True, text=True)
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
    print("\n".join(tail))
    return {"returncode": proc.returncode, "tail": tail, "seconds": round(time.time() - t, 1)}


def _bench_run(args: list[str]) -> None:
    """`bench ARGS` in a child process (the study drives the command line as a user would)."""
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True)
    print((proc.stdout + proc.stderr)[-3000:])
    if proc.returncode != 0:
        raise SystemExit(f"bench {' '.join(args)} failed ({proc.returncode})")


def check(out: Path, data_root: Path | None, tiny: bool, train_seconds: float) -> dict:

    device = "cpu" if tiny else "cuda"
    if not tiny and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU, or pass --tiny for the CPU dry run")
    started = time.time()
    result: dict = {"device": device, "tiny": tiny, "code": code_version(),
                    "environment": environment(device)}
    print(f"== 1/3 tests that need CUDA ({device})")
    result["tests"] = _tests(device)
    print("== 2/3 speed: images/s per family, fraction of the bf16 peak")
    if tiny:
        result["perf_gpu"] = bench_gpu("cpu", resolutions=(32,), batch=16, n_images=64)
        result["peak"] = measure_steps("cpu", resolution=32, widths=(8,), batch=8,
                                       min_seconds=0.2)
    else:
        result["perf_gpu"] = bench_gpu("cuda", resolutions=(64,), batch=128, n_images=128 * 24)
        result["peak"] = measure_steps("cuda", resolution=64, widths=(32, 64), batch=128,
                                       min_seconds=2.0)
    glo = next(r for r in result["perf_gpu"]["rows"] if r["family"] == "glo")
    rate = glo["bf16_channels_last_img_s"]
    steps = 20 if tiny else max(100, int(rate * train_seconds / 128))
    print(f"== 3/3 GLO-MSE-PCA at the paper's width, {steps} steps (measured {rate:.0f} img/s x "
          f"{train_seconds:.0f} s / batch 128), and PCA")
    store = out / "runs"
    common = ["run", "--out", str(store), "--quiet", "--steps", str(steps), "--model", "pca",
              "--model", "glo-mse-pca", "--device", device]
    if tiny:
        common += ["--dataset", "lfw25", "--profile", "cpu", "--eval-train-n", "16",
                   "--eval-test-n", "8"]
    else:
        common += ["--dataset", "celeba64", "--data-root", str(data_root), "--profile", "paper",
                   "--eval-train-n", "1000", "--eval-test-n", "500"]
    t = time.time()
    _bench_run(common)

    runs = {load_run(r)["config"]["config"]["method"]: load_run(r) for r in find_runs(store)}
    g, p = runs["glo-mse-pca"]["metrics"], runs["pca"]["metrics"]
    result["train"] = {
        "steps": steps, "rate_img_s": rate, "wall_s": round(time.time() - t, 1),
        "glo_mse_pca": {"train_mse": g["train"]["mse"], "test_mse": g["test"]["mse"],
                        "timing": g["timing"], "codes": {k: v for k, v in g.get("codes", {}).items()
                                                         if k != "spectrum_init"},
                        "config": runs["glo-mse-pca"]["config"]["config"]},
        "pca": {"train_mse": p["train"]["mse"], "test_mse": p["test"]["mse"]},
        "glo_over_pca_train_mse": g["train"]["mse"] / p["train"]["mse"],
        "units": "MSE per pixel, [-1, 1] pixels; the same scored training images"}
    result["seconds"] = round(time.time() - started, 1)
    tr = result["train"]
    print(f"GLO-MSE-PCA after {steps} steps: train MSE {tr['glo_mse_pca']['train_mse']:.5f}, "
          f"PCA {tr['pca']['train_mse']:.5f} ({tr['glo_over_pca_train_mse']:.2f}x); "
          f"whole check {result['seconds']:.0f} s")

    atomic_write_json(out / "gpu_check.json", result)
    print(f"-> {out / 'gpu_check.json'}")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("gpu_check"))
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--tiny", action="store_true", help="every step small, on the CPU")
    ap.add_argument("--train-seconds", type=float, default=240.0)
    ap.add_argument("--prepare", type=Path, default=None,
                    help="copy a CelebA subset from --data-root into this folder and stop")
    a = ap.parse_args(argv)
    if a.prepare is not None:
        prepare(a.prepare, a.data_root or ROOT.parent / "shared" / "data")
        return
    a.out.mkdir(parents=True, exist_ok=True)
    check(a.out, a.data_root, a.tiny, a.train_seconds)


if __name__ == "__main__":
    main()
