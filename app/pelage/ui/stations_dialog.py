"""View and edit the station table: coordinates, setup and retrieval dates, and the days a camera did not work.

A thin view over :mod:`pelage.export.stations`: the table's text is parsed and validated by the same code as
``pelage stations --import``, and saving is one transaction, so a bad cell is reported and nothing is half-saved.
It works like the spreadsheet the field team keeps: a block copied from one pastes here (Ctrl+V, rows matched by
station name when the block starts with the names), Ctrl+D fills down, a bad cell turns red with the reason in its
tooltip, and a small map shows where the stations are and how many photos each took.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
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
from pelage.store.queries import photos_per_station
from pelage.ui.stations_map import MapPoint, StationMap

COLUMNS = ("Station", "X (m)", "Y (m)", "CRS", "Lat", "Lon", "Setup", "Retrieval", "Not working (from..to; …)", "Working days")
NAME, X, Y, CRS, LAT, LON, SETUP, RETRIEVAL, OUTAGES, DAYS = range(len(COLUMNS))
BAD_CELL = QColor("#f5b7b1")  # a pale red that dark text stays readable on
HEADER_WORDS = {"station", "name", "station name", "stationid", "station_id"}


def parse_block(text: str) -> list[list[str]]:
    """A block copied from a spreadsheet (tab between cells, a line per row) as rows of cells; a trailing newline adds
    no row, and a header row (its first cell "station" or "name") is dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    rows = [[cell.strip() for cell in line.split("\t")] for line in lines]
    if rows and rows[0] and rows[0][0].strip().lower() in HEADER_WORDS:
        rows = rows[1:]
    return rows


def problem_column(message: str, row: dict[int, str]) -> int:
    """The column a row-level complaint of :func:`validate_station` is about (its messages name the field)."""
    if "name is empty" in message:
        return NAME
    if "setup and a retrieval" in message:
        return SETUP if not row[SETUP] else RETRIEVAL
    if "both lat and lon" in message:
        return LAT if not row[LAT] else LON
    if "outage" in message:
        return OUTAGES
    if ": lat " in message:
        return LAT
    if ": lon " in message:
        return LON
    if "retrieved" in message or "years" in message:
        return RETRIEVAL
    return NAME


def _text(value) -> str:
    if value is None:
        return ""
    return format_number(value) if isinstance(value, float) else str(value)


class StationsDialog(QDialog):
    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setWindowTitle("Stations")
        self.resize(1000, 600)
        self._known: set[str] = set()
        self.photos: dict[str, int] = {}  # imported photos per station, for the map

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.itemChanged.connect(self._cell_changed)
        for keys, slot, tip in ((QKeySequence.StandardKey.Paste, self.paste, "Paste a block copied from a spreadsheet"),
                                (QKeySequence.StandardKey.Copy, self.copy, "Copy the selected cells (tab-separated)"),
                                (QKeySequence("Ctrl+D"), self.fill_down, "Copy the cell above into the selected cells")):
            action = QAction(tip, self.table)
            action.setShortcut(keys)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _checked=False, slot=slot: slot())  # not the action's checked flag
            self.table.addAction(action)
        self.map = StationMap(self)
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
        hint = QLabel("Coordinates in projected metres (e.g. UTM); lat/lon in WGS84 degrees for Camtrap DP; dates as "
                      "YYYY-MM-DD. Outages: 2024-03-05..2024-03-07; 2024-03-20. Paste from a spreadsheet with "
                      "Ctrl+V (start in the Station column to match rows by name); Ctrl+D fills down.", self)
        hint.setWordWrap(True)  # the table, not this line, sets the dialog's width
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        lower = QHBoxLayout()
        lower.addWidget(self.map, 1)
        side = QVBoxLayout()
        side.addWidget(self.add_new)
        side.addWidget(self.status)
        side.addStretch(1)
        lower.addLayout(side, 1)
        layout.addLayout(lower)
        layout.addLayout(buttons)
        self.load()
        self.fit_width()

    # ------------------------------------------------------------ table <-> records

    def load(self) -> None:
        with self.project.sessions() as session:
            stations = load_stations(session)
            self.photos = photos_per_station(session)
        self._known = {s.name for s in stations}
        self.show_stations(stations)
        lacking = [s.name for s in stations if not s.has_dates]
        self.status.setText(f"Without dates (capture histories need them): {', '.join(lacking)}" if lacking else "")

    def show_stations(self, stations: list[StationInfo]) -> None:
        self.table.blockSignals(True)  # filled from valid records: nothing to check cell by cell
        try:
            self.table.setRowCount(0)
            for station in stations:
                self._append(station)
        finally:
            self.table.blockSignals(False)
        self.update_map()

    def wanted_width(self) -> int:
        """The dialog width at which every column shows whole, without scrolling sideways."""
        header = self.table.horizontalHeader()
        widths = [max(header.sectionSizeHint(c), self.table.sizeHintForColumn(c)) + 12 for c in range(len(COLUMNS))]
        widths[OUTAGES] = max(widths[OUTAGES], 170)  # room to type a few day ranges
        for column, width in enumerate(widths[:-1]):  # the last one stretches to the dialog's edge
            self.table.setColumnWidth(column, width)
        chrome = self.table.frameWidth() * 2 + self.table.verticalScrollBar().sizeHint().width()
        margins = self.layout().contentsMargins()
        return sum(widths) + chrome + margins.left() + margins.right() + 4

    def fit_width(self) -> None:
        """Open wide enough for every column (within the screen)."""
        width = self.wanted_width()
        screen = self.screen().availableGeometry().width() if self.screen() else width
        self.resize(min(width, int(screen * 0.95)), self.height())

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
        self.table.blockSignals(True)
        self._append(StationInfo(""))
        self.table.blockSignals(False)
        self.table.setCurrentCell(self.table.rowCount() - 1, NAME)

    def editable(self, row: int, column: int) -> bool:
        item = self.table.item(row, column)
        return item is not None and bool(item.flags() & Qt.ItemFlag.ItemIsEditable)

    # ------------------------------------------------------------ spreadsheet habits

    def paste(self, text: str | None = None) -> None:
        """Paste a tab-separated block at the current cell. A block that starts in the Station column goes to the rows of
        those stations (new names become new rows), so a spreadsheet sorted differently still lands on the right rows."""
        block = parse_block(QApplication.clipboard().text() if text is None else text)
        if not block:
            self.status.setText("Nothing to paste: copy cells from a spreadsheet first.")
            return
        start_row, start_column = max(self.table.currentRow(), 0), max(self.table.currentColumn(), 0)
        by_name = start_column == NAME
        rows_of = {self.cell(r, NAME): r for r in range(self.table.rowCount())}
        touched, skipped = set(), 0
        self.table.blockSignals(True)
        try:
            for offset, values in enumerate(block):
                if by_name:
                    name = values[0]
                    if not name:
                        skipped += len(values)
                        continue
                    row = rows_of.get(name)
                    if row is None:
                        self._append(StationInfo(name))
                        row = rows_of[name] = self.table.rowCount() - 1
                    values, first_column = values[1:], NAME + 1
                else:
                    row, first_column = start_row + offset, start_column
                    while row >= self.table.rowCount():
                        self._append(StationInfo(""))
                for column, value in enumerate(values, first_column):
                    if column >= DAYS or not self.editable(row, column):
                        skipped += 1
                        continue
                    self.set_cell(row, column, value)
                touched.add(row)
        finally:
            self.table.blockSignals(False)
        for row in touched:
            self.mark_row(row)
        self.update_map()
        note = f" {skipped} cells were left as they were (names of stations with photos, working days)." if skipped else ""
        self.status.setText(f"Pasted {len(block)} rows into the table; press Save to keep them.{note}")

    def copy(self) -> None:
        """The selected cells as a tab-separated block (the rectangle around them), for a spreadsheet."""
        ranges = self.table.selectedRanges()
        if not ranges:
            return
        top, bottom = min(r.topRow() for r in ranges), max(r.bottomRow() for r in ranges)
        left, right = min(r.leftColumn() for r in ranges), max(r.rightColumn() for r in ranges)
        QApplication.clipboard().setText("\n".join("\t".join(self.cell(row, column) for column in range(left, right + 1))
                                                   for row in range(top, bottom + 1)))

    def fill_down(self) -> None:
        """Ctrl+D as in a spreadsheet: a selection of several rows takes its top row's values; a one-row selection
        takes the row above."""
        changed = set()
        self.table.blockSignals(True)
        try:
            for selection in self.table.selectedRanges():
                top, bottom = selection.topRow(), selection.bottomRow()
                source = top - 1 if top == bottom else top
                if source < 0:
                    continue
                for column in range(selection.leftColumn(), selection.rightColumn() + 1):
                    for row in range(source + 1, bottom + 1):
                        if self.editable(row, column):
                            self.set_cell(row, column, self.cell(source, column))
                            changed.add(row)
        finally:
            self.table.blockSignals(False)
        for row in changed:
            self.mark_row(row)
        self.update_map()

    # ------------------------------------------------------------ checking cells

    def _row_values(self, row: int) -> dict[int, str]:
        return {column: self.cell(row, column) for column in range(len(COLUMNS))}

    def row_problems(self, row: int) -> dict[int, str]:
        """What is wrong with each cell of ``row`` (column → reason, in the words the Save message uses)."""
        where = f"row {row + 1} ({self.cell(row, NAME) or 'no name'})"
        values, problems = self._row_values(row), {}
        checks = {X: lambda t: parse_float(t, "x", where, required=False), Y: lambda t: parse_float(t, "y", where, required=False),
                  LAT: lambda t: parse_float(t, "lat", where, required=False), LON: lambda t: parse_float(t, "lon", where, required=False),
                  SETUP: lambda t: parse_date(t, "setup", where) if t else None,
                  RETRIEVAL: lambda t: parse_date(t, "retrieval", where) if t else None,
                  OUTAGES: lambda t: parse_outages(t, where)}
        for column, check in checks.items():
            try:
                check(values[column])
            except StationTableError as exc:
                problems[column] = str(exc)
        if not problems:
            try:
                self._station(row)
            except StationTableError as exc:
                problems[problem_column(str(exc), values)] = str(exc)
        return problems

    def mark_row(self, row: int) -> dict[int, str]:
        """Red background and the reason as tooltip on each bad cell of ``row``; a fixed cell is plain again."""
        problems = self.row_problems(row)
        self.table.blockSignals(True)
        try:
            for column in range(DAYS):
                item = self.table.item(row, column)
                if item is None:
                    continue
                if column in problems:
                    item.setBackground(QBrush(BAD_CELL))
                    item.setForeground(QBrush(QColor("black")))  # readable on the pale red in a dark theme too
                    item.setToolTip(problems[column])
                elif item.toolTip():
                    item.setBackground(QBrush())
                    item.setForeground(QBrush())
                    item.setToolTip("")
        finally:
            self.table.blockSignals(False)
        return problems

    def bad_cells(self) -> dict[tuple[int, int], str]:
        """Every cell now marked red, with its reason."""
        return {(row, column): self.table.item(row, column).toolTip() for row in range(self.table.rowCount())
                for column in range(DAYS) if self.table.item(row, column) is not None and self.table.item(row, column).toolTip()}

    def _cell_changed(self, item: QTableWidgetItem) -> None:
        self.mark_row(item.row())
        if item.column() in (NAME, X, Y):
            self.update_map()

    def update_map(self) -> None:
        points, missing = [], []
        for row in range(self.table.rowCount()):
            name = self.cell(row, NAME)
            if not name:
                continue
            try:
                x = parse_float(self.cell(row, X), "x", name, required=True)
                y = parse_float(self.cell(row, Y), "y", name, required=True)
            except StationTableError:
                missing.append(name)
                continue
            points.append(MapPoint(name, x, y, self.photos.get(name, 0)))
        self.map.set_stations(points, missing)

    def cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text().strip() if item else ""

    def set_cell(self, row: int, column: int, text: str) -> None:
        self.table.item(row, column).setText(text)

    def _station(self, row: int) -> StationInfo:
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
        return validate_station(info, where)

    def stations(self) -> list[StationInfo]:
        """The table as validated records; raises StationTableError naming the row, with the bad cell marked and current."""
        out = []
        for row in range(self.table.rowCount()):
            try:
                out.append(self._station(row))
            except StationTableError:
                problems = self.mark_row(row)
                if problems:
                    self.table.setCurrentCell(row, min(problems))
                raise
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
