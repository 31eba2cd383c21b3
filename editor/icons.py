"""Small tool icons drawn with QPainter at start-up (no image files to ship or lose)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF

SIZE = 32
INK = QColor(235, 235, 240)


def _pen(width=2.5, style=Qt.PenStyle.SolidLine) -> QPen:
    p = QPen(INK, width)
    p.setStyle(style)
    p.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return p


def _draw(name: str, p: QPainter, color: QColor) -> None:
    p.setPen(_pen())
    if name == "brush":
        p.drawLine(QPointF(24, 6), QPointF(13, 18))
        p.setBrush(color)
        p.drawEllipse(QPointF(10, 22), 6, 6)
    elif name == "eraser":
        p.setBrush(QColor(240, 150, 160))
        p.drawPolygon(QPolygonF([QPointF(6, 20), QPointF(18, 8), QPointF(27, 17), QPointF(15, 29)]))
        p.drawLine(QPointF(6, 29), QPointF(27, 29))
    elif name == "fill":
        p.setBrush(color)
        p.drawPolygon(QPolygonF([QPointF(6, 14), QPointF(16, 4), QPointF(26, 14), QPointF(16, 24)]))
        p.drawEllipse(QPointF(26, 25), 3, 3)
    elif name == "rect":
        p.setBrush(color)
        p.drawRect(QRectF(6, 8, 20, 16))
    elif name == "lasso":
        p.drawPolygon(
            QPolygonF([QPointF(5, 12), QPointF(15, 5), QPointF(27, 9), QPointF(22, 22), QPointF(9, 24)])
        )
    elif name == "color":
        for i, c in enumerate(((220, 60, 60), (60, 170, 80), (70, 110, 230))):
            p.setBrush(QColor(*c))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(QPointF(11 + 10 * (i % 2), 11 + 10 * (i // 2)), 7, 7)
    elif name == "free":
        p.setPen(_pen(2.0, Qt.PenStyle.DashLine))
        p.drawEllipse(QPointF(16, 16), 11, 8)
        p.setPen(_pen())
        p.drawPoint(QPointF(16, 16))
    elif name == "pick":
        p.setBrush(INK)
        p.drawPolygon(
            QPolygonF(
                [
                    QPointF(8, 4),
                    QPointF(8, 26),
                    QPointF(14, 20),
                    QPointF(19, 29),
                    QPointF(23, 27),
                    QPointF(18, 18),
                    QPointF(26, 18),
                ]
            )
        )


def tool_icon(name: str, color: QColor | None = None) -> QIcon:
    pm = QPixmap(SIZE, SIZE)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    _draw(name, p, color or QColor(120, 170, 255))
    p.end()
    return QIcon(pm)
