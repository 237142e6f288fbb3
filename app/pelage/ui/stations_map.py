"""A small map of the camera stations: each station at its x/y, a dot that grows with the photos it took, and a label.

Drawn with QPainter (no plotting library): a glance shows a mistyped coordinate (a station 100 km off) or a
station that took no photos, before an export turns them into a wrong capture history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN = 28  # pixels around the stations, for labels and the largest dots
MIN_RADIUS, MAX_RADIUS = 3.0, 12.0


@dataclass(frozen=True)
class MapPoint:
    name: str
    x: float  # projected metres (east)
    y: float  # projected metres (north)
    photos: int


def dot_radius(photos: int, most: int) -> float:
    """Area proportional to the photo count (radius by its square root); a station without photos gets the smallest dot."""
    if photos <= 0 or most <= 0:
        return MIN_RADIUS
    return MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * math.sqrt(photos / most)


def layout_points(points: list[MapPoint], width: float, height: float, margin: float = MARGIN) -> dict[str, QPointF]:
    """Widget positions: one scale for x and y (distances stay true), north up, centred; a lone station sits in the middle."""
    if not points:
        return {}
    xs, ys = [p.x for p in points], [p.y for p in points]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    usable_w, usable_h = max(width - 2 * margin, 1.0), max(height - 2 * margin, 1.0)
    span = max(span_x / usable_w, span_y / usable_h)
    scale = 1.0 / span if span > 0 else 0.0
    centre_x, centre_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return {p.name: QPointF(width / 2 + (p.x - centre_x) * scale, height / 2 - (p.y - centre_y) * scale) for p in points}


def scale_bar(points: list[MapPoint], width: float, margin: float = MARGIN) -> tuple[float, str] | None:
    """A round distance (1, 2 or 5 × 10ⁿ m) about a quarter of the map wide, and its label; None without a scale."""
    if len(points) < 2:
        return None
    xs, ys = [p.x for p in points], [p.y for p in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys))
    if span <= 0:
        return None
    target = span / 4
    step = 10 ** math.floor(math.log10(target))
    metres = max((m * step for m in (1, 2, 5) if m * step <= target), default=step)
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    return metres, label


class StationMap(QWidget):
    """Stations with coordinates as dots; those without are named underneath."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stationMap")
        self.points: list[MapPoint] = []
        self.missing: list[str] = []  # stations without x/y
        self.setMinimumSize(260, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Stations at their x/y (north up); a bigger dot took more photos. Stations without coordinates are "
                        "listed underneath.")

    def sizeHint(self) -> QSize:
        return QSize(340, 240)

    def set_stations(self, points: list[MapPoint], missing: list[str]) -> None:
        self.points, self.missing = list(points), list(missing)
        self.update()

    def _plot_height(self) -> float:
        return self.height() - (18 if self.missing else 0)

    def positions(self) -> dict[str, QPointF]:
        return layout_points(self.points, self.width(), self._plot_height())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        painter.setPen(QPen(palette.mid().color()))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        text_colour = palette.text().color()
        small = QFont(self.font())
        small.setPointSizeF(max(small.pointSizeF() * 0.85, 7.0))
        painter.setFont(small)
        if not self.points:
            painter.setPen(text_colour)
            painter.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "No station has x/y coordinates yet: type them in the table, paste them from a spreadsheet, "
                             "or import a CSV.")
        most = max((p.photos for p in self.points), default=0)
        positions = self.positions()
        for point in self.points:
            centre = positions[point.name]
            radius = dot_radius(point.photos, most)
            painter.setPen(QPen(QColor("#1b4f72"), 1.2))
            painter.setBrush(QBrush(QColor("#e67e22") if point.photos else QColor("#bdc3c7")))
            painter.drawEllipse(centre, radius, radius)
            painter.setPen(text_colour)
            painter.drawText(QRectF(centre.x() + radius + 2, centre.y() - 9, 160, 18), Qt.AlignmentFlag.AlignVCenter,
                             f"{point.name} ({point.photos} photo{'' if point.photos == 1 else 's'})")
        bar = scale_bar(self.points, self.width())
        if bar is not None and len(positions) >= 2:
            metres, label = bar
            ref = sorted(self.points, key=lambda p: p.x)
            left, right = positions[ref[0].name], positions[ref[-1].name]
            span = ref[-1].x - ref[0].x
            pixels = metres * (right.x() - left.x()) / span if span > 0 else 0.0
            if pixels <= 0:  # stations in a north–south line: measure along y
                ref = sorted(self.points, key=lambda p: p.y)
                low, high = positions[ref[0].name], positions[ref[-1].name]
                pixels = metres * (low.y() - high.y()) / (ref[-1].y - ref[0].y)
            y = self._plot_height() - 8
            painter.setPen(QPen(text_colour, 1.5))
            painter.drawLine(QPointF(8, y), QPointF(8 + pixels, y))
            painter.drawText(QRectF(12 + pixels, y - 9, 80, 18), Qt.AlignmentFlag.AlignVCenter, label)
        if self.missing:
            painter.setPen(text_colour)
            painter.drawText(QRectF(6, self.height() - 18, self.width() - 12, 16), Qt.AlignmentFlag.AlignVCenter,
                             f"No x/y: {', '.join(self.missing)}")
        painter.end()
