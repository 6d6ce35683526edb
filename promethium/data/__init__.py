"""Data layer: Zarr store convention, lazy patch datasets, transforms, synthetic data."""

from promethium.data.datamodule import SeismicDataModule, ZarrSource
from promethium.data.dataset import EpochKeySampler, SeismicDataset
from promethium.data.store import open_store, store_attrs, validate_store, write_store
from promethium.data.synthetic import SyntheticGathers

__all__ = [
    "EpochKeySampler",
    "SeismicDataModule",
    "SeismicDataset",
    "SyntheticGathers",
    "ZarrSource",
    "open_store",
    "store_attrs",
    "validate_store",
    "write_store",
]
