"""Zoomable image panes whose zoom and pan can be linked, so one gesture moves every photo alike.

Images of different sizes are linked in relative terms: zoom as a multiple of each pane's fit-to-window
scale and the view centre as a fraction of each image, so the same part of each animal stays in view.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView, QWidget

MIN_ZOOM, MAX_ZOOM = 1.0, 40.0
WHEEL_STEP = 1.25


class ImagePane(QGraphicsView):
    """One image: wheel to zoom about the cursor, drag to pan, double-click to fit."""

    view_changed = Signal(object)  # this pane, after the user zoomed or panned it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        # No scrollbars: they would come and go with the zoom, resize the viewport and re-fit in a loop.
        # Dragging and the wheel still pan and zoom (the hidden scrollbars keep the position).
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QBrush(QColor("#1e1f22")))
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the review view keeps the keyboard
        self.setMinimumSize(120, 90)
        self._item: QGraphicsPixmapItem | None = None
        self._placeholder = ""
        self._zoom = 1.0
        self._applying = False
        self.horizontalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    # -- content ---------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, placeholder: str = "no image") -> None:
        """Show ``image`` (or a placeholder text), keeping the current relative zoom and centre."""
        state = self.view_state() if self._item is not None else None
        scene = self.scene()
        scene.clear()
        self._item = None
        self._placeholder = placeholder
        if image is None or image.isNull():
            scene.setSceneRect(QRectF(0, 0, 1, 1))
            self.resetTransform()
            self.viewport().update()
            return
        self._item = scene.addPixmap(QPixmap.fromImage(image))
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        scene.setSceneRect(self._item.boundingRect())
        if state is None:
            self._zoom = 1.0
            self.apply_state(1.0, QPointF(0.5, 0.5))
        else:
            self.apply_state(*state)

    def mark_box(self, box: tuple[float, float, float, float], colour: str = "#ffb000") -> None:
        """Outline a region (the detection in a full photo) and zoom to it."""
        if self._item is None:
            return
        x0, y0, x1, y1 = box
        rect = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
        pen = QPen(QColor(colour), 0)
        pen.setCosmetic(True)
        pen.setWidth(2)
        rect.setPen(pen)
        self.scene().addItem(rect)
        size = self._item.boundingRect()
        zoom = min(size.width() / max(x1 - x0, 1.0), size.height() / max(y1 - y0, 1.0)) * 0.85
        self.apply_state(max(MIN_ZOOM, min(MAX_ZOOM, zoom)), QPointF((x0 + x1) / 2 / size.width(), (y0 + y1) / 2 / size.height()))

    @property
    def has_image(self) -> bool:
        return self._item is not None

    @property
    def zoom(self) -> float:
        return self._zoom

    # -- geometry --------------------------------------------------------------------------------
    def _fit_scale(self) -> float:
        if self._item is None:
            return 1.0
        rect = self._item.boundingRect()
        view = self.viewport().rect()
        return max(1e-6, min(view.width() / max(rect.width(), 1.0), view.height() / max(rect.height(), 1.0)))

    def view_state(self) -> tuple[float, QPointF]:
        """(zoom relative to fit, centre as a fraction of the image)."""
        if self._item is None:
            return self._zoom, QPointF(0.5, 0.5)
        rect = self._item.boundingRect()
        centre = self.mapToScene(self.viewport().rect().center())
        return self._zoom, QPointF(centre.x() / max(rect.width(), 1.0), centre.y() / max(rect.height(), 1.0))

    def apply_state(self, zoom: float, centre: QPointF) -> None:
        self._zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        if self._item is None:
            return
        self._applying = True
        try:
            scale = self._fit_scale() * self._zoom
            self.setTransform(QTransform.fromScale(scale, scale))
            rect = self._item.boundingRect()
            self.centerOn(QPointF(centre.x() * rect.width(), centre.y() * rect.height()))
        finally:
            self._applying = False

    def zoom_by(self, factor: float) -> None:
        if self._item is None:
            return
        target = max(MIN_ZOOM, min(MAX_ZOOM, self._zoom * factor))
        step = target / self._zoom
        self._zoom = target
        self.scale(step, step)
        self.view_changed.emit(self)

    def fit(self) -> None:
        self.apply_state(1.0, QPointF(0.5, 0.5))
        self.view_changed.emit(self)

    # -- events ----------------------------------------------------------------------------------
    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(WHEEL_STEP if delta > 0 else 1 / WHEEL_STEP)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        self.fit()

    def resizeEvent(self, event) -> None:
        state = self.view_state()
        super().resizeEvent(event)
        self.apply_state(*state)

    def _scrolled(self) -> None:
        if not self._applying and self._item is not None:
            self.view_changed.emit(self)

    def drawForeground(self, painter: QPainter, rect) -> None:
        if self._item is None and self._placeholder:
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor("#9aa0a6"))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            painter.restore()


class ViewSync:
    """Links panes: whichever the user moves drives the others (no feedback loops)."""

    def __init__(self) -> None:
        self._panes: list[ImagePane] = []
        self._busy = False
        self.enabled = True

    def add(self, pane: ImagePane) -> None:
        self._panes.append(pane)
        pane.view_changed.connect(self._follow)

    def _follow(self, source: ImagePane) -> None:
        if self._busy or not self.enabled:
            return
        self._busy = True
        try:
            zoom, centre = source.view_state()
            for pane in self._panes:
                if pane is not source:
                    pane.apply_state(zoom, centre)
        finally:
            self._busy = False

    def reset(self) -> None:
        for pane in self._panes:
            pane.apply_state(1.0, QPointF(0.5, 0.5))
