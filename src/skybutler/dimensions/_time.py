"""Time as int64 TAI nanoseconds since 1970-01-01T00:00:00 TAI, and the half-open `Timespan`.

The standard library knows nothing of leap seconds, so UTC ↔ TAI uses the table of IERS leap seconds below.
Before 1972 (when UTC had "rubber" seconds) the 1972 offset of 10 s is used: against astropy's pre-1972 UTC
that is off by up to 2 s in 1970-1971, and by up to 9 s back to 1960 (tests/dimensions/test_time.py measures it).
Astropy ``Time`` objects are accepted without importing astropy here: anything with a ``.tai`` attribute
carrying ``jd1``/``jd2`` is converted exactly through its Julian dates.
"""

from __future__ import annotations

import bisect
import datetime
from dataclasses import dataclass
from typing import Any

from skybutler.errors import DataIdError

__all__ = [
    "TIMESPAN_MAX",
    "TIMESPAN_MIN",
    "TaiInstant",
    "Timespan",
    "db_instant",
    "tai_ns_to_iso",
    "tai_ns_to_utc",
    "to_tai_ns",
    "utc_ns_to_tai",
]

_NS = 1_000_000_000
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_UNIX_JD = 2440587.5

#: Database sentinels for an unbounded end of a timespan (NULL-free so comparisons stay simple and indexed).
TIMESPAN_MIN = -(2**62)
TIMESPAN_MAX = 2**62

# (UTC date from which it applies, TAI - UTC in seconds): the IERS leap-second history.
_LEAPS = [
    ("1972-01-01", 10), ("1972-07-01", 11), ("1973-01-01", 12), ("1974-01-01", 13), ("1975-01-01", 14),
    ("1976-01-01", 15), ("1977-01-01", 16), ("1978-01-01", 17), ("1979-01-01", 18), ("1980-01-01", 19),
    ("1981-07-01", 20), ("1982-07-01", 21), ("1983-07-01", 22), ("1985-07-01", 23), ("1988-01-01", 24),
    ("1990-01-01", 25), ("1991-01-01", 26), ("1992-07-01", 27), ("1993-07-01", 28), ("1994-07-01", 29),
    ("1996-01-01", 30), ("1997-07-01", 31), ("1999-01-01", 32), ("2006-01-01", 33), ("2009-01-01", 34),
    ("2012-07-01", 35), ("2015-07-01", 36), ("2017-01-01", 37),
]  # fmt: skip
_UTC_STARTS = [
    int((datetime.datetime.fromisoformat(d).replace(tzinfo=datetime.UTC) - _EPOCH).total_seconds()) * _NS
    for d, _ in _LEAPS
]
_OFFSETS = [off * _NS for _, off in _LEAPS]
_TAI_STARTS = [u + o for u, o in zip(_UTC_STARTS, _OFFSETS, strict=True)]


def _utc_ns_to_tai(utc_ns: int) -> int:
    i = bisect.bisect_right(_UTC_STARTS, utc_ns) - 1
    return utc_ns + _OFFSETS[max(i, 0)]


def utc_ns_to_tai(utc_ns: int) -> int:
    """TAI nanoseconds of a UTC instant given as nanoseconds since 1970 (as `time.time_ns` gives it).

    Examples
    --------
    >>> utc_ns_to_tai(1_500_000_000 * 10**9) - 1_500_000_000 * 10**9  # July 2017: TAI is 37 s ahead of UTC
    37000000000
    """
    return _utc_ns_to_tai(utc_ns)


def _tai_ns_to_utc_ns(tai_ns: int) -> int:
    i = bisect.bisect_right(_TAI_STARTS, tai_ns) - 1
    return tai_ns - _OFFSETS[max(i, 0)]


def _datetime_to_utc_ns(value: datetime.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000


@dataclass(frozen=True, slots=True)
class TaiInstant:
    """An instant as exact TAI nanoseconds, taken wherever a time is (`to_tai_ns`, ``bind=`` of a query).

    How a time bind crosses the wire (`skybutler.wire.encode_bind`): a ``Time`` or ``datetime`` becomes its
    nanoseconds on the client, and the server's query gets this, which no query mistakes for a plain number.
    """

    ns: int


def to_tai_ns(value: Any) -> int:
    """Convert a time to int64 TAI nanoseconds.

    Accepted: ``int`` (already TAI ns), `datetime.datetime` (naive means UTC), an ISO 8601 string (UTC unless
    it ends in ``TAI``, e.g. ``"2025-01-01T12:00:00 TAI"``), or an astropy ``Time`` in any scale.

    Examples
    --------
    >>> to_tai_ns("2017-01-01T00:00:00") - to_tai_ns("2017-01-01T00:00:00 TAI")
    37000000000
    """
    if isinstance(value, bool):
        raise DataIdError(f"Cannot use the boolean {value!r} as a time; give a datetime, ISO string or Time.")
    if isinstance(value, int):
        return value
    if isinstance(value, TaiInstant):
        return value.ns
    if hasattr(value, "__index__") and not hasattr(value, "jd1"):  # NumPy integers
        return int(value.__index__())
    if isinstance(value, datetime.datetime):
        return _utc_ns_to_tai(_datetime_to_utc_ns(value))
    if isinstance(value, datetime.date):
        return to_tai_ns(datetime.datetime(value.year, value.month, value.day))
    if isinstance(value, str):
        return _parse_iso(value)
    tai = getattr(value, "tai", None)
    if tai is not None and hasattr(tai, "jd1"):
        days = float(tai.jd1) - _UNIX_JD
        whole = int(days)
        rest = (days - whole) + float(tai.jd2)
        return whole * 86400 * _NS + round(rest * 86400 * _NS)
    raise DataIdError(
        f"Cannot interpret {value!r} ({type(value).__name__}) as a time; "
        "give an astropy Time, a datetime (UTC) or an ISO 8601 string."
    )


def _parse_iso(text: str) -> int:
    stripped = text.strip()
    scale = "utc"
    for suffix in ("TAI", "UTC"):
        if stripped.upper().endswith(suffix):
            scale = suffix.lower()
            stripped = stripped[: -len(suffix)].strip()
    try:
        parsed = datetime.datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        raise DataIdError(
            f"Cannot parse the time {text!r}; use ISO 8601 such as '2025-01-01T12:00:00' (UTC) "
            "or '2025-01-01T12:00:00 TAI'."
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.UTC)
    # Fractional seconds beyond microseconds are not kept by datetime; that is below our needs.
    ns = _datetime_to_utc_ns(parsed)
    return ns if scale == "tai" else _utc_ns_to_tai(ns)


def db_instant(tai_ns: int) -> int:
    """An instant to compare with stored bounds: one beyond the sentinels is moved just inside them.

    Every finite stored bound lies strictly between `TIMESPAN_MIN` and `TIMESPAN_MAX`, so a time past
    either sentinel falls in exactly the ranges unbounded on that side, as its neighbour inside does;
    compared as it is, it would fall outside even those.
    """
    return min(max(tai_ns, TIMESPAN_MIN + 1), TIMESPAN_MAX - 1)


def _describe(tai_ns: int) -> str:
    try:
        return f"{tai_ns_to_iso(tai_ns)} TAI"
    except OverflowError:  # beyond datetime's years 1-9999
        return f"{tai_ns} ns TAI"


def tai_ns_to_utc(tai_ns: int) -> datetime.datetime:
    """Return the UTC `datetime.datetime` (aware) of a TAI nanosecond count."""
    utc_ns = _tai_ns_to_utc_ns(tai_ns)
    return _EPOCH + datetime.timedelta(microseconds=utc_ns // 1000)


def tai_ns_to_iso(tai_ns: int, scale: str = "tai") -> str:
    """Format a TAI nanosecond count as ISO 8601 in the ``tai`` or ``utc`` scale (no zone suffix)."""
    ns = tai_ns if scale == "tai" else _tai_ns_to_utc_ns(tai_ns)
    moment = _EPOCH + datetime.timedelta(microseconds=ns // 1000)
    text = moment.replace(tzinfo=None).isoformat(timespec="microseconds")
    return text + f"{ns % 1000:03d}"


@dataclass(frozen=True, slots=True)
class Timespan:
    """A half-open time range ``[begin, end)`` in TAI nanoseconds; ``None`` means unbounded on that side.

    Either side may also be given in any form `to_tai_ns` accepts (an ISO string, a datetime, an astropy
    ``Time``): it is converted, so ``Timespan("2025-01-01", "2025-01-02")`` is the same as `from_times`.

    Examples
    --------
    >>> t = Timespan("2025-01-01", "2025-01-02")
    >>> t.contains("2025-01-01T12:00:00")
    True
    >>> t == Timespan.from_times("2025-01-01", "2025-01-02")
    True
    """

    begin: int | None
    """Start (inclusive), TAI ns; ``None`` for the infinite past."""
    end: int | None
    """End (exclusive), TAI ns; ``None`` for the infinite future."""

    def __post_init__(self) -> None:
        begin, end = self.begin, self.end
        if (begin is not None and type(begin) is not int) or (end is not None and type(end) is not int):
            # "2025-01-01", a datetime, an astropy Time (see to_tai_ns); ints, read from the registry, skip this
            object.__setattr__(self, "begin", None if begin is None else to_tai_ns(begin))
            object.__setattr__(self, "end", None if end is None else to_tai_ns(end))
        if self.begin is not None and self.end is not None and self.end < self.begin:
            raise DataIdError(
                f"A timespan's end ({_describe(self.end)}) is before its begin ({_describe(self.begin)}); swap them."
            )

    @classmethod
    def from_times(cls, begin: Any, end: Any) -> Timespan:
        """Build from any accepted time forms (see `to_tai_ns`); ``None`` leaves a side unbounded."""
        return cls(None if begin is None else to_tai_ns(begin), None if end is None else to_tai_ns(end))

    def contains(self, time: Any) -> bool:
        """Return whether the instant ``time`` lies in ``[begin, end)``."""
        t = to_tai_ns(time)
        return (self.begin is None or self.begin <= t) and (self.end is None or t < self.end)

    def overlaps(self, other: Timespan) -> bool:
        """Return whether the two ranges share at least one instant."""
        lo_ok = other.end is None or self.begin is None or self.begin < other.end
        hi_ok = self.end is None or other.begin is None or other.begin < self.end
        # An empty range [t, t) holds no instant, so it overlaps nothing.
        return lo_ok and hi_ok and not self.is_empty and not other.is_empty

    @property
    def is_empty(self) -> bool:
        """Whether the range holds no instant (``begin == end``)."""
        return self.begin is not None and self.begin == self.end

    def to_db(self) -> tuple[int, int]:
        """Return ``(begin, end)`` with the NULL-free database sentinels for unbounded sides.

        Raises
        ------
        DataIdError
            A bound at or beyond a sentinel (before 1823-11-12 or after 2116-02-20): stored, it would read
            back as unbounded, or make an empty or inverted range that no lookup finds.
        """
        for bound in (self.begin, self.end):
            if bound is not None and not TIMESPAN_MIN < bound < TIMESPAN_MAX:
                raise DataIdError(
                    f"The time {_describe(bound)} is outside the times a timespan can hold "
                    f"({tai_ns_to_iso(TIMESPAN_MIN + 1)} to {tai_ns_to_iso(TIMESPAN_MAX - 1)} TAI); "
                    "leave that side as None for an unbounded range."
                )
        return (
            TIMESPAN_MIN if self.begin is None else self.begin,
            TIMESPAN_MAX if self.end is None else self.end,
        )

    @classmethod
    def from_db(cls, begin: int, end: int) -> Timespan:
        """Inverse of `to_db`."""
        return cls(None if begin <= TIMESPAN_MIN else begin, None if end >= TIMESPAN_MAX else end)

    def __str__(self) -> str:
        lo = "-∞" if self.begin is None else tai_ns_to_iso(self.begin)
        hi = "+∞" if self.end is None else tai_ns_to_iso(self.end)
        return f"[{lo}, {hi}) TAI"
