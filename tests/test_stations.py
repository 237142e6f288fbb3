"""The station table: parsing, the clear errors bad tables get, storing it, and camera operation per day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pelage.export.stations import (
    StationInfo,
    StationTableError,
    load_stations,
    parse_outages,
    parse_station_table,
    save_stations,
    station_table_text,
    years_after,
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


@pytest.mark.parametrize("setup, retrieval, message", [
    ("1900-03-01", "2024-03-06", "line 2: station 'ST01' runs from 1900-03-01 to 2024-03-06, more than 5 years; fix the mistyped"),
    ("2024-03-01", "2999-03-06", "line 2: station 'ST01' runs from 2024-03-01 to 2999-03-06, more than 5 years"),
    ("2024-03-06", "2024-03-01", "line 2: station 'ST01' is retrieved (2024-03-01) before it is set up (2024-03-06); fix one"),
])
def test_absurd_dates_are_refused_naming_the_row(setup, retrieval, message):
    with pytest.raises(StationTableError) as caught:
        parse_station_table(f"{HEADER}\nST01,1,2,{setup},{retrieval}\n", source="stations.csv")
    assert message in str(caught.value)


def test_five_years_is_the_longest_deployment():
    assert parse_station_table(f"{HEADER}\nST01,1,2,2020-02-29,2025-02-28\n")[0].retrieval == date(2025, 2, 28)
    with pytest.raises(StationTableError, match="more than 5 years"):
        parse_station_table(f"{HEADER}\nST01,1,2,2020-02-29,2025-03-01\n")
    assert years_after(date(9998, 1, 1), 5) == date.max


# ---------------------------------------------------------------- properties of the parser

_names = st.one_of(
    st.sampled_from(["+ST1", '=HYPERLINK("http://x","y")', "-5", "@cam", "a,b", 'q"uote', "ST 01", "ST;02"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).map(str.strip).filter(
        lambda name: name and not name.startswith("'")),  # a leading ' before = + - @ is read as the spreadsheet guard
)
_metres = st.integers(-10**10, 10**10).map(lambda n: n / 1000)


@st.composite
def _stations(draw, name: str) -> StationInfo:
    setup = draw(st.dates(date(1995, 1, 1), date(2035, 12, 31)))
    days = draw(st.integers(0, 5 * 365))
    cuts = sorted(draw(st.sets(st.integers(0, days), max_size=6)))
    outages = tuple((setup + timedelta(a), setup + timedelta(b)) for a, b in zip(cuts[::2], cuts[1::2], strict=False))
    lat_lon = draw(st.none() | st.tuples(st.integers(-90 * 10**6, 90 * 10**6), st.integers(-180 * 10**6, 180 * 10**6)))
    lat, lon = (None, None) if lat_lon is None else (lat_lon[0] / 10**6, lat_lon[1] / 10**6)
    crs = draw(st.none() | st.from_regex(r"EPSG:[0-9]{4,5}", fullmatch=True))
    return StationInfo(name, draw(_metres), draw(_metres), setup, setup + timedelta(days), crs, lat, lon, outages)


_tables = st.lists(_names, min_size=1, max_size=6, unique=True).flatmap(lambda names: st.tuples(*(_stations(n) for n in names)))


@given(_tables)
@settings(max_examples=150, deadline=None)
def test_any_valid_table_reads_back_as_written(stations):
    """Names with commas, quotes, formulas (=, +, -, @) or any script; outages; with or without lat/lon."""
    assert parse_station_table(station_table_text(stations)) == sorted(stations, key=lambda s: s.name)


@pytest.fixture(scope="module")
def empty_project(tmp_path_factory):
    with open_project(tmp_path_factory.mktemp("stations") / "project", create=True) as project:
        yield project


@given(_tables)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_valid_table_imports_into_a_project_as_written(empty_project, stations):
    with empty_project.sessions() as session:
        save_stations(session, parse_station_table(station_table_text(stations)), add_new=True)
        assert load_stations(session) == sorted(stations, key=lambda s: s.name)
        session.rollback()


_cells = st.one_of(st.text(max_size=12), st.sampled_from(["", "2024-03-01", "1900-01-01", "2999-12-31", "nan", "inf", "-1e400",
                                                          "1e400", "0", '"', "'=x", "2024-02-30", "..", ";"]))
_rows = st.lists(st.lists(_cells, min_size=0, max_size=12).map(",".join), max_size=5).map("\n".join)
_headers = st.sampled_from([HEADER, f"{HEADER},crs,lat,lon", f"{HEADER},problem1_from,problem1_to", f"{HEADER},problem2_to",
                            "station;x;y;setup;retrieval", "station\tx\ty\tsetup\tretrieval"])


@given(st.one_of(st.tuples(_headers, _rows).map("\n".join), st.text(max_size=200)))
@settings(max_examples=300, deadline=None)
def test_garbage_gets_a_station_table_error_and_nothing_else(text):
    try:
        stations = parse_station_table(text, source="stations.csv")
    except StationTableError as exc:
        assert str(exc).startswith("stations.csv")
    else:
        assert stations and all(s.has_dates and s.retrieval >= s.setup for s in stations)
