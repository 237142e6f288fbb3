"""Export options from ``export-settings.json`` (each key checked for its kind) and the limits that keep mistyped
station dates from becoming hundreds of thousands of occasion columns."""

from __future__ import annotations

import json
from datetime import date

import pytest

from pelage.export import ExportError, ExportOptions, export_project, load_export_settings
from pelage.export.occasions import MAX_OCCASIONS, plan_occasions
from pelage.export.stations import StationInfo
from pelage.store import open_project, transaction
from pelage.store.schema import Station
from tests.test_cli import pelage
from tests.test_export_formats import build_export_project


def _settings(tmp_path, value) -> dict:
    (tmp_path / "export-settings.json").write_text(json.dumps(value))
    return load_export_settings(tmp_path)


def test_settings_are_read_into_option_values(tmp_path):
    assert load_export_settings(tmp_path) == {}
    values = _settings(tmp_path, {"species": "Panthera pardus", "flanks": "separate", "occasion_days": 2, "start": "2024-03-02",
                                  "independence_minutes": 30.5, "session_per_survey": True, "utc_offset": "+3",
                                  "contributor": "Field Team", "sampling_design": "systematicRandom", "max_span_years": 10,
                                  "colour": "spotted", "species_note": None, "occasion_days_note": 1})
    assert values == {"species": "Panthera pardus", "flanks": "separate", "occasion_days": 2, "start": date(2024, 3, 2),
                      "independence_minutes": 30.5, "session_per_survey": True, "utc_offset": "+03:00", "contributor": "Field Team",
                      "sampling_design": "systematicRandom", "max_span_years": 10}  # unknown keys are left alone
    assert ExportOptions(**values).start == date(2024, 3, 2)
    assert _settings(tmp_path, {"species": None}) == {}  # null: not set


@pytest.mark.parametrize("value, message", [
    ({"occasion_days": "two"}, '"occasion_days" must be a whole number of days, 1 or more (e.g. 2), not "two"; fix that value'),
    ({"occasion_days": 0}, '"occasion_days" must be a whole number of days, 1 or more (e.g. 2), not 0'),
    ({"occasion_days": 1.5}, '"occasion_days" must be a whole number of days'),
    ({"occasion_days": True}, '"occasion_days" must be a whole number of days'),
    ({"species": 5}, '"species" must be a text such as "Panthera pardus", not 5; fix that value or delete the key'),
    ({"species": ["Panthera", "pardus"]}, '"species" must be a text such as "Panthera pardus", not ["Panthera", "pardus"]'),
    ({"flanks": "both"}, "\"flanks\" must be one of 'linked', 'separate', 'left', 'right', not \"both\""),
    ({"start": "01/03/2024"}, '"start" must be a date written as "YYYY-MM-DD", not "01/03/2024"'),
    ({"start": 20240301}, '"start" must be a date written as "YYYY-MM-DD", not 20240301'),
    ({"independence_minutes": -1}, '"independence_minutes" must be a number of minutes, 0 or more (e.g. 30), not -1'),
    ({"session_per_survey": "yes"}, '"session_per_survey" must be true or false, not "yes"'),
    ({"utc_offset": "Africa/Johannesburg"}, '"utc_offset" must be an offset such as "+03:00", not "Africa/Johannesburg"'),
    ({"sampling_design": "random"}, '"sampling_design" must be one of'),
    ({"contributor": "x" * 100, "species": {"a": 1}}, '"species" must be a text such as "Panthera pardus", not {"a": 1}'),
    ({"species": "y" * 50, "contributor": 1}, '"contributor" must be a text such as "Field Team", not 1'),
    (["species", "Panthera pardus"], 'must hold one JSON object such as {"species": "Panthera pardus"}, not a list; fix or delete it'),
    ("Panthera pardus", "must hold one JSON object such as"),
    (None, "not null; fix or delete it"),
])
def test_a_wrong_kind_of_value_names_the_file_the_key_and_the_fix(tmp_path, value, message):
    with pytest.raises(ExportError) as caught:
        _settings(tmp_path, value)
    assert str(caught.value).startswith(str(tmp_path / "export-settings.json")) and message in str(caught.value)


def test_a_long_wrong_value_is_shortened(tmp_path):
    with pytest.raises(ExportError, match=r'not \["a", "a", "a", .*\.\.\.; fix'):
        _settings(tmp_path, {"species": ["a"] * 100})


# ---------------------------------------------------------------- occasions


def _station(name: str, setup: date, retrieval: date) -> StationInfo:
    return StationInfo(name, 0.0, 0.0, setup, retrieval)


def test_a_span_over_the_limit_is_refused_naming_the_stations():
    stations = [_station("ST01", date(1900, 3, 1), date(1900, 3, 6)), _station("ST02", date(2024, 3, 1), date(2024, 3, 6))]
    with pytest.raises(ExportError, match=r"more than 5 years \(station ST01 is set up on 1900-03-01, station ST02 retrieved on "
                                          r"2024-03-06\); fix the mistyped dates in the station table, or pass --max-span-years"):
        plan_occasions(stations)
    with pytest.raises(ExportError, match=r"\(--start 2019-03-05, station ST02"):
        plan_occasions(stations[1:], start=date(2019, 3, 5))
    assert plan_occasions(stations[1:], start=date(2019, 3, 6)).count == 5 * 365 + 2 + 1  # five years to the day (two leap days)


def test_a_long_survey_passes_with_a_longer_limit_and_long_enough_occasions():
    stations = [_station("ST01", date(2015, 1, 1), date(2019, 12, 31)), _station("ST02", date(2020, 1, 1), date(2024, 12, 31))]
    with pytest.raises(ExportError, match="more than 5 years"):
        plan_occasions(stations, occasion_days=30)
    assert plan_occasions(stations, occasion_days=30, max_span_years=10).count == 122
    with pytest.raises(ExportError, match=rf"2015-01-01..2024-12-31 makes 3653 occasions of 1 day\(s\), more than {MAX_OCCASIONS}; "
                                          "pass a larger --occasion-days"):
        plan_occasions(stations, max_span_years=10)


def test_export_refuses_absurd_dates_and_writes_nothing(tmp_path):
    root = build_export_project(tmp_path / "project")
    with open_project(root) as project:
        with transaction(project.sessions) as session:
            session.query(Station).filter_by(name="ST02").update({"retrieval_date": date(2999, 3, 6)})
        for format_name in ("occasions", "secr", "camtrapr", "mark"):
            with pytest.raises(ExportError, match="station ST02 retrieved on 2999-03-06"):
                export_project(project, format_name, tmp_path / format_name, ExportOptions())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_max_span_years_from_the_command_line_and_the_settings(tmp_path):
    root = build_export_project(tmp_path / "project")
    with open_project(root) as project, transaction(project.sessions) as session:
        session.query(Station).filter_by(name="ST01").update({"setup_date": date(2017, 3, 1)})
    refused = pelage("export", str(root), "--format", "mark", "--out", str(tmp_path / "a"), "--occasion-days", "30", check=False)
    assert refused.returncode == 2 and "--max-span-years" in refused.stderr
    pelage("export", str(root), "--format", "mark", "--out", str(tmp_path / "a"), "--occasion-days", "30", "--max-span-years", "8")
    (root / "export-settings.json").write_text('{"max_span_years": 8, "occasion_days": 30}')
    pelage("export", str(root), "--format", "mark", "--out", str(tmp_path / "b"))
    assert (tmp_path / "a" / "captures.inp").read_bytes() == (tmp_path / "b" / "captures.inp").read_bytes()
