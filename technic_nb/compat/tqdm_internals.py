"""What technic_nb relies on in tqdm beyond its documented arguments (the one place).

* **The notebook bar's widgets.**  tqdm's notebook bar keeps them in
  ``bar.container``: an ``HBox`` whose three children are the description
  (``HTML``), the bar (``FloatProgress``, whose ``max`` is the total) and the
  figures (``HTML``).  tqdm sets the bar's ``max`` only when the bar is made or
  ``reset``, so a stage whose total changes while it runs needs
  :func:`set_notebook_total`; :func:`bar_view` reads what a bar shows.
* **A bar's clock.**  The console bars show each stage's own time, not the time
  since the bar was made: :func:`set_elapsed` sets the start of the bar's clock
  (``start_t``, read through tqdm's ``_time``), and :func:`mark_printed` its last
  print (``last_print_t``: tqdm does not print again a bar it thinks unprinted).

``tests/test_compat.py`` fails loudly if a tqdm release changes any of these (tested
with tqdm 4.66 to 4.x, the range ``pyproject.toml`` allows).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

__all__ = [
    "BarView",
    "bar_view",
    "mark_printed",
    "notebook_bar_parts",
    "set_elapsed",
    "set_notebook_total",
]


def notebook_bar_parts(bar: Any) -> tuple[widgets.HTML, widgets.FloatProgress, widgets.HTML]:
    """The description, the progress bar and the figures of a tqdm notebook bar.

    Raises:
        TypeError: when tqdm's container is not laid out as this module expects.
    """
    children = tuple(getattr(getattr(bar, "container", None), "children", ()))
    if len(children) != 3 or not (
        isinstance(children[0], widgets.HTML)
        and isinstance(children[1], widgets.FloatProgress)
        and isinstance(children[2], widgets.HTML)
    ):
        kinds = [type(child).__name__ for child in children]
        raise TypeError(
            "tqdm.notebook's bar is not an HBox of HTML, FloatProgress and HTML "
            f"(found {kinds}); this tqdm release is not supported by technic_nb's panel"
        )
    return children[0], children[1], children[2]


def set_notebook_total(bar: Any, total: int) -> None:
    """Change a running notebook bar's total without restarting its clock."""
    bar.total = total
    notebook_bar_parts(bar)[1].max = max(total, 1)


@dataclass(frozen=True)
class BarView:
    """What one bar shows: its texts, how full it is, and its colour style."""

    description: str
    figures: str
    value: float
    max: float
    bar_style: str

    @property
    def text(self) -> str:
        """The bar's line as text: the description, then the figures."""
        return f"{self.description}|{self.figures}"


def bar_view(bar: Any) -> BarView:
    """What ``bar`` (a tqdm notebook bar) shows now."""
    left, progress, right = notebook_bar_parts(bar)
    return BarView(
        html.unescape(left.value).replace("\u2007", " "),
        html.unescape(right.value).replace("\u2007", " "),
        float(progress.value),
        float(progress.max),
        str(progress.bar_style),
    )


def set_elapsed(bar: Any, seconds: float) -> None:
    """Make a tqdm bar's clock show ``seconds`` elapsed now."""
    bar.start_t = bar._time() - seconds


def mark_printed(bar: Any) -> None:
    """Tell a tqdm bar it was printed just now (so that closing it prints it)."""
    bar.last_print_t = bar._time()
