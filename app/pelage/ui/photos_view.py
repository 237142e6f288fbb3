"""The photos to look at again: those in which no animal was found (draw it with the mouse), the animals set
aside as not usable (restore one), and the files that could not be read, with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QToolBox,
    QVBoxLayout,
    QWidget,
)

from pelage.ui.box_pane import Box, BoxDrawingPane
from pelage.ui.images import load_photo
from pelage.ui.workers import JobQueue

if TYPE_CHECKING:
    from pelage.store import Project
    from pelage.store.queries import PhotoRecord, UnusableRecord

HINT = ("Drag a box around the animal with the mouse, then press “Add this animal”. "
        "It is identified and goes to the Review tab. Wheel: zoom; double-click: whole photo.")


@dataclass(frozen=True)
class PhotosToCheck:
    without_animal: list[PhotoRecord]
    unusable: list[UnusableRecord]
    failures: list[tuple[str, str]]  # SURVEY/PATH, reason


def fetch_photos_to_check(project: Project) -> PhotosToCheck:
    from pelage.store.queries import list_failures, list_photos_without_animal, list_unusable

    with project.sessions() as session:
        return PhotosToCheck(list_photos_without_animal(session), list_unusable(session), list_failures(session))


def _where(photo: PhotoRecord) -> str:
    when = photo.time.strftime("%Y-%m-%d %H:%M") if photo.time else "time unknown"
    return f"{photo.station or 'station unknown'} · {photo.camera or 'camera ?'} · {when}"


class PhotosView(QWidget):
    add_box_requested = Signal(int, object)  # image id, Box
    animals_changed = Signal()  # an animal was restored: the review must re-read the store
    status_message = Signal(str)

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.project: Project | None = None
        self.data = PhotosToCheck([], [], [])
        self.photo: PhotoRecord | None = None
        self.unusable: UnusableRecord | None = None

        self.without_animal = self._list("photosWithoutAnimal")
        self.set_aside = self._list("photosSetAside")
        self.failures = self._list("photosFailed")
        self.sections = QToolBox()
        for widget in (self.without_animal, self.set_aside, self.failures):
            self.sections.addItem(widget, "")
        self._title_sections()

        self.title = QLabel("Choose a photo on the left.")
        self.title.setObjectName("photoTitle")
        self.title.setWordWrap(True)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.pane = BoxDrawingPane()
        self.pane.setObjectName("boxPane")
        self.pane.box_drawn.connect(self._box_drawn)
        self.add_button = QPushButton("Add this animal")
        self.add_button.setObjectName("addAnimalButton")
        self.add_button.setToolTip("Cut out the animal in the box you drew, identify it and send it to review")
        self.add_button.clicked.connect(self.add_drawn_box)
        self.restore_button = QPushButton("Restore: use this animal again")
        self.restore_button.setObjectName("restoreButton")
        self.restore_button.clicked.connect(self.restore_selected)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.add_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.hint)
        right_layout.addWidget(self.pane, 1)
        right_layout.addLayout(buttons)

        splitter = QSplitter()
        splitter.addWidget(self.sections)
        splitter.addWidget(right)
        splitter.setSizes([420, 1000])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._update_buttons()

    def _list(self, name: str) -> QListWidget:
        widget = QListWidget()
        widget.setObjectName(name)
        widget.setWordWrap(True)
        widget.setSpacing(5)  # each entry is two lines: the gap tells them apart
        widget.currentItemChanged.connect(lambda item, _previous, w=widget: self._chosen(w, item))
        return widget

    def _title_sections(self) -> None:
        data = self.data
        self.sections.setItemText(0, f"Photos without an animal ({len(data.without_animal)})")
        self.sections.setItemText(1, f"Animals set aside as not usable ({len(data.unusable)})")
        self.sections.setItemText(2, f"Files that could not be read ({len(data.failures)})")

    # -- data ------------------------------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        self.project = project
        self._fill(PhotosToCheck([], [], []))
        if project is not None:
            self.refresh()

    def refresh(self) -> None:
        project = self.project
        if project is not None:
            self.queue.submit(lambda: fetch_photos_to_check(project), self._fill, self._failed, "Listing photos…")

    def _failed(self, message: str) -> None:
        self.status_message.emit(f"Error: {message}")

    def _fill(self, data: PhotosToCheck) -> None:
        """Show fresh lists; the photo on screen stays chosen (and its drawing kept) if it is still listed."""
        kept_photo = self.photo.id if self.photo else None
        kept_unusable = self.unusable.id if self.unusable else None
        self.data = data
        for widget in (self.without_animal, self.set_aside, self.failures):
            widget.blockSignals(True)
            widget.clear()
        for photo in data.without_animal:
            self._add(self.without_animal, f"{photo.name}\n{_where(photo)}", photo)
        for record in data.unusable:
            self._add(self.set_aside, f"#{record.id} — {record.reason}\n{record.photo.name}", record)
        for name, reason in data.failures:
            self._add(self.failures, f"{name}\n{reason}", None).setToolTip(reason)
        for widget in (self.without_animal, self.set_aside, self.failures):
            widget.blockSignals(False)
        self._title_sections()
        if self._reselect(self.without_animal, kept_photo) or self._reselect(self.set_aside, kept_unusable):
            return
        self.photo, self.unusable = None, None
        self.pane.show_photo(None, placeholder="Choose a photo on the left.")
        self.title.setText("Choose a photo on the left." if data.without_animal or data.unusable else
                           "Every photo has an animal, and none was set aside.")
        self._update_buttons()

    @staticmethod
    def _reselect(widget: QListWidget, wanted: int | None) -> bool:
        """Select again the row of ``wanted`` (an id) without reloading its photo; False if it is gone."""
        for row in range(widget.count()):
            value = widget.item(row).data(Qt.ItemDataRole.UserRole)
            if wanted is not None and value.id == wanted:
                widget.blockSignals(True)
                widget.setCurrentRow(row)
                widget.blockSignals(False)
                return True
        return False

    @staticmethod
    def _add(widget: QListWidget, text: str, value: object) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, value)
        widget.addItem(item)
        return item

    def _chosen(self, widget: QListWidget, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        value = item.data(Qt.ItemDataRole.UserRole)
        if widget is self.without_animal:
            self.show_photo(value)
        elif widget is self.set_aside:
            self.show_unusable(value)
        else:
            self.photo, self.unusable = None, None
            self.title.setText(f"<b>Could not be read:</b> {item.text().replace(chr(10), ' — ')}")
            self.pane.show_photo(None, placeholder="This file could not be read, so there is nothing to show.")
            self._update_buttons()

    def show_photo(self, photo: PhotoRecord) -> None:
        """Show a photo without an animal, ready for a box to be drawn on it."""
        self.photo, self.unusable = photo, None
        self.title.setText(f"<b>{photo.name}</b> — {_where(photo)}")
        self._load(Path(photo.survey_root) / photo.image, None)

    def show_unusable(self, record: UnusableRecord) -> None:
        self.photo, self.unusable = None, record
        self.title.setText(f"<b>#{record.id}</b> set aside: {record.reason} — {record.photo.name}")
        self._load(Path(record.photo.survey_root) / record.photo.image, record.box)

    def _load(self, path: Path, box: Box | None) -> None:
        self._update_buttons()
        self.pane.show_photo(None, placeholder="Loading the photo…")
        self.queue.submit(lambda: load_photo(path), lambda image: self._loaded(path, image, box),
                          lambda message: self.pane.show_photo(None, placeholder=f"Cannot show the photo: {message}"), "Loading the photo…")

    def _loaded(self, path: Path, image, box: Box | None) -> None:
        current = self.photo or (self.unusable.photo if self.unusable else None)
        if current is None or Path(current.survey_root) / current.image != path:
            return  # the user moved on while it loaded
        self.pane.show_photo(image, box)
        self._update_buttons()

    # -- actions ---------------------------------------------------------------------------------
    def _box_drawn(self, box: Box) -> None:
        self._update_buttons()
        if self.photo is not None:
            self.status_message.emit(f"Box drawn ({box[2] - box[0]:.0f} × {box[3] - box[1]:.0f} pixels): press “Add this animal”.")

    def _update_buttons(self) -> None:
        self.add_button.setEnabled(self.photo is not None and self.pane.box is not None)
        self.add_button.setVisible(self.unusable is None)
        self.restore_button.setVisible(self.unusable is not None)
        self.hint.setVisible(self.unusable is None)

    def add_drawn_box(self) -> None:
        if self.photo is None or self.pane.box is None:
            self.status_message.emit("Choose a photo and drag a box around the animal first.")
            return
        self.add_box_requested.emit(self.photo.id, self.pane.box)  # the window runs it (or says what it waits for)

    def restore_selected(self) -> None:
        record, project = self.unusable, self.project
        if record is None or project is None:
            return
        from pelage.review.actions import restore

        def done(_reason) -> None:
            self.status_message.emit(f"Animal #{record.id} restored: it is back in review and in the exports.")
            self.animals_changed.emit()
            self.refresh()

        self.queue.submit(lambda: restore(project, record.id), done, self._failed, "Restoring…")
