"""Data harness: named datasets, decode-once uint8 cache."""

from bench.data.cache import (
    CachedSplit,
    default_cache_dir,
    default_data_root,
    load_split,
    verify_split,
)
from bench.data.images import Crop
from bench.data.sources import REGISTRY, Dataset, get_dataset

__all__ = ["CachedSplit", "Crop", "Dataset", "REGISTRY", "default_cache_dir",
           "default_data_root", "get_dataset", "load_split", "verify_split"]
