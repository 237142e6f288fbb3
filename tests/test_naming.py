from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pelage.ingest.naming import compile_user_pattern, parse_path


@pytest.mark.parametrize(
    ("path", "station", "camera", "time"),
    [
        ("right_Cat1/02__Station13__Camera1__2012-7-18__6-47-40(4).JPG", "Station13", "Camera1", datetime(2012, 7, 18, 6, 47, 40)),
        ("01__Station05__Camera2__2012-6-14__5-38-10(4).JPG", "Station05", "Camera2", datetime(2012, 6, 14, 5, 38, 10)),
        ("ST01/CAM-A/IMG_0001.JPG", "ST01", "CAM-A", None),
        ("ST01/CAM-A/DCIM/100RECNX/IMG_0001.JPG", "ST01", "CAM-A", None),
        ("Station 7/IMG_20210503_142201.jpg", "Station 7", None, datetime(2021, 5, 3, 14, 22, 1)),
        ("IMG_0001.JPG", None, None, None),
        ("ST02/C1/2021-05-03 14-22-01.jpg", "ST02", "C1", datetime(2021, 5, 3, 14, 22, 1)),
        ("ST02/C1/2021-13-45 14-22-01.jpg", "ST02", "C1", None),  # not a date: no time rather than a wrong one
    ],
)
def test_parse_path(path, station, camera, time):
    facts = parse_path(path)
    assert (facts.station, facts.camera, facts.time) == (station, camera, time)


def test_file_name_tokens_win_over_folders():
    facts = parse_path("left_diff_cats/02__Station19__Camera2__2012-6-21__1-34-46(7).JPG")
    assert facts.station == "Station19" and facts.camera == "Camera2"


def test_user_pattern_overrides_defaults():
    pattern = compile_user_pattern(r"(?P<station>[A-Z]\d{2})-(?P<camera>[ab])_(?P<year>\d{4})(?P<month>\d\d)(?P<day>\d\d)")
    facts = parse_path("season/K03-b_20230102.jpg", pattern)
    assert (facts.station, facts.camera, facts.time) == ("K03", "b", None)  # no hour group: no time
    assert parse_path("ST01/CAM-A/x.jpg", pattern).station == "ST01"  # no match: defaults apply


@pytest.mark.parametrize("bad", [r"(?P<station>", r"(?P<site>\w+)"])
def test_bad_user_pattern_is_explained(bad):
    with pytest.raises(ValueError, match="pattern"):
        compile_user_pattern(bad)


@given(
    station=st.integers(1, 99), camera=st.integers(1, 9),
    when=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2089, 12, 31)).map(lambda d: d.replace(microsecond=0)),
    burst=st.integers(0, 9),
)
def test_hotspotter_names_round_trip(station, camera, when, burst):
    name = (f"02__Station{station:02d}__Camera{camera}__{when.year}-{when.month}-{when.day}__"
            f"{when.hour}-{when.minute}-{when.second}({burst}).JPG")
    facts = parse_path(f"folder/{name}")
    assert facts.station == f"Station{station:02d}"
    assert facts.camera == f"Camera{camera}"
    assert facts.time == when
