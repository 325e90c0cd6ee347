"""The trade-plan labels of a chart stay readable: close levels get labels apart.

The boxes are the ones matplotlib's renderer measures (``get_window_extent``
after ``canvas.draw()``), at the figure's size and at other sizes and dpis.
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from technic_nb import DemoSource
from technic_nb.display.charts import plot_symbol
from technic_nb.display.levels import LevelLabels, spread_apart


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    source = DemoSource(n_symbols=20)
    return source.fetch(str(source.universe()["symbol"].iloc[0])).iloc[-300:]


def _labels(fig, renderer):
    price = fig.axes[0]
    (labels,) = [a for a in price.get_children() if isinstance(a, LevelLabels)]
    return price, {t.get_text().split()[0]: t.get_window_extent(renderer) for t in labels.texts}


def _drawn(fig, dpi: float | None = None):
    if dpi is not None:
        fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _plan(bars: pd.DataFrame, entry_to_target: float) -> dict[str, float]:
    """A long plan at the last close whose target lies ``entry_to_target`` above the entry."""
    close = float(bars["close"].iloc[-1])
    entry = close * 1.002
    return {"entry": entry, "stop": close * 0.93, "target": entry + entry_to_target}


@pytest.mark.parametrize(("figsize", "dpi"), [((11.0, 8.5), 72), ((11.0, 8.5), 100), ((6, 4), 56)])
@pytest.mark.parametrize("apart", [0.0, 0.001, 0.004])
def test_close_levels_have_labels_that_do_not_overlap(bars, figsize, dpi, apart):
    close = float(bars["close"].iloc[-1])
    plan = _plan(bars, apart * close)  # target 0 to 0.4 % above the entry: one label tall or less
    fig = plot_symbol(bars, trade_plan=plan, symbol="X", figsize=figsize)
    renderer = _drawn(fig, dpi)
    price, boxes = _labels(fig, renderer)
    assert set(boxes) == {"entry", "stop", "target"}
    for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
        assert not box_a.overlaps(box_b), (a, b, box_a, box_b)
    pane = price.get_window_extent(renderer)
    page = fig.bbox
    line_height = max(box.height for box in boxes.values())
    for name, box in boxes.items():
        assert pane.y0 - 0.5 <= box.y0 and box.y1 <= pane.y1 + 0.5, name  # within its height
        assert pane.x1 < box.x0 and box.x1 <= page.x1, name  # in the right margin, not cut
        level = float(price.transData.transform((0.0, plan[name]))[1])
        assert abs((box.y0 + box.y1) / 2 - level) < 2 * line_height, name  # near its line
    # in the order of the levels, bottom to top
    assert boxes["stop"].y0 < boxes["entry"].y0 < boxes["target"].y0


def test_far_levels_keep_their_labels_level_with_their_lines(bars):
    close = float(bars["close"].iloc[-1])
    plan = _plan(bars, 0.08 * close)
    fig = plot_symbol(bars, trade_plan=plan, symbol="X")
    renderer = _drawn(fig)
    price, boxes = _labels(fig, renderer)
    for name in ("entry", "stop"):  # (the target's may meet the top of the pane)
        box = boxes[name]
        level = float(price.transData.transform((0.0, plan[name]))[1])
        assert (box.y0 + box.y1) / 2 == pytest.approx(level, abs=0.5), name
    # the panes below keep the price pane's width (the margin is made for all)
    assert {round(ax.get_window_extent(renderer).x1) for ax in fig.axes} == {
        round(price.get_window_extent(renderer).x1)
    }


def test_the_labels_follow_a_redraw_at_another_size(bars):
    close = float(bars["close"].iloc[-1])
    fig = plot_symbol(bars, trade_plan=_plan(bars, 0.0005 * close), symbol="X")
    _drawn(fig, 72)
    fig.set_size_inches(5, 3)
    renderer = _drawn(fig, 120)
    _, boxes = _labels(fig, renderer)
    for box_a, box_b in itertools.combinations(boxes.values(), 2):
        assert not box_a.overlaps(box_b)


def test_spread_apart_moves_only_what_overlaps():
    # alone: where wanted; two that overlap: apart by the same amount; order kept
    assert spread_apart([0.0, 50.0, 100.0], [10, 10, 10], gap=2) == [0.0, 50.0, 100.0]
    assert spread_apart([0.0, 1.0, 100.0], [10, 10, 10], gap=2) == [-5.5, 6.5, 100.0]
    assert spread_apart([1.0, 0.0], [10, 10], gap=2) == [6.5, -5.5]
    # a chain: each merge re-centres the whole group on its wanted centres
    assert spread_apart([0.0, 1.0, 5.0], [10, 10, 10], gap=2) == [-10.0, 2.0, 14.0]
    # kept inside the bounds when the group fits
    centres = spread_apart([95.0, 96.0], [10, 10], gap=2, bounds=(0.0, 100.0))
    assert centres == [83.0, 95.0]
    rng = np.random.default_rng(3)
    for _ in range(200):
        wanted = list(rng.uniform(0, 100, 5))
        sizes = list(rng.uniform(1, 12, 5))
        centres = spread_apart(wanted, sizes, gap=1.5)
        boxes = sorted((c - s / 2, c + s / 2) for c, s in zip(centres, sizes, strict=True))
        assert all(low - high >= 1.5 - 1e-9 for (_, high), (low, _) in itertools.pairwise(boxes))
        assert np.argsort(centres).tolist() == np.argsort(wanted).tolist()
