"""`ButlerTests`: the conformance suite every `Butler` implementation passes, whatever its datastore.

It checks behaviour through the public interface only (`skybutler.Butler`): put/get/find, storage classes and
components, queries of data IDs, datasets and records, dataset types, the completeness matrix, chains and
find-first, TAGGED collections, certify/decertify with lookups in valid time (``at=``) and transaction time
(``as_of=``), ingest, an export/import round trip, provenance (run records, inputs, lineage and impact, logs,
configs, what a changed calibration invalidates), and refusals -- each the right `SkyButlerError` subclass, and
each leaving the repository exactly as it was.

Use it by subclassing it and giving a ``butler`` fixture: a writeable butler of your implementation on a new,
empty repository holding the sample instrument (`skybutler.testing.sample.populate_sample`), writing into run
``test/run``::

    from skybutler.testing.butler import ButlerTests
    from skybutler.testing.sample import populate_sample

    class TestMyButler(ButlerTests):
        unsupported = {"ingest": "the server cannot read the client's files"}  # capabilities it lacks, and why

        @pytest.fixture
        def butler(self, tmp_path):
            root = Butler.create(tmp_path / "repo")
            with MyButler(root, run="test/run") as b:
                populate_sample(b)
                yield b

The tests never reach below the interface (no ``butler.registry``), so the same class runs unchanged on the
direct butler (tests/butler/test_conformance.py: SQLite and PostgreSQL, local files, memory, chains and S3) and
on the remote client (tests/server/test_conformance.py), which has no ``registry`` attribute.  A test that
cannot apply to an implementation is skipped through a declared capability (``unsupported``, keys from
`CAPABILITIES`), with the reason; override `ButlerTestBase.reopen` when opening a second butler on the same
repository needs more than its root.
"""

from __future__ import annotations

from skybutler.testing._butler_base import CAPABILITIES, ButlerTestBase, snapshot
from skybutler.testing._butler_collections import ButlerCollectionTests
from skybutler.testing._butler_data import ButlerDataTests
from skybutler.testing._butler_errors import ButlerErrorTests
from skybutler.testing._butler_provenance import ButlerProvenanceTests
from skybutler.testing._butler_queries import ButlerQueryTests
from skybutler.testing._butler_transfer import ButlerTransferTests

__all__ = ["CAPABILITIES", "ButlerDataTests", "ButlerTestBase", "ButlerTests", "snapshot"]


class ButlerTests(
    ButlerDataTests,
    ButlerQueryTests,
    ButlerCollectionTests,
    ButlerTransferTests,
    ButlerProvenanceTests,
    ButlerErrorTests,
):
    """The whole conformance suite (see the module docstring): subclass it and give a ``butler`` fixture."""
