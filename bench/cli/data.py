"""`bench data list|prepare|verify|probe-crops` and `bench fid fetch|status`: datasets and the
Inception weights."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.common import CACHE_DIR, DATA_ROOT, Group, _root
from bench.data import (
    REGISTRY,
    default_cache_dir,
    get_dataset,
    load_split,
    verify_split,
)
from bench.eval.fidelity import Extractor, fetch_instructions, find_weights, missing_hint
from bench.runtime.errors import BenchError
from bench.studies.preprocess import probe


# ------------------------------------------------------------------------------- data
@click.group(cls=Group)
def data() -> None:
    """Datasets: list, decode into the cache, verify."""


@data.command("list")
@DATA_ROOT
def data_list(data_root: Path | None) -> None:
    """Every named dataset: resolution, channels, whether it was found and where."""
    root = _root(data_root)
    click.echo(f"{'name':<14} {'res':>4} {'ch':>3}  {'found':<5}  where / expected layout")
    for ds in REGISTRY.values():
        try:
            where, ok = ds.locate(root), True
        except BenchError:
            where, ok = ds.layout(root), False
        click.echo(f"{ds.name:<14} {ds.resolution:>4} {ds.channels:>3}  {'yes' if ok else 'no':<5}  {where}")
    click.echo(f"{'folder:PATH':<14} {'64':>4} {'3':>3}  {'-':<5}  any image folder (folder:PATH@RES)")
    click.echo(f"data root: {root.resolve()}  cache: {default_cache_dir()}")


def _load_all(name: str, data_root, cache_dir, skip_corrupt: bool, rebuild: bool = False):
    ds = get_dataset(name)
    return ds, {s: load_split(ds, s, _root(data_root), cache_dir, skip_corrupt=skip_corrupt,
                              rebuild=rebuild, log=lambda m: click.echo(m, err=True))
                for s in ds.splits}


@data.command("prepare")
@click.argument("name")
@DATA_ROOT
@CACHE_DIR
@click.option("--skip-corrupt", is_flag=True, help="Skip unreadable images (counted in the manifest).")
@click.option("--rebuild", is_flag=True, help="Decode again even if a valid cache exists.")
def data_prepare(name, data_root, cache_dir, skip_corrupt, rebuild) -> None:
    """Decode a dataset's splits once into the uint8 cache."""
    _ds, splits = _load_all(name, data_root, cache_dir, skip_corrupt, rebuild)
    for split, c in splits.items():
        click.echo(f"{name}/{split}: {c.images.shape[0]} images {tuple(c.images.shape[1:])} -> {c.path}")


@data.command("verify")
@click.argument("name")
@DATA_ROOT
@CACHE_DIR
@click.option("--skip-corrupt", is_flag=True)
def data_verify(name, data_root, cache_dir, skip_corrupt) -> None:
    """Count per split, fingerprint, unreadable files, cache checksum."""

    ds, splits = _load_all(name, data_root, cache_dir, skip_corrupt)
    click.echo(f"{name}: {ds.describe()['crop']}")
    bad = False
    for split, c in splits.items():
        ok = verify_split(c)
        bad |= not ok
        click.echo(f"  {split:<6} {c.images.shape[0]:>7} images  fingerprint {c.fingerprint[:16]}  "
                   f"unreadable {len(c.manifest.get('skipped', []))}  cache checksum "
                   f"{'ok' if ok else 'MISMATCH'}")
        for s in c.manifest.get("skipped", [])[:5]:
            click.echo(f"    skipped {s['name']}: {s['error']}")
    if bad:
        raise BenchError(f"cache of {name} does not match its checksum: run "
                         f"`bench data prepare {name} --rebuild`")


@data.command("probe-crops")
@DATA_ROOT
@click.option("--out", type=click.Path(path_type=Path), default=Path("docs/preprocessing"),
              show_default=True, help="Base path: writes OUT.json and OUT.png (mean faces).")
@click.option("--size", "sizes", type=int, multiple=True, help="Resolutions (default 64, 128).")
def data_probe_crops(data_root, out, sizes) -> None:
    """PCA's train MSE on CelebA under each candidate crop / resize rule, at 64 and 128 px,
    beside the paper's PCA row (which preparation did the paper use?)."""

    probe(_root(data_root), out, tuple(sizes) or (64, 128), log=click.echo)


@click.group(cls=Group)
def fid() -> None:
    """Sample quality (FID, KID, precision/recall through torch-fidelity): its weights file."""


@fid.command("fetch")
def fid_fetch() -> None:
    """How to get torch-fidelity's Inception weights once (nothing downloads at run time)."""

    click.echo(fetch_instructions())


@fid.command("status")
@click.option("--fid-weights", type=click.Path(path_type=Path), default=None)
def fid_status(fid_weights: Path | None) -> None:
    """Which Inception weights file a run would use, and its SHA-256."""

    path = find_weights(fid_weights)
    if path is None:
        click.echo(missing_hint())
        return
    ext = Extractor.load(path)
    click.echo(f"{path}: SHA-256 {ext.sha256} "
               + ("(torch-fidelity's standard weights)" if ext.standard
                  else "(NOT the standard weights: FIDs not comparable with published ones)"))
