"""The individuals panel: every individual with its photo count, first and last sighting and stations;
rename, merge two individuals (after asking), split one (remove a wrong link), and a gallery of each one's
photos, where a click opens the photo at full resolution.

The list is a model/view table (one model row per individual, no widget per row), so a season of thousands of
individuals scrolls and refreshes without stalling; :meth:`IndividualsView.refresh` is the slot the review's
events connect to, and refreshes that arrive while one is loading are folded into one more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pelage.ui.images import ViewMode, animal_files, load_view
from pelage.ui.workers import JobQueue

if TYPE_CHECKING:
    from pelage.review.session import ReviewSession
    from pelage.review.summary import IndividualSummary
    from pelage.store.queries import AnimalRecord

THUMBNAIL = 160
RESIZE_PRECISION = 200  # rows the columns are sized to: sizing to all of 5,000 rows would stall every refresh
COLUMNS = ("Name", "Photos", "First seen", "Last seen", "Stations")


def _photos(count: int) -> str:
    return f"{count} photo{'' if count == 1 else 's'}"


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


class IndividualsModel(QAbstractTableModel):
    rename_requested = Signal(int, str)  # member id, new name

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[IndividualSummary] = []

    def set_rows(self, rows: list[IndividualSummary]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return (row.name, row.count, _when(row.first_seen), _when(row.last_seen), ", ".join(row.stations) or "—")[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.name}: photos {', '.join(f'#{m}' for m in row.members)}; stations {', '.join(row.stations) or 'unknown'}"
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index):
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsEditable if index.column() == 0 else flags

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        name = str(value).strip()
        if role != Qt.ItemDataRole.EditRole or index.column() != 0 or not name or name == self.rows[index.row()].name:
            return False
        self.rename_requested.emit(self.rows[index.row()].id, name)
        return False  # the row changes when the store says so (the refresh after the rename)


@dataclass
class GalleryData:
    records: list[AnimalRecord]
    thumbnails: dict[int, QImage | None]
    links: list[tuple[int, int]]  # confirmed matches inside the individual


def fetch_gallery(session: ReviewSession, animal_id: int) -> GalleryData:
    records = session.gallery(animal_id)
    ids = [record.id for record in records]
    files = animal_files(session.project, ids)
    thumbnails = {}
    for i in ids:
        image = load_view(files[i], ViewMode.PHOTO) if i in files else None
        thumbnails[i] = image.scaled(THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation) if image is not None else None
    links = session.links(animal_id)  # under the session's lock: a worker may be recording a decision
    return GalleryData(records, thumbnails, links)


class IndividualsView(QWidget):
    decisions_changed = Signal()
    status_message = Signal(str)
    redraw_requested = Signal(int)  # animal id
    animals_changed = Signal()  # an animal was set aside

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.session: ReviewSession | None = None
        self.model = IndividualsModel(self)
        self.model.rename_requested.connect(self.rename)
        self.table = QTableView()
        self.table.setObjectName("individualsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setResizeContentsPrecision(RESIZE_PRECISION)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)  # stations: the rest, full list in the tooltip
        self.table.verticalHeader().hide()
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.singletons = QCheckBox("Show animals seen once")
        self.singletons.toggled.connect(self.refresh)
        self.count_label = QLabel("")

        self.rename_button = QPushButton("Rename  [F2]")
        self.merge_button = QPushButton("Merge selected  [Ctrl+M]")
        self.rename_button.clicked.connect(self.rename_selected)
        self.merge_button.clicked.connect(self.merge_selected)
        self.rename_button.setToolTip("Give the selected individual a name (or double-click its name)")
        self.merge_button.setToolTip("Make the two selected individuals one (a confirmed match between them)")
        merge_action = QAction("Merge", self)
        merge_action.setShortcut(QKeySequence("Ctrl+M"))
        merge_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        merge_action.triggered.connect(self.merge_selected)
        self.addAction(merge_action)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        top = QHBoxLayout()
        top.addWidget(self.count_label, 1)
        top.addWidget(self.singletons)
        left_layout.addLayout(top)
        left_layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addWidget(self.rename_button)
        row.addWidget(self.merge_button)
        left_layout.addLayout(row)

        self.gallery_title = QLabel("Select an individual to see its photos.")
        self.gallery_title.setObjectName("galleryTitle")
        self.gallery = QListWidget()
        self.gallery.setObjectName("gallery")
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)
        self.gallery.setSpacing(6)
        self.gallery.setWordWrap(True)
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.gallery.setToolTip("Click a photo to see it at full resolution; Ctrl+click to select photos without opening them")
        self.gallery.itemClicked.connect(self._thumbnail_clicked)
        self.gallery.itemActivated.connect(lambda item: self.open_photo(item.data(Qt.ItemDataRole.UserRole)))
        self.links = QListWidget()
        self.links.setObjectName("links")
        self.links.setMaximumHeight(120)
        self.split_button = QPushButton("Split the two selected photos apart")
        self.split_button.setToolTip("Retract the fewest confirmed matches that join them and mark them 'not a match'")
        self.split_button.clicked.connect(self.split_selected_photos)
        self.unlink_button = QPushButton("Remove the selected link")
        self.unlink_button.setToolTip("A wrong confirmed match: take it back (the pair is marked 'not a match')")
        self.unlink_button.clicked.connect(self.remove_selected_link)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.gallery_title)
        right_layout.addWidget(self.gallery, 1)
        right_layout.addWidget(QLabel("Confirmed matches inside this individual:"))
        right_layout.addWidget(self.links)
        buttons = QHBoxLayout()
        buttons.addWidget(self.split_button)
        buttons.addWidget(self.unlink_button)
        right_layout.addLayout(buttons)
        self.unusable_button = QPushButton("Selected photo not usable…")
        self.unusable_button.setToolTip("Set it aside (wrong animal, a rock, only a tail): out of review, listed with your reason in exports")
        self.unusable_button.clicked.connect(self.ask_unusable)
        self.redraw_button = QPushButton("Redraw its box…")
        self.redraw_button.setToolTip("Draw the selected photo's box again on the whole photo")
        self.redraw_button.clicked.connect(self.redraw_selected)
        photo_buttons = QHBoxLayout()
        photo_buttons.addWidget(self.unusable_button)
        photo_buttons.addWidget(self.redraw_button)
        right_layout.addLayout(photo_buttons)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 700])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.current_individual: int | None = None
        self.merge_question: QMessageBox | None = None  # open while the user decides whether to merge
        self.photo_window = None  # the full-resolution window, made on first use and reused
        self._listing = False  # a listing job is queued or running
        self._list_again = False  # a refresh arrived meanwhile: list once more when it is done

    # -- data ------------------------------------------------------------------------------------
    def set_session(self, session: ReviewSession | None) -> None:
        self.session = session
        self._list_again = False
        self.model.set_rows([])
        self.gallery.clear()
        self.links.clear()
        if session is not None:
            self.refresh()

    def _submit(self, function: Callable[[ReviewSession], object], on_done: Callable[[object], None] | None, label: str) -> None:
        session = self.session
        if session is None:
            self.status_message.emit("Open a project with identified animals first.")
            return
        self.queue.submit(lambda: function(session), on_done, self._failed, label)

    def _failed(self, message: str) -> None:
        self.status_message.emit(f"Error: {message}")
        QMessageBox.warning(self, "Pelage", message)

    @Slot()
    def refresh(self, *_args) -> None:
        """Reload the list (and the open gallery) from the review session: after the review confirms or undoes a match,
        renames an individual, or anything else changes who is who. Any signal's arguments are ignored."""
        if self.session is None:
            return
        if self._listing:
            self._list_again = True
            return
        self._listing = True
        minimum = 1 if self.singletons.isChecked() else 2
        self.queue.submit(lambda session=self.session: session.individuals(min_members=minimum), self._listed, self._list_failed,
                          "Listing individuals…")

    def _listed(self, rows: list[IndividualSummary]) -> None:
        self._listing = False
        if self._list_again:
            self._list_again = False
            self.refresh()  # something changed while this list was read: the next one is what counts
            return
        self._show_rows(rows)

    def _list_failed(self, message: str) -> None:
        self._listing = self._list_again = False
        self._failed(message)

    @property
    def refreshing(self) -> bool:
        return self._listing

    def _show_rows(self, rows: list[IndividualSummary]) -> None:
        keep = self.current_individual
        self.model.set_rows(rows)
        several = sum(1 for row in rows if row.count >= 2)
        self.count_label.setText(f"{len(rows)} individuals" + ("" if not self.singletons.isChecked() else f" ({several} seen more than once)"))
        if keep is not None:
            for index, row in enumerate(rows):
                if keep in row.members:
                    self.table.selectRow(index)
                    self._show_gallery(row.id)
                    return
        self.gallery.clear()
        self.links.clear()
        self.gallery_title.setText("Select an individual to see its photos.")
        self.current_individual = None

    def selected_rows(self) -> list[IndividualSummary]:
        return [self.model.rows[index.row()] for index in self.table.selectionModel().selectedRows()]

    def _selection_changed(self) -> None:
        rows = self.selected_rows()
        if len(rows) == 1:
            self._show_gallery(rows[0].id)

    def _show_gallery(self, animal_id: int) -> None:
        self.current_individual = animal_id
        self._submit(lambda session: fetch_gallery(session, animal_id), self._fill_gallery, "Loading photos…")

    def _fill_gallery(self, data: GalleryData) -> None:
        self.gallery.clear()
        self.links.clear()
        row = next((row for row in self.model.rows if data.records and data.records[0].id in row.members), None)
        self.gallery_title.setText(f"<b>{row.name if row else ''}</b>: {len(data.records)} photos, oldest first")
        for record in data.records:
            when = record.time.strftime("%Y-%m-%d %H:%M") if record.time else "time unknown"
            item = QListWidgetItem(f"#{record.id}\n{record.station or '?'} {record.camera or ''}\n{when}")
            image = data.thumbnails.get(record.id)
            if image is not None:
                item.setIcon(QPixmap.fromImage(image))
            item.setData(Qt.ItemDataRole.UserRole, record.id)
            item.setToolTip(record.image)
            self.gallery.addItem(item)
        for a, b in data.links:
            item = QListWidgetItem(f"#{a} ↔ #{b}")
            item.setData(Qt.ItemDataRole.UserRole, (a, b))
            self.links.addItem(item)

    # -- actions ---------------------------------------------------------------------------------
    def _changed(self, message: str) -> Callable[[object], None]:
        def done(_result) -> None:
            self.status_message.emit(message)
            self.decisions_changed.emit()
            self.refresh()

        return done

    def rename(self, member_id: int, name: str) -> None:
        self._submit(lambda session: session.rename(member_id, name), self._changed(f"Renamed to “{name}”."), "Renaming…")

    def rename_selected(self) -> None:
        rows = self.selected_rows()
        if len(rows) != 1:
            self.status_message.emit("Select one individual to rename.")
            return
        name, ok = QInputDialog.getText(self, "Rename individual", "Name:", text=rows[0].name)
        if ok and name.strip():
            self.rename(rows[0].id, name.strip())

    def merge_selected(self) -> None:
        """Ask first (naming both and their photos): a merge joins two individuals in every export."""
        rows = self.selected_rows()
        if len(rows) != 2:
            self.status_message.emit("Select exactly two individuals to merge (Ctrl+click the second).")
            return
        a, b = rows
        question = QMessageBox(QMessageBox.Icon.Question, "Merge two individuals",
                               f"Merge “{a.name}” ({_photos(a.count)}) and “{b.name}” ({_photos(b.count)}) into one individual "
                               f"of {_photos(a.count + b.count)}?", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        question.setInformativeText("This records that they are the same animal. If it was wrong, split them again in the "
                                    "gallery (select two photos, then “Split the two selected photos apart”).")
        question.setDefaultButton(QMessageBox.StandardButton.Cancel)
        question.button(QMessageBox.StandardButton.Yes).setText("Merge")

        def answered(result: int) -> None:
            self.merge_question = None
            question.deleteLater()
            if result == QMessageBox.StandardButton.Yes:
                self.merge(a.id, b.id)
            else:
                self.status_message.emit("Not merged.")

        question.finished.connect(answered)
        self.merge_question = question
        question.open()  # window-modal, without blocking: the review worker keeps running

    def merge(self, a_id: int, b_id: int) -> None:
        self.current_individual = a_id
        self._submit(lambda session: session.merge(a_id, b_id), self._changed(f"Merged the individuals of #{a_id} and #{b_id}."), "Merging…")

    def split(self, a_id: int, b_id: int) -> None:
        def done(cut) -> None:
            links = ", ".join(f"#{u}–#{v}" for u, v in cut)
            self._changed(f"Split #{a_id} from #{b_id}: removed the link(s) {links}.")(cut)

        self._submit(lambda session: session.split(a_id, b_id), done, "Splitting…")

    def split_selected_photos(self) -> None:
        ids = [item.data(Qt.ItemDataRole.UserRole) for item in self.gallery.selectedItems()]
        if len(ids) != 2:
            self.status_message.emit("Select exactly two photos in the gallery to split apart (Ctrl+click the second).")
            return
        self.split(*ids)

    def remove_selected_link(self) -> None:
        items = self.links.selectedItems()
        if len(items) != 1:
            self.status_message.emit("Select one link to remove.")
            return
        self.split(*items[0].data(Qt.ItemDataRole.UserRole))

    def _thumbnail_clicked(self, item: QListWidgetItem) -> None:
        if QApplication.keyboardModifiers() == Qt.KeyboardModifier.NoModifier:  # Ctrl/Shift+click only selects
            self.open_photo(item.data(Qt.ItemDataRole.UserRole))

    def open_photo(self, animal_id: int) -> None:
        """Show the animal's original photo at full resolution, zoomed to its box (the review's viewer)."""

        def load(session: ReviewSession):
            from pelage.ui.cards import describe_record
            from pelage.ui.images import load_original

            files = animal_files(session.project, [animal_id])[animal_id]
            try:
                image = load_original(files)
            except (OSError, ValueError):
                image = None
            title = f"<b>#{animal_id}</b> — {files.original.name}"
            return [(animal_id, title, describe_record(session.record(animal_id), session.flank(animal_id)), image, files.box)]

        def show(photos) -> None:
            from pelage.ui.overlays import FullResolutionDialog

            if self.photo_window is None:
                self.photo_window = FullResolutionDialog(self)
            self.photo_window.setWindowTitle(f"Photo of #{animal_id}")
            self.photo_window.show_photos(photos)
            self.photo_window.show()
            self.photo_window.raise_()

        self._submit(load, show, "Loading the photo…")

    def _one_selected_photo(self) -> int | None:
        ids = [item.data(Qt.ItemDataRole.UserRole) for item in self.gallery.selectedItems()]
        if len(ids) != 1:
            self.status_message.emit("Select one photo in the gallery first.")
            return None
        return ids[0]

    def redraw_selected(self) -> None:
        animal_id = self._one_selected_photo()
        if animal_id is not None:
            self.redraw_requested.emit(animal_id)

    def ask_unusable(self) -> None:
        from pelage.ui.box_dialogs import ask_unusable_reason

        animal_id = self._one_selected_photo()
        reason = ask_unusable_reason(self, animal_id) if animal_id is not None else None
        if reason:
            self.mark_unusable(animal_id, reason)

    def mark_unusable(self, animal_id: int, reason: str) -> None:
        """Set a photo of the individual aside with ``reason``; the list and gallery follow."""

        def done(kept) -> None:
            self.animals_changed.emit()
            self._changed(f"Animal #{animal_id} set aside as not usable ({kept}).")(kept)

        self._submit(lambda session: session.mark_unusable(animal_id, reason), done, "Setting aside…")

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_F2:
            self.rename_selected()
            return
        super().keyPressEvent(event)
