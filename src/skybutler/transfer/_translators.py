"""Metadata translators: a raw file's FITS header → what the registry needs to know about the observation.

A translator is a plug-in (entry point group ``skybutler.metadata_translators``) that turns a header into an
`ObservationInfo`: instrument, exposure, detector, filter, observing day and the exposure's timespan.  From
that, `observation_records` builds the dimension records (instrument, band, physical_filter, detector,
day_obs, group, exposure, and a one-exposure visit for science frames) that raw ingest inserts or verifies.

`GenericTranslator` (name ``generic``) reads standard keywords and is the template for real instruments:
subclass it, override the methods whose keywords differ (``exposure_id``, ``detector``, ``physical_filter``,
...), give it a ``name`` and register it as an entry point (docs/plugins.md).
"""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from skybutler.dimensions import DimensionRecord, to_tai_ns
from skybutler.dimensions._time import tai_ns_to_utc
from skybutler.errors import DataIdError
from skybutler.plugins import PluginRegistry

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionUniverse

__all__ = [
    "GenericTranslator",
    "MetadataTranslator",
    "ObservationInfo",
    "metadata_translators",
    "observation_records",
]


@dataclass(frozen=True, slots=True)
class ObservationInfo:
    """What one raw file says about its observation, in registry terms (times in TAI nanoseconds)."""

    instrument: str
    exposure: int
    obs_id: str
    detector: int
    detector_name: str
    physical_filter: str
    band: str
    day_obs: int
    day_obs_begin: int
    """Start of the observing day (the instrument's day boundary), TAI ns."""
    begin: int
    """Shutter open, TAI ns."""
    end: int
    """Shutter close, TAI ns."""
    exposure_time: float | None = None
    dark_time: float | None = None
    observation_type: str = "science"
    group: str | None = None
    """Label tying exposures taken together; the exposure's own ``obs_id`` when none."""
    seq_num: int | None = None
    target_name: str | None = None
    science_program: str | None = None
    tracking_ra: float | None = None
    tracking_dec: float | None = None
    visit: int | None = None
    """The one-exposure visit this exposure makes, or ``None`` (calibration frames)."""


class MetadataTranslator(ABC):
    """Turns the primary FITS header of a raw file into an `ObservationInfo` (the plug-in interface).

    Raise `DataIdError` with the keyword and value at fault when a header cannot be translated: raw ingest
    reports the file and goes on with the others.
    """

    name: ClassVar[str]
    """Short name, as registered in ``skybutler.metadata_translators``."""
    dataset_type: ClassVar[str] = "raw"
    """Dataset type of the ingested files (registered with dimensions instrument, exposure, detector)."""
    storage_class: ClassVar[str] = "Image"
    formatter: ClassVar[str] = "fits"

    @abstractmethod
    def translate(self, header: Mapping[str, Any], *, instrument: str | None = None) -> ObservationInfo:
        """Translate one header; ``instrument``, when given, is what the caller expects the file to be from."""

    def can_translate(self, header: Mapping[str, Any]) -> bool:
        """Whether this translator understands the header (checked before `translate`)."""
        return True


def _clean(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _whole(value: Any) -> int | None:
    """A header value as an integer: ints, integral floats (``4.0``) and decimal strings; None for anything else.

    ``int()`` alone would truncate ``1.5`` to 1 and silently name another detector or exposure.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return None


def _time_scale(header: Mapping[str, Any]) -> str:
    """TIMESYS, upper-cased (UTC when absent): in FITS the scale of every time keyword of the header."""
    return str(_clean(header.get("TIMESYS")) or "UTC").upper()


class GenericTranslator(MetadataTranslator):
    """Standard FITS keywords; the template for real instruments (override the method whose keyword differs).

    ============  =====================================================================================
    keyword       use
    ============  =====================================================================================
    INSTRUME      instrument name (or the ``instrument=`` given to ``ingest_raws``)
    DATE-OBS      shutter open, ISO 8601 (with TIME-OBS when it holds only a date); or MJD-OBS.
                  UTC unless TIMESYS is TAI
    EXPTIME       exposure time in seconds; shutter close = open + EXPTIME (or DATE-END)
    FILTER        physical filter; BAND gives the band, else the filter name is the band
    DETECTOR      detector id (integer); DETNAME its name (else the id as text)
    OBSID         observation id (unique per instrument)
    EXPID         exposure id; else day_obs * 100000 + SEQNUM
    IMAGETYP      observation type (OBSTYPE also read), lower-cased; ``science`` when absent
    others        OBJECT, PROGRAM, RA / DEC (degrees), DARKTIME, GROUPID, SEQNUM when present
    ============  =====================================================================================

    The observing day starts at `day_start_utc_hours` (12:00 UTC): ``day_obs`` is the date of the shutter
    open time minus that.  Science frames make one-exposure visits with the exposure's id.
    """

    name = "generic"
    day_start_utc_hours: ClassVar[float] = 12.0

    def translate(self, header: Mapping[str, Any], *, instrument: str | None = None) -> ObservationInfo:
        """Translate a header with standard keywords (see the class docstring)."""
        inst = self.instrument(header, instrument)
        begin = self.begin(header)
        exposure_time = self.optional_float(header, "EXPTIME")
        end = self.end(header, begin, exposure_time)
        day_obs, day_begin = self.day_obs(begin)
        obs_id = str(self.required(header, "OBSID"))
        seq_num = self.optional_int(header, "SEQNUM")
        exposure = self.exposure_id(header, day_obs, seq_num)
        physical_filter = str(self.required(header, "FILTER"))
        observation_type = str(_clean(header.get("IMAGETYP") or header.get("OBSTYPE") or "science")).lower()
        detector = self.detector(header)
        return ObservationInfo(
            instrument=inst,
            exposure=exposure,
            obs_id=obs_id,
            detector=detector,
            detector_name=str(_clean(header.get("DETNAME")) or detector),
            physical_filter=physical_filter,
            band=str(_clean(header.get("BAND")) or physical_filter),
            day_obs=day_obs,
            day_obs_begin=day_begin,
            begin=begin,
            end=end,
            exposure_time=exposure_time,
            dark_time=self.optional_float(header, "DARKTIME") or exposure_time,
            observation_type=observation_type,
            group=_clean(header.get("GROUPID")) or obs_id,
            seq_num=seq_num,
            target_name=_clean(header.get("OBJECT")),
            science_program=_clean(header.get("PROGRAM") or header.get("PROPID")),
            tracking_ra=self.optional_float(header, "RA"),
            tracking_dec=self.optional_float(header, "DEC"),
            visit=exposure if observation_type == "science" else None,
        )

    # -- one method per quantity: override the ones an instrument spells differently -------------------------
    def required(self, header: Mapping[str, Any], keyword: str) -> Any:
        """The value of a keyword the translation cannot do without."""
        value = _clean(header.get(keyword))
        if value is None or value == "":
            raise DataIdError(f"The header has no {keyword} keyword, which the {self.name!r} translator needs.")
        return value

    def optional_float(self, header: Mapping[str, Any], keyword: str) -> float | None:
        """A numeric keyword, or ``None`` when absent."""
        value = header.get(keyword)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise DataIdError(f"{keyword} = {value!r} is not a number.") from None

    def optional_int(self, header: Mapping[str, Any], keyword: str) -> int | None:
        """An integer keyword, or ``None`` when absent."""
        value = header.get(keyword)
        if value is None or value == "":
            return None
        number = _whole(value)
        if number is None:
            raise DataIdError(f"{keyword} = {value!r} is not an integer.")
        return number

    def instrument(self, header: Mapping[str, Any], expected: str | None) -> str:
        """INSTRUME, checked against the instrument the caller expects."""
        found = _clean(header.get("INSTRUME"))
        if found and expected and found != expected:
            raise DataIdError(f"INSTRUME = {found!r}, but the ingest is for instrument {expected!r}.")
        name = found or expected
        if not name:
            raise DataIdError("The header has no INSTRUME keyword; pass instrument= to ingest_raws.")
        return str(name)

    def begin(self, header: Mapping[str, Any]) -> int:
        """Shutter open, TAI ns: DATE-OBS (+ TIME-OBS), else MJD-OBS; in TIMESYS (UTC by default)."""
        scale = _time_scale(header)
        date = _clean(header.get("DATE-OBS"))
        try:
            if date:
                text = str(date)
                if "T" not in text and header.get("TIME-OBS"):
                    text = f"{text}T{_clean(header['TIME-OBS'])}"
                return to_tai_ns(f"{text} TAI" if scale == "TAI" else text)
            mjd = self.optional_float(header, "MJD-OBS")
            if mjd is None:
                raise DataIdError("The header has neither DATE-OBS nor MJD-OBS: no observation time.")
            moment = datetime.datetime(1858, 11, 17) + datetime.timedelta(days=mjd)
            return to_tai_ns(f"{moment.isoformat()} TAI" if scale == "TAI" else moment)
        except DataIdError as exc:
            if date:
                raise DataIdError(f"DATE-OBS = {date!r} is not a time: {exc}") from None
            raise

    def end(self, header: Mapping[str, Any], begin: int, exposure_time: float | None) -> int:
        """Shutter close: DATE-END (in TIMESYS, as DATE-OBS) when present, else open + EXPTIME."""
        if header.get("DATE-END"):
            text = str(_clean(header["DATE-END"]))
            try:
                return to_tai_ns(f"{text} TAI" if _time_scale(header) == "TAI" else text)
            except DataIdError as exc:
                raise DataIdError(f"DATE-END = {header['DATE-END']!r} is not a time: {exc}") from None
        if exposure_time is None:
            raise DataIdError("The header has neither EXPTIME nor DATE-END: no exposure timespan.")
        return begin + round(exposure_time * 1e9)

    def day_obs(self, begin: int) -> tuple[int, int]:
        """The observing day of a time (YYYYMMDD) and when that day starts, TAI ns."""
        shifted = tai_ns_to_utc(begin) - datetime.timedelta(hours=self.day_start_utc_hours)
        day = shifted.date()
        start = datetime.datetime(day.year, day.month, day.day) + datetime.timedelta(hours=self.day_start_utc_hours)
        return day.year * 10000 + day.month * 100 + day.day, to_tai_ns(start)

    def exposure_id(self, header: Mapping[str, Any], day_obs: int, seq_num: int | None) -> int:
        """EXPID, else ``day_obs * 100000 + SEQNUM``."""
        expid = self.optional_int(header, "EXPID")
        if expid is not None:
            return expid
        if seq_num is None:
            raise DataIdError("The header has neither EXPID nor SEQNUM: no exposure id.")
        return day_obs * 100_000 + seq_num

    def detector(self, header: Mapping[str, Any]) -> int:
        """DETECTOR as an integer id."""
        value = self.required(header, "DETECTOR")
        number = _whole(value)
        if number is None:
            raise DataIdError(
                f"DETECTOR = {value!r} is not an integer id; a translator for this instrument must map its names."
            )
        return number


def observation_records(info: ObservationInfo, universe: DimensionUniverse) -> list[DimensionRecord]:
    """The dimension records an observation stands on, parents first (fields the universe lacks are left out)."""
    span = (info.begin, info.end)
    rows: list[tuple[str, dict[str, Any]]] = [
        ("instrument", {"name": info.instrument}),
        ("band", {"name": info.band}),
        ("physical_filter", {"instrument": info.instrument, "name": info.physical_filter, "band": info.band}),
        ("detector", {"instrument": info.instrument, "id": info.detector, "full_name": info.detector_name}),
        ("day_obs", {"instrument": info.instrument, "id": info.day_obs,
                     "timespan": (info.day_obs_begin, info.day_obs_begin + 86_400 * 10**9)}),
        ("group", {"instrument": info.instrument, "name": info.group or info.obs_id}),
        ("exposure", {
            "instrument": info.instrument, "id": info.exposure, "obs_id": info.obs_id,
            "physical_filter": info.physical_filter, "group": info.group or info.obs_id, "day_obs": info.day_obs,
            "exposure_time": info.exposure_time, "dark_time": info.dark_time,
            "observation_type": info.observation_type, "seq_num": info.seq_num, "target_name": info.target_name,
            "science_program": info.science_program, "tracking_ra": info.tracking_ra,
            "tracking_dec": info.tracking_dec, "timespan": span,
        }),
    ]  # fmt: skip
    if info.visit is not None:
        rows.append(("visit", {
            "instrument": info.instrument, "id": info.visit, "name": info.obs_id,
            "physical_filter": info.physical_filter, "day_obs": info.day_obs, "seq_num": info.seq_num,
            "exposure_time": info.exposure_time, "target_name": info.target_name,
            "science_program": info.science_program, "timespan": span,
        }))  # fmt: skip
        link = {"instrument": info.instrument, "exposure": info.exposure, "visit": info.visit}
        rows.append(("visit_definition", link))
    out = []
    for name, values in rows:
        if name not in universe:
            continue
        element = universe[name]
        out.append(DimensionRecord.from_dict(element, {k: v for k, v in values.items() if k in element.field_index}))
    return out


#: Metadata translators by short name: the built-in ``generic``, then ``skybutler.metadata_translators`` entry points.
metadata_translators: PluginRegistry[type[MetadataTranslator]] = PluginRegistry(
    "metadata_translators", {"generic": "skybutler.transfer._translators:GenericTranslator"}
)
