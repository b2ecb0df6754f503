"""Provenance written into files: dataset ID, run, dataset type, data ID and input IDs.

A file copied out of a repository still says where it came from, readable with astropy, h5py or pyarrow
alone: FITS primary-header cards (`FITS_KEYS`), HDF5 root attributes (``skybutler_<key>``) and a Parquet
schema-metadata entry (``skybutler.provenance``, JSON).  Values are text; FITS takes ASCII only, so other
characters are escaped there, and every value is capped (`fit`) with a marker rather than refused: a
dataset with ten thousand inputs still gets its file.

The datastore asks a formatter for a copy bound to one dataset (`Formatter.for_dataset`); a put's inputs
reach it through `inputs_recorded`, keyed by dataset ID, for the duration of the write.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef

__all__ = [
    "FITS_KEYS", "HDF5_PREFIX", "PARQUET_KEY", "TRUNCATED", "fit", "fits_cards", "inputs_recorded", "provenance_of"
]  # fmt: skip

#: Provenance field → FITS keyword (eight characters: no HIERARCH cards needed).
FITS_KEYS = {
    "dataset_id": "SBDSID",
    "run": "SBRUN",
    "dataset_type": "SBDSTYPE",
    "data_id": "SBDATAID",
    "n_inputs": "SBNINPUT",
    "inputs": "SBINPUTS",
}
HDF5_PREFIX = "skybutler_"
PARQUET_KEY = b"skybutler.provenance"
#: Appended to a value cut to fit; the count of inputs (``n_inputs``) is never cut.
TRUNCATED = "...[truncated]"

_INPUTS: dict[uuid.UUID, Sequence[uuid.UUID]] = {}
_LOCK = threading.Lock()


class _InputsRecorded:
    """The block of `inputs_recorded` (a class, not a generator: a put with inputs enters one each time)."""

    __slots__ = ("_inputs",)

    def __init__(self, inputs: Mapping[uuid.UUID, Sequence[uuid.UUID]]) -> None:
        self._inputs = inputs

    def __enter__(self) -> None:
        with _LOCK:
            _INPUTS.update(self._inputs)

    def __exit__(self, *_exc: object) -> None:
        with _LOCK:
            for key in self._inputs:
                _INPUTS.pop(key, None)


def inputs_recorded(inputs: Mapping[uuid.UUID, Sequence[uuid.UUID]]) -> AbstractContextManager[None]:
    """Make the inputs of the datasets being written known to `provenance_of` for the block (held, not copied)."""
    return _InputsRecorded(inputs)


def fit(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters with the `TRUNCATED` marker when longer."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATED))] + TRUNCATED


def provenance_of(ref: DatasetRef) -> dict[str, str]:
    """The provenance fields of a dataset being written, as text."""
    inputs = _INPUTS.get(ref.id, ())
    return {
        "dataset_id": str(ref.id),
        "run": ref.run,
        "dataset_type": ref.dataset_type.name,
        "data_id": json.dumps(dict(ref.data_id), sort_keys=True, default=str, ensure_ascii=False),
        "n_inputs": str(len(inputs)),
        "inputs": ",".join(str(i) for i in inputs),
    }


def fits_cards(provenance: Mapping[str, str], limit: int = 2000) -> list[tuple[str, str, str]]:
    """``(keyword, value, comment)`` cards: ASCII (others escaped), each value at most ``limit`` characters.

    Values over 68 characters become FITS long strings (``CONTINUE`` cards, which astropy writes and reads).
    """
    cards = []
    for field, key in FITS_KEYS.items():
        value = provenance.get(field, "")
        ascii_value = fit(value.encode("ascii", "backslashreplace").decode("ascii"), limit)
        # a comment fits on a short card only: on a long string astropy would cut it, with a warning
        cards.append((key, ascii_value, f"skybutler {field}" if len(ascii_value) <= 40 else ""))
    return cards
