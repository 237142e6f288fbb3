"""View and edit the station table: coordinates, setup and retrieval dates, and the days a camera did not work.

A thin view over :mod:`pelage.export.stations`: the table's text is parsed and validated by the same code as
``pelage stations --import``, and saving is one transaction, so a bad cell is reported and nothing is half-saved.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pelage.export.stations import (
    StationInfo,
    StationTableError,
    format_number,
    load_stations,
    parse_date,
    parse_float,
    parse_outages,
    read_station_table,
    save_stations,
    station_table_text,
    validate_station,
)
from pelage.store import Project, transaction

COLUMNS = ("Station", "X (m)", "Y (m)", "CRS", "Lat", "Lon", "Setup", "Retrieval", "Not working (from..to; …)", "Working days")
NAME, X, Y, CRS, LAT, LON, SETUP, RETRIEVAL, OUTAGES, DAYS = range(len(COLUMNS))


def _text(value) -> str:
    if value is None:
        return ""
    return format_number(value) if isinstance(value, float) else str(value)


class StationsDialog(QDialog):
    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setWindowTitle("Stations")
        self.resize(1000, 420)
        self._known: set[str] = set()

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(OUTAGES, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.add_new = QCheckBox("Also add stations that took no photos (names not found in the imported images)", self)

        self.import_button = QPushButton("Import CSV…", self)
        self.write_button = QPushButton("Write CSV…", self)
        self.add_button = QPushButton("Add station", self)
        self.save_button = QPushButton("Save", self)
        self.close_button = QPushButton("Close", self)
        self.import_button.clicked.connect(self._choose_import)
        self.write_button.clicked.connect(self._choose_write)
        self.add_button.clicked.connect(self.add_row)
        self.save_button.clicked.connect(self.save)
        self.close_button.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        for button in (self.import_button, self.write_button, self.add_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Coordinates in projected metres (e.g. UTM); lat/lon in WGS84 degrees for Camtrap DP; dates as "
                                "YYYY-MM-DD. Outages: 2024-03-05..2024-03-07; 2024-03-20", self))
        layout.addWidget(self.table)
        layout.addWidget(self.add_new)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.load()

    # ------------------------------------------------------------ table <-> records

    def load(self) -> None:
        with self.project.sessions() as session:
            stations = load_stations(session)
        self._known = {s.name for s in stations}
        self.show_stations(stations)
        lacking = [s.name for s in stations if not s.has_dates]
        self.status.setText(f"Without dates (capture histories need them): {', '.join(lacking)}" if lacking else "")

    def show_stations(self, stations: list[StationInfo]) -> None:
        self.table.setRowCount(0)
        for station in stations:
            self._append(station)

    def _append(self, station: StationInfo) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        values = (station.name, station.x, station.y, station.crs, station.lat, station.lon, station.setup, station.retrieval,
                  station.problems(), len(station.operational_days()) if station.has_dates else "")
        for column, value in enumerate(values):
            item = QTableWidgetItem(_text(value))
            if column == DAYS or (column == NAME and station.name in self._known):
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)  # names are the import's keys
            self.table.setItem(row, column, item)

    def add_row(self) -> None:
        self._append(StationInfo(""))
        self.table.setCurrentCell(self.table.rowCount() - 1, NAME)

    def cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text().strip() if item else ""

    def set_cell(self, row: int, column: int, text: str) -> None:
        self.table.item(row, column).setText(text)

    def stations(self) -> list[StationInfo]:
        """The table as validated records; raises StationTableError naming the row."""
        out = []
        for row in range(self.table.rowCount()):
            where = f"row {row + 1} ({self.cell(row, NAME) or 'no name'})"
            setup, retrieval = self.cell(row, SETUP), self.cell(row, RETRIEVAL)
            info = StationInfo(
                name=self.cell(row, NAME),
                x=parse_float(self.cell(row, X), "x", where, required=False),
                y=parse_float(self.cell(row, Y), "y", where, required=False),
                crs=self.cell(row, CRS) or None,
                lat=parse_float(self.cell(row, LAT), "lat", where, required=False),
                lon=parse_float(self.cell(row, LON), "lon", where, required=False),
                setup=parse_date(setup, "setup", where) if setup else None,
                retrieval=parse_date(retrieval, "retrieval", where) if retrieval else None,
                outages=parse_outages(self.cell(row, OUTAGES), where),
            )
            out.append(validate_station(info, where))
        return out

    # ------------------------------------------------------------ actions

    def import_csv(self, path: Path) -> bool:
        """Put a station table's rows into the dialog (replacing those stations' rows); saved only by Save."""
        try:
            imported = read_station_table(path)
            current = {s.name: s for s in self.stations()}
        except StationTableError as exc:
            self.status.setText(f"Not imported: {exc}")
            return False
        current.update({s.name: s for s in imported})
        self.show_stations(sorted(current.values(), key=lambda s: s.name))
        unknown = sorted(s.name for s in imported if s.name not in self._known)
        note = f" Not in the imported images: {', '.join(unknown)} (tick the box to add them)." if unknown else ""
        self.status.setText(f"Read {len(imported)} stations from {Path(path).name}; press Save to keep them.{note}")
        return True

    def save(self) -> bool:
        try:
            stations = self.stations()
            with transaction(self.project.sessions) as session:
                result = save_stations(session, stations, add_new=self.add_new.isChecked())
        except StationTableError as exc:
            self.status.setText(f"Not saved: {exc}")
            return False
        self.load()
        self.status.setText(f"Saved {len(result.updated) + len(result.added)} stations."
                            + (f" Still without dates: {', '.join(result.without_metadata)}" if result.without_metadata else ""))
        return True

    def write_csv(self, path: Path) -> None:
        Path(path).write_bytes(station_table_text(self.stations()).encode("utf-8"))

    def _choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import station table", "", "CSV files (*.csv *.txt);;All files (*)")
        if path:
            self.import_csv(Path(path))

    def _choose_write(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Write station table", "stations.csv", "CSV files (*.csv)")
        if path:
            try:
                self.write_csv(Path(path))
            except StationTableError as exc:
                self.status.setText(f"Not written: {exc}")
