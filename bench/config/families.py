"""The families the benchmark knows, and their methods: the four built-in ones (PCA, the DCGAN,
the VAE, GLO), then any that an installed package declares under the ``glo_bench.families``
entry-point group (an object of bench.core.family.Family, or a function returning one).

All of them are imported here, once, when the harness starts: a long run never imports model
code later than it hashed it (bench.runs.provenance)."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any

from baselines.dcgan.family import FAMILY as GAN
from baselines.pca.family import FAMILY as PCA
from baselines.vae.family import FAMILY as VAE
from bench.core.family import Family
from bench.runtime.errors import BenchError
from glo.family import FAMILY as GLO

ENTRY_POINT_GROUP = "glo_bench.families"
BUILTIN: tuple[Family, ...] = (PCA, GAN, VAE, GLO)


def installed_families() -> tuple[Family, ...]:
    """The families that installed packages declare under ENTRY_POINT_GROUP, by name. One that
    does not load, or is not a Family, is left out with one line on stderr naming it and the
    fix: a broken plug-in never stops the built-in families from running."""
    found = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        where = f"entry point {ep.name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP})"
        try:
            obj = ep.load()
            family = obj() if callable(obj) and not isinstance(obj, Family) else obj
        except Exception as e:  # a third party's code: whatever it raises is reported
            print(f"glo-bench: {where} left out: it does not load ({type(e).__name__}: {e}); "
                  f"fix or uninstall the package that declares it", file=sys.stderr)
            continue
        if not isinstance(family, Family):
            print(f"glo-bench: {where} left out: it gives a {type(family).__name__}, not a "
                  f"bench.core.family.Family", file=sys.stderr)
            continue
        found.append(family)
    return tuple(found)


def _register(families: tuple[Family, ...]
              ) -> tuple[dict[str, Family], dict[str, tuple[str, dict[str, Any]]]]:
    by_name: dict[str, Family] = {}
    methods: dict[str, tuple[str, dict[str, Any]]] = {}
    for family in families:
        if family.name in by_name:
            raise BenchError(f"two model families are named {family.name!r}; rename one")
        by_name[family.name] = family
        for method, variant in family.methods.items():
            if method in methods:
                raise BenchError(f"method {method!r} is declared by families "
                                 f"{methods[method][0]!r} and {family.name!r}; rename one")
            methods[method] = (family.name, dict(variant))
    return by_name, methods


#: family name -> Family (the built-in four, then the installed ones), and method -> (family
#: name, settings that differ), Table 1's rows first in the paper's order
FAMILIES, METHODS = _register(BUILTIN + installed_families())
#: the paper's nine rows, exactly what `bench run --all` means
TABLE1_METHODS: tuple[str, ...] = ("pca", "gan-mse", "gan-lap1", "vae-mse", "vae-lap1",
                                   "glo-mse-random", "glo-mse-pca", "glo-lap1-random",
                                   "glo-lap1-pca")
FAMILY_SETTINGS: dict[str, type] = {name: f.settings for name, f in FAMILIES.items()}
