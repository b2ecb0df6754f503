"""The provenance part of `ButlerTests` (issue 23): run records, inputs and lineage, removal of used datasets,
logs and configs as datasets, and what a changed calibration invalidates."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from skybutler.errors import ConflictError, DataIdError, DatasetNotFoundError, PermissionDeniedError
from skybutler.testing._butler_base import DATA_ID, DIMS, ButlerTestBase

if TYPE_CHECKING:
    from skybutler.butler import Butler
    from skybutler.datasets import DatasetRef

__all__ = ["ButlerProvenanceTests"]

DET = {"instrument": "Cam", "detector": 2}


def _types(butler: Butler) -> None:
    butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)


def _meta(butler: Butler, visit: int, inputs: list[Any] | None = None, run: str | None = None) -> DatasetRef:
    return butler.put({"v": visit}, "meta", {**DATA_ID, "visit": visit}, inputs=inputs, run=run)


def _now() -> int:
    """TAI ns now, apart from what comes just before and after (an ``as_of`` boundary)."""
    from datetime import UTC, datetime

    from skybutler.dimensions import to_tai_ns

    time.sleep(0.005)
    now = to_tai_ns(datetime.now(UTC))
    time.sleep(0.005)
    return now


class ButlerProvenanceTests(ButlerTestBase):
    """What made each dataset and what used it (`ButlerTests` documents the suite)."""

    def test_run_context_records_the_writer_config_and_end(self, butler: Butler) -> None:
        _types(butler)
        with self.reopen(butler, writeable=False) as reader:
            with pytest.raises(PermissionDeniedError):
                _meta(reader, 1, run="u/prov/a")
            before = time.time_ns()
            with reader.run_context("u/prov/a", config={"threshold": 5.0, "isr": {"doBias": True}}) as b:
                ref = _meta(b, 1)
            assert ref.run == "u/prov/a"
            info = reader.run_info("u/prov/a")
            assert info.config == {"threshold": 5.0, "isr": {"doBias": True}}
            assert info.ended is not None
            assert before <= info.started <= info.ended
            assert info.host == socket.gethostname()  # this process wrote it, wherever the repository is
            assert len(info.environments) == 1
            assert info.environments[0].packages["skybutler"]
            with pytest.raises(PermissionDeniedError):  # writeable only within the block
                _meta(reader, 2, run="u/prov/a")
            with reader.run_context("u/prov/b", config={"threshold": 6.0, "isr": {"doBias": True}}):
                pass
            diff = reader.diff_runs("u/prov/a", "u/prov/b")
            assert diff.config == {"threshold": (5.0, 6.0)}
            assert (diff.packages, diff.python) == ({}, None)
        butler.collections.register("u/prov/empty", "RUN")
        with pytest.raises(DatasetNotFoundError, match="no run record"):
            butler.run_info("u/prov/empty")

    def test_a_put_records_its_run_and_inputs_and_lineage_walks_both_ways(self, butler: Butler) -> None:
        _types(butler)
        raw = _meta(butler, 1)
        bias = butler.put({"b": 1}, "bias", DET)
        isr = _meta(butler, 2, inputs=[raw, bias])
        calexp = _meta(butler, 3, inputs=[isr.id])  # an ID does as well as a ref
        info = butler.run_info("test/run")
        assert info.host == socket.gethostname()
        up = butler.lineage(calexp)
        assert [(n.ref, n.depth) for n in up] == sorted(
            [(isr, 1), (raw, 2), (bias, 2)], key=lambda p: (p[1], p[0].dataset_type.name, str(p[0].id))
        )
        assert [(n.ref, n.depth) for n in butler.lineage(calexp, depth=1)] == [(isr, 1)]
        assert {(n.ref, n.depth) for n in butler.impact(bias)} == {(isr, 1), (calexp, 2)}
        assert butler.impact(calexp) == []
        dot = butler.lineage_dot(calexp)
        assert dot.startswith("digraph lineage {")
        assert f'"{raw.id}" -> "{isr.id}";' in dot
        assert butler.get_dataset(isr.id) == isr
        assert butler.get_dataset(str(isr.id)) == isr
        assert butler.get_dataset(uuid.uuid4()) is None
        with pytest.raises(DataIdError):
            butler.lineage(calexp, direction="sideways")
        many = butler.put_many(
            [({"x": 1}, {**DATA_ID, "visit": 5}, [bias]), ({"x": 2}, {**DATA_ID, "visit": 6})], "meta", inputs=[raw]
        )
        assert [{n.id for n in butler.lineage(r)} for r in many] == [{bias.id, raw.id}, {raw.id}]  # shared + own

    def test_an_input_that_does_not_exist_is_refused_with_nothing_written(self, butler: Butler) -> None:
        _types(butler)
        before = self.snapshot(butler)
        with pytest.raises(DatasetNotFoundError):
            _meta(butler, 1, inputs=[uuid.uuid4()])
        assert self.snapshot(butler) == before

    def test_a_used_dataset_is_removed_only_when_the_caller_says_so(self, butler: Butler) -> None:
        _types(butler)
        raw = _meta(butler, 1)
        out = _meta(butler, 2, inputs=[raw])
        before = self.snapshot(butler)
        with pytest.raises(ConflictError, match="even_if_used"):
            butler.remove([raw])
        assert self.snapshot(butler) == before
        assert butler.remove([raw], even_if_used=True) == 1
        (node,) = butler.lineage(out)
        assert (node.id, node.dataset_type, node.ref) == (raw.id, "meta", None)  # history is kept
        used = _meta(butler, 3, run="u/prov/raw")
        _meta(butler, 4, inputs=[used])
        with pytest.raises(ConflictError):
            butler.collections.remove_runs(["u/prov/raw"])
        assert butler.collections.remove_runs(["u/prov/raw"], even_if_used=True) == 1

    def test_logs_and_configs_are_datasets(self, butler: Butler) -> None:
        with butler.capture_logs("isr_log", DATA_ID) as capture:
            logging.getLogger("skybutler.test").warning("flat fielding: ünïcode")
            logging.getLogger("skybutler.test").info("done")
        assert capture.ref is not None
        records = butler.get("isr_log", DATA_ID)
        assert [r.message for r in records.filter("WARNING")] == ["flat fielding: ünïcode"]
        assert [r.message for r in butler.get("isr_log", DATA_ID, parameters={"level": "INFO"})][-1] == "done"
        config = butler.put_config("isr", {"doBias": True, "threshold": 5.0})
        assert butler.get(config) == {"doBias": True, "threshold": 5.0}
        assert butler.run_info("test/run").task_configs == {"isr": config}

    def test_invalidated_follows_certify_replace_and_decertify(self, butler: Butler) -> None:
        _types(butler)
        butler.collections.register("u/calib", "CALIBRATION")
        a = butler.put({"label": "A"}, "bias", DET, run="u/bias/A")
        b = butler.put({"label": "B"}, "bias", DET, run="u/bias/B")
        butler.collections.certify("u/calib", [a], ("2024-12-01", None))
        out1, out2 = _meta(butler, 1, inputs=[a]), _meta(butler, 2, inputs=[a])
        t_used = _now()
        assert butler.invalidated("u/calib") == []
        butler.collections.certify("u/calib", [b], ("2025-01-01T12:01:40", None), replace=True)
        (inv,) = butler.invalidated("u/calib")
        assert (inv.output, inv.used, inv.now_valid, inv.collection) == (out2, a, b, "u/calib")
        butler.collections.decertify("u/calib", "bias", ("2025-01-01T12:00:00", "2025-01-01T12:01:40"))
        assert {i.output: i.now_valid for i in butler.invalidated("u/calib")} == {out1: None, out2: b}
        assert butler.invalidated("u/calib", as_of=t_used) == []
        assert butler.invalidated("u/calib", dataset_types=["flat"]) == []
        with pytest.raises(Exception, match="CALIBRATION"):
            butler.invalidated("test/run")
