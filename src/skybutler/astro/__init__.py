"""In-memory astronomy types the butler stores: images, exposures, spectra, table schemas, pixel boxes.

These are small classes of our own where no library type fits; tables use the libraries' own types
(astropy ``Table``, ``pyarrow.Table``, ``pandas.DataFrame``, structured NumPy arrays) and metadata is a plain
ordered ``dict``.  Importing this package imports neither NumPy nor astropy.
"""

from __future__ import annotations

from skybutler.astro._box import BBoxLike, Box
from skybutler.astro._image import Exposure, Image, arrays_equal, wcs_equal
from skybutler.astro._metadata import MetadataValue, metadata_equal
from skybutler.astro._spectrum import Spectrum
from skybutler.astro._tables import ColumnSchema, TableSchema, select
from skybutler.astro._validation import data_model_problems

__all__ = [
    "BBoxLike",
    "Box",
    "ColumnSchema",
    "Exposure",
    "Image",
    "MetadataValue",
    "Spectrum",
    "TableSchema",
    "arrays_equal",
    "data_model_problems",
    "metadata_equal",
    "select",
    "wcs_equal",
]
