"""An upload becomes a StationReport through the plan's station link: factor codes -> parameters, data flags ->
reading quality, DataTime (China time) -> observed_at, and an event id derived from MN, CN and DataTime."""
from __future__ import annotations

from dataclasses import dataclass, field

from contingency.hj212 import FactorTable, StationLink
from contingency.ids import hj212_reading_id
from handlers.hj212.codes import DATA_FLAGS_2005, DATA_FLAGS_2017
from handlers.hj212.packet import PacketError, Version
from handlers.hj212.uploads import Upload, format_data_time
from schemas import Measurement, QualityFlag, StationReport


@dataclass(frozen=True)
class Translation:
    report: StationReport | None           # None: nothing in the upload is a reading (archived only)
    unknown_codes: tuple[str, ...] = ()    # codes neither the plan nor the factor table knows: refused
    unplanned_codes: tuple[str, ...] = ()  # known codes of parameters the plan does not watch at this station
    notes: tuple[str, ...] = field(default=())


def to_report(upload: Upload, link: StationLink, table: FactorTable, drill_id: str | None = None) -> Translation:
    flags = DATA_FLAGS_2017 if upload.packet.version is Version.HJ212_2017 else DATA_FLAGS_2005
    measurements, unknown, unplanned, notes = [], [], [], []
    for factor in upload.factors:
        parameter = link.codes.get(factor.code)
        if parameter is None:
            (unplanned if table.knows(factor.code) else unknown).append(factor.code)
            continue
        value = factor.value_for(upload.kind)
        if value is None:
            notes.append(f"{factor.code}: no {'Rtd' if upload.kind.value == 'realtime' else 'Avg'} value")
            continue
        if factor.flag is None:
            flag = QualityFlag.NORMAL
        elif factor.flag in flags:
            flag = flags[factor.flag]
        else:
            raise PacketError(f"{factor.code}-Flag={factor.flag}: not a data flag of HJ 212-{upload.packet.version}")
        measurements.append(Measurement(parameter=parameter, value=value, unit=link.units[parameter], flag=flag))
    report = None
    if measurements and upload.kind.value in link.readings_from:
        report = StationReport(
            event_id=hj212_reading_id(link.mn, upload.packet.cn, format_data_time(upload.data_time)),
            station_id=link.station_id, observed_at=upload.data_time, measurements=measurements, drill_id=drill_id)
    return Translation(report, tuple(unknown), tuple(unplanned), tuple(notes))
