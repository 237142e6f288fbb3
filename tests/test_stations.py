"""The station table: parsing, the clear errors bad tables get, storing it, and camera operation per day."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from pelage.export.stations import (
    StationInfo,
    StationTableError,
    load_stations,
    parse_outages,
    parse_station_table,
    save_stations,
    station_table_text,
)
from pelage.store import open_project, transaction
from pelage.store.schema import Station, StationOutage

HEADER = "station,x,y,setup,retrieval"


def test_operational_days_skip_outages_and_include_setup_and_retrieval():
    station = StationInfo("ST02", 1.0, 2.0, date(2024, 3, 1), date(2024, 3, 6), outages=((date(2024, 3, 3), date(2024, 3, 4)),))
    assert station.operational_days() == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 5), date(2024, 3, 6)]
    assert not station.operational(date(2024, 2, 29)) and not station.operational(date(2024, 3, 7))
    assert StationInfo("bare").operational_days() == []


def test_parse_reads_optional_columns_semicolons_and_a_bom():
    text = "\ufeffStation;X;Y;Setup;Retrieval;CRS;lat;lon;problem1_from;problem1_to;problem2_from;problem2_to\n" \
           "ST01;500000;8000000;2024-03-01;2024-03-10;EPSG:32736;-24.1;31.2;2024-03-03;2024-03-04;2024-03-08;2024-03-08\n" \
           "\n" \
           "ST02;501000.25;8000100;2024-03-02;2024-03-09;;;;;;;\n"
    first, second = parse_station_table(text)
    assert first == StationInfo("ST01", 500000.0, 8000000.0, date(2024, 3, 1), date(2024, 3, 10), "EPSG:32736", -24.1, 31.2,
                                ((date(2024, 3, 3), date(2024, 3, 4)), (date(2024, 3, 8), date(2024, 3, 8))))
    assert second == StationInfo("ST02", 501000.25, 8000100.0, date(2024, 3, 2), date(2024, 3, 9))


@pytest.mark.parametrize("text, message", [
    ("station,x,y\nST01,1,2\n", "lacks the column(s) setup, retrieval"),
    (f"{HEADER}\nST01,1,2,2024-03-01,01/03/2024\n", "line 2: retrieval '01/03/2024' is not a date; write it as YYYY-MM-DD"),
    (f"{HEADER}\nST01,east,2,2024-03-01,2024-03-02\n", "line 2: x 'east' is not a number"),
    (f"{HEADER}\nST01,,2,2024-03-01,2024-03-02\n", "line 2: x is empty"),
    (f"{HEADER}\nST01,1,2,2024-03-05,2024-03-02\n", "retrieved (2024-03-02) before it is set up (2024-03-05)"),
    (f"{HEADER}\nST01,1,2,2024-03-01,2024-03-02\nST01,1,2,2024-03-01,2024-03-02\n", "line 3: station 'ST01' is listed twice"),
    (f"{HEADER},problem1_from\nST01,1,2,2024-03-01,2024-03-09,2024-03-03\n", "problem1_from and problem1_to must come as a pair"),
    (f"{HEADER},problem1_from,problem1_to\nST01,1,2,2024-03-01,2024-03-09,2024-03-03,\n", "must both be filled or both empty"),
    (f"{HEADER},problem1_from,problem1_to\nST01,1,2,2024-03-01,2024-03-09,2024-03-08,2024-03-12\n", "outside its setup..retrieval"),
    (f"{HEADER},lat,lon\nST01,1,2,2024-03-01,2024-03-09,95,31\n", "lat 95.0 is outside ±90"),
    (f"{HEADER}\n", "has a header but no station rows"),
    ("", "is empty"),
])
def test_bad_tables_get_a_clear_error(text, message):
    with pytest.raises(StationTableError) as caught:
        parse_station_table(text, source="stations.csv")
    assert message in str(caught.value)


def test_overlapping_outages_are_refused():
    with pytest.raises(StationTableError, match="overlapping outages"):
        parse_station_table(f"{HEADER},problem1_from,problem1_to,problem2_from,problem2_to\n"
                            "ST01,1,2,2024-03-01,2024-03-09,2024-03-02,2024-03-05,2024-03-05,2024-03-06\n")


def test_outage_text_round_trips():
    station = StationInfo("A", 0, 0, date(2024, 1, 1), date(2024, 1, 31),
                          outages=parse_outages("2024-01-20; 2024-01-05..2024-01-07"))
    assert station.outages == ((date(2024, 1, 5), date(2024, 1, 7)), (date(2024, 1, 20), date(2024, 1, 20)))
    assert parse_outages(station.problems()) == station.outages
    with pytest.raises(StationTableError, match="not a date"):
        parse_outages("soon..later")


def test_save_replaces_metadata_and_refuses_unknown_names(tmp_path, database_url):
    root = tmp_path / "project"
    with open_project(root, create=True, database_url=database_url) as project:
        with transaction(project.sessions) as session:
            session.add_all([Station(name="ST01"), Station(name="ST02")])
        table = parse_station_table(f"{HEADER},problem1_from,problem1_to\n"
                                    "ST01,10,20,2024-03-01,2024-03-09,2024-03-03,2024-03-04\nST-01,1,2,2024-03-01,2024-03-09,,\n")
        with pytest.raises(StationTableError, match=r"'ST-01' \(did you mean 'ST01'\?\).*--add-new"):
            with transaction(project.sessions) as session:
                save_stations(session, table)
        with project.sessions() as session:
            assert all(s.setup is None for s in load_stations(session))  # nothing half-saved
        with transaction(project.sessions) as session:
            result = save_stations(session, table, add_new=True)
        assert (result.updated, result.added, result.without_metadata) == (("ST01",), ("ST-01",), ("ST02",))
        # Importing again replaces the outages instead of adding to them.
        with transaction(project.sessions) as session:
            save_stations(session, parse_station_table(f"{HEADER}\nST01,11,21,2024-03-02,2024-03-08\n"))
        with project.sessions() as session:
            st01 = next(s for s in load_stations(session) if s.name == "ST01")
            assert (st01.x, st01.y, st01.setup, st01.retrieval, st01.outages) == (11.0, 21.0, date(2024, 3, 2), date(2024, 3, 8), ())
            assert session.scalars(select(StationOutage)).all() == []


def test_written_table_imports_back_unchanged():
    stations = parse_station_table(f"{HEADER},crs,lat,lon,problem1_from,problem1_to\n"
                                   "B,2.5,3,2024-03-01,2024-03-09,EPSG:32736,-24.1,31.2,2024-03-03,2024-03-04\n"
                                   "A,1,2,2024-03-02,2024-03-08,,,,,\n")
    text = station_table_text(stations)
    assert text.splitlines()[0] == "station,x,y,setup,retrieval,crs,lat,lon,problem1_from,problem1_to"
    assert text.splitlines()[1] == "A,1,2,2024-03-02,2024-03-08,,,,,"
    assert sorted(parse_station_table(text), key=lambda s: s.name) == sorted(stations, key=lambda s: s.name)
