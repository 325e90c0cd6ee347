"""Labels of horizontal levels (a trade plan's entry, stop and target) that never overlap.

:class:`LevelLabels` writes each level's label in the right margin of a pane,
level with its line (like a price on a price axis), clear of the bars drawn
inside the pane; when levels are close, the labels are stacked apart (see
:func:`spread_apart`) instead of printing over each other.  The placement is done
at every draw, from the text sizes the renderer measures, so it holds at any
figure size, dpi or zoom.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.text import Text
from matplotlib.transforms import ScaledTranslation

__all__ = ["LevelLabels", "spread_apart"]


class LevelLabels(Artist):
    """The labels of horizontal levels in the right margin of ``ax``, kept apart.

    Args:
        ax: the axes of the levels (its lines are drawn by the caller).
        levels: ``name -> (value, colour)``; each label reads ``name value``
            (``entry 139.31``) in its colour.

    Each label is an ordinary text of the axes (in ``ax.texts`` and in
    :attr:`texts`), 4 points right of the pane (a constrained layout makes room
    for it).  This artist draws nothing itself: it is drawn before the texts and
    moves them, each level with its line, the ones that would overlap stacked with
    a small gap as a group centred on their levels, all within the pane's height.
    """

    #: Points between two stacked labels.
    GAP_POINTS = 2.0

    def __init__(self, ax: Axes, levels: Mapping[str, tuple[float, str]]) -> None:
        super().__init__()
        self.set_zorder(-100)  # drawn before the texts it places (texts: zorder 3)
        self._ax = ax
        # x: 4 points right of the axes; y: the data's
        right_4pt = ScaledTranslation(4 / 72, 0, ax.figure.dpi_scale_trans)
        margin = ax.get_yaxis_transform() + right_4pt
        self._values: list[float] = []
        self.texts: list[Text] = []
        for name, (value, colour) in levels.items():
            self._values.append(float(value))
            self.texts.append(
                ax.text(
                    1.0,
                    value,
                    f"{name} {value:,.2f}",
                    transform=margin,
                    ha="left",
                    va="center",
                    fontsize=8,
                    color=colour,
                )
            )

    def draw(self, renderer: Any) -> None:
        """Place the labels for this draw (they draw themselves right after)."""
        if not self.texts:
            return
        ax = self._ax
        gap = renderer.points_to_pixels(self.GAP_POINTS)
        heights = [text.get_window_extent(renderer).height for text in self.texts]
        lines = [float(ax.transData.transform((0.0, value))[1]) for value in self._values]
        centres = spread_apart(lines, heights, gap, (ax.bbox.y0, ax.bbox.y1))
        to_data = ax.transData.inverted()
        for text, centre in zip(self.texts, centres, strict=True):
            text.set_y(float(to_data.transform((0.0, centre))[1]))


def spread_apart(
    wanted: Sequence[float],
    sizes: Sequence[float],
    gap: float = 0.0,
    bounds: tuple[float, float] | None = None,
) -> list[float]:
    """Centres of boxes on a line, each as near its ``wanted`` centre as the others allow.

    Args:
        wanted: where each box's centre would be, alone.
        sizes: each box's length along the line.
        gap: the least room between two boxes.
        bounds: ``(low, high)``: the boxes are pushed inside when they fit.

    Boxes keep the order of their wanted centres.  Boxes that would overlap form
    a group, stacked ``gap`` apart and centred on the mean of their wanted
    centres: a lone box stays where it is wanted, two close ones move apart by
    the same amount.

    Returns:
        The centres, in the order of ``wanted``.
    """

    def stacked(members: list[int]) -> list[float]:
        """Offsets of the centres of ``members`` stacked from the first one's."""
        offsets = [0.0]
        for below, above in itertools.pairwise(members):
            offsets.append(offsets[-1] + (sizes[below] + sizes[above]) / 2 + gap)
        return offsets

    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    groups: list[tuple[list[int], float]] = []  # (boxes bottom up, centre of the lowest)
    for index in order:
        members, lowest = [index], float(wanted[index])
        while groups:
            below, below_lowest = groups[-1]
            below_top = below_lowest + stacked(below)[-1] + sizes[below[-1]] / 2
            if below_top + gap <= lowest - sizes[members[0]] / 2:
                break
            groups.pop()
            members = below + members
            offsets = stacked(members)
            lowest = sum(wanted[m] - o for m, o in zip(members, offsets, strict=True))
            lowest /= len(members)
        groups.append((members, lowest))
    centres = [0.0] * len(wanted)
    for members, lowest in groups:
        for member, offset in zip(members, stacked(members), strict=True):
            centres[member] = lowest + offset
    if bounds is not None:
        low, high = bounds
        ceiling = high  # top down: below the top edge and below the box above
        for member in reversed(order):
            centres[member] = min(centres[member], ceiling - sizes[member] / 2)
            ceiling = centres[member] - sizes[member] / 2 - gap
        floor = low  # bottom up: above the bottom edge and above the box below
        for member in order:
            centres[member] = max(centres[member], floor + sizes[member] / 2)
            floor = centres[member] + sizes[member] / 2 + gap
    return centres
