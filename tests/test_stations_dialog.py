"""The station dialog, offscreen: shows the project's stations, imports a CSV, edits an outage, saves, and
reports a bad cell without saving anything."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

from datetime import date  # noqa: E402

from pelage.export.stations import load_stations  # noqa: E402
from pelage.store import open_project  # noqa: E402
from pelage.ui.stations_dialog import DAYS, NAME, OUTAGES, SETUP, StationsDialog  # noqa: E402
from tests.test_export_formats import FIXTURES, build_export_project  # noqa: E402


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
