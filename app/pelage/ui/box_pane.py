"""A photo on which the user draws a box with the mouse: an animal the detector missed, or a box drawn again.

Drag with the left button to draw (the box is kept in pixels of the upright photo, as the store keeps boxes);
the wheel still zooms. The photo is decoded as the import decoded it, so a box drawn here lines up with the
crops the import cut.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsView, QWidget

from pelage.ui.image_view import ImagePane

Box = tuple[float, float, float, float]
MIN_SIDE = 8.0  # pixels of the photo: a smaller drag is a click, not a box


class BoxDrawingPane(ImagePane):
    """An :class:`ImagePane` where a left-button drag draws the box (one at a time)."""

    box_drawn = Signal(object)  # Box, in photo pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._start: QPointF | None = None
        self._rect: QGraphicsRectItem | None = None
        self.box: Box | None = None

    def show_photo(self, image: QImage | None, box: Box | None = None, placeholder: str = "no photo") -> None:
        """Show the whole photo (an existing box outlined in grey, to draw over) and forget the drawn box."""
        self.set_image(image, placeholder)
        self._rect, self.box = None, None
        if box is not None and self.has_image:
            x0, y0, x1, y1 = box
            outline = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
            pen = QPen(QColor("#c8ccd0"), 0)
            pen.setCosmetic(True)
            pen.setWidth(2)
            pen.setStyle(Qt.PenStyle.DashLine)
            outline.setPen(pen)
            self.scene().addItem(outline)

    def _photo_point(self, event) -> QPointF:
        point = self.mapToScene(event.position().toPoint())
        rect = self.sceneRect()
        return QPointF(min(max(point.x(), 0.0), rect.width()), min(max(point.y(), 0.0), rect.height()))

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.has_image:
            self._start = self._photo_point(event)
            self._draw(QRectF(self._start, self._start))
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._start is not None:
            self._draw(QRectF(self._start, self._photo_point(event)).normalized())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._start is None or event.button() != Qt.MouseButton.LeftButton:
            super().mouseReleaseEvent(event)
            return
        rect = QRectF(self._start, self._photo_point(event)).normalized()
        self._start = None
        self._draw(rect)
        if rect.width() >= MIN_SIDE and rect.height() >= MIN_SIDE:
            self.box = (rect.left(), rect.top(), rect.right(), rect.bottom())
            self.box_drawn.emit(self.box)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        self.fit()

    def _draw(self, rect: QRectF) -> None:
        if self._rect is None:
            self._rect = QGraphicsRectItem()
            pen = QPen(QColor("#ffb000"), 0)
            pen.setCosmetic(True)
            pen.setWidth(3)
            self._rect.setPen(pen)
            self.scene().addItem(self._rect)
        self._rect.setRect(rect)
