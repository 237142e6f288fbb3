"""The station dialog, offscreen: shows the project's stations, imports a CSV, edits an outage, saves, and
reports a bad cell without saving anything; takes a block pasted from a spreadsheet and Ctrl+D fill-down, marks a
bad cell red with the reason, opens wide enough for every column, and maps the stations with their photo counts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

from datetime import date  # noqa: E402

from pelage.export.stations import load_stations  # noqa: E402
from pelage.store import open_project  # noqa: E402
from pelage.ui.stations_dialog import DAYS, NAME, OUTAGES, SETUP, StationsDialog  # noqa: E402
from tests.test_export_formats import FIXTURES, build_export_project  # noqa: E402
from tests.ui_helpers import activate  # noqa: E402


def test_import_edit_and_save(qtbot, tmp_path):
    root = build_export_project(tmp_path / "leopard-project", station_table=False)
    with open_project(root) as project:
        dialog = StationsDialog(project)
        qtbot.addWidget(dialog)
        assert [dialog.cell(r, NAME) for r in range(dialog.table.rowCount())] == ["ST01", "ST02"]
        assert "ST01, ST02" in dialog.status.text()  # neither has dates yet

        assert dialog.import_csv(FIXTURES / "stations.csv")
        assert "ST_03" in dialog.status.text()
        assert not dialog.save()  # ST_03 took no photo: refused until the box is ticked
        assert "ST_03" in dialog.status.text() and "add-new" in dialog.status.text()
        dialog.add_new.setChecked(True)

        dialog.set_cell(0, OUTAGES, "2024-03-02; 2024-03-04..2024-03-05")
        assert dialog.save()
        assert dialog.cell(0, DAYS) == "3"  # 6 days less 3 not working
        with project.sessions() as session:
            st01 = load_stations(session)[0]
        assert st01.outages == ((date(2024, 3, 2), date(2024, 3, 2)), (date(2024, 3, 4), date(2024, 3, 5)))

        dialog.set_cell(1, SETUP, "2024-13-01")
        assert not dialog.save()
        assert "row 2 (ST02): setup '2024-13-01' is not a date" in dialog.status.text()
        with project.sessions() as session:
            assert load_stations(session)[1].setup == date(2024, 3, 1)  # the saved value stands

        dialog.set_cell(1, SETUP, "2024-03-01")  # the bad cell stays for the user to fix
        dialog.write_csv(tmp_path / "out.csv")
        assert (tmp_path / "out.csv").read_text().splitlines()[1].startswith("ST01,500000,8000000,2024-03-01,2024-03-06")
        dialog.close()


def spreadsheet_dialog(qtbot, tmp_path, station_table: bool = False) -> tuple[StationsDialog, object]:
    root = build_export_project(tmp_path / "leopard-project", station_table=station_table)
    project = open_project(root)
    dialog = StationsDialog(project)
    qtbot.addWidget(dialog)
    activate(dialog, qtbot)  # shortcuts (Ctrl+V, Ctrl+D) reach only the active window
    return dialog, project


def test_paste_a_block_from_a_spreadsheet_matched_by_station_name(qtbot, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from pelage.ui.stations_dialog import X, Y

    dialog, project = spreadsheet_dialog(qtbot, tmp_path)
    # The field team's sheet: a header, stations in another order than the table, a station with no photos yet.
    QApplication.clipboard().setText("Station\tX\tY\n"
                                     "ST02\t501500\t8000250\n"
                                     "ST01\t500000\t8000000\n"
                                     "ST05\t502000\t8001500\r\n")
    dialog.table.setFocus()
    dialog.table.setCurrentCell(0, NAME)
    qtbot.keyClick(dialog.table, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert [dialog.cell(r, NAME) for r in range(dialog.table.rowCount())] == ["ST01", "ST02", "ST05"]
    assert [(dialog.cell(r, X), dialog.cell(r, Y)) for r in range(3)] == [("500000", "8000000"), ("501500", "8000250"),
                                                                          ("502000", "8001500")]
    assert dialog.status.text().startswith("Pasted 3 rows")

    dialog.table.setCurrentCell(0, SETUP)  # a block of dates, positionally from the current cell
    dialog.paste("2024-03-01\t2024-03-06\n2024-03-01\t2024-03-06\n")
    assert [dialog.cell(r, SETUP) for r in range(3)] == ["2024-03-01", "2024-03-01", ""]
    assert dialog.bad_cells() == {}
    dialog.add_new.setChecked(True)
    dialog.table.setCurrentCell(2, SETUP)
    dialog.paste("2024-03-02\t2024-03-05")
    assert dialog.save()
    with project.sessions() as session:
        saved = {s.name: s for s in load_stations(session)}
    assert (saved["ST02"].x, saved["ST02"].y) == (501500.0, 8000250.0) and saved["ST05"].setup == date(2024, 3, 2)
    project.close()


def test_ctrl_d_fills_down_like_a_spreadsheet(qtbot, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QTableWidgetSelectionRange

    from pelage.ui.stations_dialog import CRS, RETRIEVAL

    dialog, project = spreadsheet_dialog(qtbot, tmp_path)
    dialog.add_row()
    dialog.set_cell(2, NAME, "ST09")
    dialog.set_cell(0, SETUP, "2024-03-01")
    dialog.set_cell(0, RETRIEVAL, "2024-03-06")
    dialog.set_cell(0, CRS, "EPSG:32736")
    dialog.table.setFocus()
    dialog.table.clearSelection()
    dialog.table.setRangeSelected(QTableWidgetSelectionRange(0, SETUP, 2, RETRIEVAL), True)  # several rows: the top row is copied
    qtbot.keyClick(dialog.table, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert [(dialog.cell(r, SETUP), dialog.cell(r, RETRIEVAL)) for r in range(3)] == [("2024-03-01", "2024-03-06")] * 3
    dialog.table.clearSelection()
    dialog.table.setRangeSelected(QTableWidgetSelectionRange(1, CRS, 1, CRS), True)  # one row: the cell above is copied
    qtbot.keyClick(dialog.table, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert [dialog.cell(r, CRS) for r in range(3)] == ["EPSG:32736", "EPSG:32736", ""]
    assert dialog.cell(1, NAME) == "ST02"  # names of stations with photos are never overwritten
    project.close()


def test_a_bad_cell_turns_red_with_the_reason(qtbot, tmp_path):
    from pelage.ui.stations_dialog import BAD_CELL, LAT, LON, RETRIEVAL, X

    dialog, project = spreadsheet_dialog(qtbot, tmp_path, station_table=True)
    assert dialog.bad_cells() == {}
    dialog.set_cell(0, X, "500 000 m")  # typing a bad value marks the cell at once
    assert dialog.bad_cells() == {(0, X): "row 1 (ST01): x '500 000 m' is not a number"}
    assert dialog.table.item(0, X).background().color() == BAD_CELL
    dialog.set_cell(0, X, "500000")  # fixed: plain again
    assert dialog.bad_cells() == {} and dialog.table.item(0, X).background().style().name == "NoBrush"

    dialog.set_cell(1, RETRIEVAL, "2024-02-01")  # before its setup: the row-level check names the retrieval cell
    assert list(dialog.bad_cells()) == [(1, RETRIEVAL)] and "before it is set up" in dialog.bad_cells()[(1, RETRIEVAL)]
    dialog.set_cell(1, RETRIEVAL, "2024-03-06")
    dialog.set_cell(0, LON, "")  # lat without lon
    assert list(dialog.bad_cells()) == [(0, LON)]
    dialog.set_cell(0, LAT, "-124.1")
    assert not dialog.save()  # save refuses, points at the bad cell and says why
    assert dialog.table.currentRow() == 0 and dialog.table.currentColumn() in (LAT, LON)
    assert "outside ±90" in dialog.status.text() and "outside ±90" in dialog.table.item(0, LAT).toolTip()
    project.close()


def test_it_opens_wide_enough_and_maps_the_stations_with_their_photos(qtbot, tmp_path):
    from pelage.ui.stations_dialog import X

    dialog, project = spreadsheet_dialog(qtbot, tmp_path, station_table=True)
    screen = dialog.screen().availableGeometry().width()
    assert dialog.width() >= min(dialog.wanted_width(), int(screen * 0.95))  # as wide as the columns need, within the screen
    dialog.resize(dialog.wanted_width(), dialog.height())  # (the offscreen test screen is only 800 pixels wide)
    qtbot.waitUntil(lambda: dialog.table.viewport().width() > 0)
    qtbot.wait(20)
    assert dialog.table.horizontalScrollBar().maximum() == 0  # at that width every column shows without scrolling sideways
    for column in range(dialog.table.columnCount()):
        assert dialog.table.columnWidth(column) >= dialog.table.horizontalHeader().sectionSizeHint(column)
    points = {p.name: (p.x, p.y, p.photos) for p in dialog.map.points}
    assert points == {"ST01": (500000.0, 8000000.0, 8), "ST02": (501500.5, 8000250.0, 4), "ST_03": (503000.0, 8001000.0, 0)}
    positions = dialog.map.positions()
    assert positions["ST01"].x() < positions["ST02"].x() < positions["ST_03"].x()  # east to the right
    assert positions["ST_03"].y() < positions["ST01"].y()  # north up
    image = dialog.map.grab().toImage()
    centre = positions["ST01"].toPoint()
    assert image.pixelColor(centre).name() == "#e67e22"  # ST01 took photos: an orange dot
    assert image.pixelColor(positions["ST_03"].toPoint()).name() == "#bdc3c7"  # ST_03 took none: grey

    dialog.set_cell(0, X, "")  # coordinates gone: the station leaves the map and is named underneath
    assert "ST01" not in {p.name for p in dialog.map.points} and dialog.map.missing == ["ST01"]
    project.close()
