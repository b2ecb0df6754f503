"""The error part of `ButlerTests`: each refusal is the right `SkyButlerError`, and changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from skybutler.errors import (
    CollectionError,
    ConflictError,
    DataIdError,
    DatasetNotFoundError,
    DatasetTypeError,
    FormatterError,
    PermissionDeniedError,
    QuerySyntaxError,
    SkyButlerError,
)
from skybutler.testing._butler_base import DATA_ID, DIMS, ButlerTestBase

if TYPE_CHECKING:
    from collections.abc import Callable

    from skybutler.butler import Butler

__all__ = ["ButlerErrorTests"]


def _populated(butler: Butler) -> None:
    """A repository with something of everything, for refusals to leave unchanged."""
    butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    refs = butler.put_many([({"v": v}, {**DATA_ID, "visit": v}) for v in range(3)], "meta")
    bias = butler.put({"label": "A"}, "bias", {"instrument": "Cam", "detector": 2}, run="u/bias")
    butler.collections.register("u/tagged", "TAGGED")
    butler.collections.associate("u/tagged", refs[:1])
    butler.collections.register("u/calib", "CALIBRATION")
    butler.collections.certify("u/calib", [bias], ("2025-01-01", "2026-01-01"))
    butler.collections.set_chain("u/chain", ["u/tagged", "u/calib"])


class ButlerErrorTests(ButlerTestBase):
    """Refusals: the error class says what went wrong, and the repository is as it was (`ButlerTests`)."""

    def refusals(self, butler: Butler) -> list[tuple[type[SkyButlerError], Callable[[], Any]]]:
        """Calls that must fail, each with the `SkyButlerError` subclass it must raise."""
        bias = butler.find_dataset("bias", instrument="Cam", detector=2, collections="u/bias")
        assert bias is not None
        run = butler.run or "test/run"
        return [
            (DatasetTypeError, lambda: butler.put({"v": 1}, "nope", DATA_ID)),
            (DataIdError, lambda: butler.put({"v": 1}, "meta", instrument="Cam", visit=1)),
            (DataIdError, lambda: butler.put({"v": 1}, "meta", {**DATA_ID, "visit": 999_999})),
            (FormatterError, lambda: butler.put([1, 2], "meta", {**DATA_ID, "visit": 7})),
            (ConflictError, lambda: butler.put({"v": 9}, "meta", DATA_ID)),
            (ConflictError, lambda: butler.put_many([({"v": 8}, {**DATA_ID, "visit": 8}), ({}, DATA_ID)], "meta")),
            (CollectionError, lambda: butler.put({"v": 1}, "meta", {**DATA_ID, "visit": 7}, run="u/tagged")),
            (DatasetNotFoundError, lambda: butler.get("meta", {**DATA_ID, "visit": 5})),
            (CollectionError, lambda: butler.get("meta", DATA_ID, collections="no/such")),
            (DatasetTypeError, lambda: butler.get("meta.nocomponent", DATA_ID)),
            (QuerySyntaxError, lambda: butler.query_datasets("meta", where="visit = = 1")),
            (DatasetTypeError, lambda: butler.register_dataset_type("meta", ["instrument"], "StructuredDataDict")),
            (ConflictError, lambda: butler.remove_dataset_type("meta")),
            (ConflictError, lambda: butler.collections.register(run, "TAGGED")),
            (CollectionError, lambda: butler.collections.set_chain("u/chain", ["u/chain"])),
            (CollectionError, lambda: butler.collections.remove(run)),
            (CollectionError, lambda: butler.collections.remove_runs(["u/tagged"])),
            (ConflictError, lambda: butler.collections.certify("u/calib", [bias], ("2025-06-01", "2025-07-01"))),
            (DataIdError, lambda: butler.collections.certify("u/calib", [bias], ("2025-06-01", "2025-06-01"))),
        ]

    def test_each_refusal_is_the_right_error_and_changes_nothing(self, butler: Butler) -> None:
        _populated(butler)
        before = self.snapshot(butler)
        for expected, call in self.refusals(butler):
            with pytest.raises(expected) as info:
                call()
            assert isinstance(info.value, SkyButlerError)
            assert str(info.value), f"{expected.__name__} without a message"
            assert self.snapshot(butler) == before, f"{expected.__name__} from a refused call changed the repository"

    def test_a_read_only_butler_refuses_every_write_and_changes_nothing(self, butler: Butler) -> None:
        _populated(butler)
        before = self.snapshot(butler)
        ref = butler.find_dataset("meta", DATA_ID)
        assert ref is not None
        with self.reopen(butler) as reader:  # the same implementation, opened without a run
            assert reader.writeable is False
            assert reader.get(ref) == {"v": 1}
            writes: list[Callable[[], Any]] = [
                lambda: reader.put({"v": 1}, "meta", {**DATA_ID, "visit": 7}, run="u/new"),
                lambda: reader.remove([ref]),
                lambda: reader.remove_dataset_type("meta"),
                lambda: reader.collections.register("u/new", "TAGGED"),
                lambda: reader.collections.set_chain("u/chain", []),
                lambda: reader.collections.associate("u/tagged", [ref]),
                lambda: reader.collections.decertify("u/calib", "bias", ("2025-01-01", None)),
            ]
            for write in writes:
                with pytest.raises(PermissionDeniedError):
                    write()
        assert self.snapshot(butler) == before
