"""User subscores: thresholds, cross-sectional ranks and the UserSubscore object."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from technic_nb.core.errors import ScanError
from technic_nb.core.scoring.user import (
    RankMapper,
    ThresholdMapper,
    UserSubscore,
    by_rank,
    by_thresholds,
    cross_sectional_rank,
    thresholds,
)

NAN = float("nan")


def series(*values: float) -> pd.Series:
    return pd.Series(values, index=[f"S{i}" for i in range(len(values))], name="x", dtype=float)


# -- thresholds ---------------------------------------------------------------------------------


def test_thresholds_edges_are_inclusive():
    values = series(-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 9.0, NAN, np.inf, -np.inf)
    points = thresholds(values, [(0.0, -1.0), (1.0, 1.0), (2.0, 3.0)], below=-3.0)
    assert points.tolist()[:7] == [-3.0, -1.0, -1.0, 1.0, 1.0, 3.0, 3.0]
    assert np.isnan(points.iloc[7])
    assert points.iloc[8] == 3.0 and points.iloc[9] == -3.0
    assert points.index.equals(values.index) and points.name == "x"


def test_thresholds_default_below_is_zero_and_points_need_not_be_monotone():
    points = thresholds(series(10, 35, 50, 65, 80), [(30, -2), (45, 0), (55, 2), (70, 1)])
    assert points.tolist() == [0.0, -2.0, 0.0, 2.0, 1.0]


def test_thresholds_accept_integer_and_nullable_columns():
    values = pd.Series([1, None, 3], dtype="Int64")
    assert thresholds(values, [(2, 1)]).tolist()[::2] == [0.0, 1.0]
    assert np.isnan(thresholds(values, [(2, 1)]).iloc[1])


@pytest.mark.parametrize(
    ("levels", "below", "field"),
    [
        ([], 0.0, "levels"),
        ("abc", 0.0, "levels"),
        (5, 0.0, "levels"),
        ([(1.0, 1.0), (1.0, 2.0)], 0.0, "levels"),  # not strictly increasing
        ([(2.0, 1.0), (1.0, 2.0)], 0.0, "levels"),
        ([(1.0,)], 0.0, "levels[0]"),
        ([(1.0, 1.0), 3], 0.0, "levels[1]"),
        ([(NAN, 1.0)], 0.0, "levels[0][0]"),
        ([(np.inf, 1.0)], 0.0, "levels[0][0]"),
        ([("1", 1.0)], 0.0, "levels[0][0]"),
        ([(1.0, 3.5)], 0.0, "levels[0][1]"),
        ([(1.0, NAN)], 0.0, "levels[0][1]"),
        ([(1.0, True)], 0.0, "levels[0][1]"),
        ([(1.0, 1.0)], -4.0, "below"),
        ([(1.0, 1.0)], NAN, "below"),
    ],
)
def test_thresholds_validation(levels, below, field):
    with pytest.raises(ScanError) as info:
        thresholds(series(1.0), levels, below=below)
    assert info.value.error_type.value == "config_error"
    assert info.value.details["field"] == field
    with pytest.raises(ScanError):
        by_thresholds(levels, below=below)


def test_thresholds_refuse_text_columns():
    with pytest.raises(TypeError, match="must hold numbers"):
        thresholds(pd.Series(["a", "b"], name="signal"), [(1, 1)])
    with pytest.raises(TypeError, match="pandas Series"):
        thresholds(3.0, [(1, 1)])  # type: ignore[arg-type]


# -- ranks ----------------------------------------------------------------------------------------


def test_rank_maps_linearly_to_minus_three_three():
    values = series(10.0, 30.0, 20.0, 40.0)
    assert cross_sectional_rank(values).tolist() == [-3.0, 1.0, -1.0, 3.0]
    assert cross_sectional_rank(values, ascending=False).tolist() == [3.0, -1.0, 1.0, -3.0]


def test_rank_ties_share_the_mean_rank_and_nan_is_skipped():
    values = series(1.0, 2.0, 2.0, NAN, 3.0, np.inf)
    scores = cross_sectional_rank(values)
    # Known values 1, 2, 2, 3 (n = 4): ranks 1, 2.5, 2.5, 4.
    assert scores.iloc[[0, 1, 2, 4]].tolist() == [-3.0, 0.0, 0.0, 3.0]
    assert scores.iloc[[3, 5]].isna().all()


def test_rank_of_one_or_no_known_value():
    assert cross_sectional_rank(series(NAN, 5.0)).iloc[1] == 0.0
    assert cross_sectional_rank(series(NAN, NAN)).isna().all()
    assert cross_sectional_rank(series()).empty


def test_rank_validation():
    with pytest.raises(ScanError) as info:
        cross_sectional_rank(series(1.0), ascending="yes")  # type: ignore[arg-type]
    assert info.value.details["field"] == "ascending"
    with pytest.raises(ScanError):
        by_rank(1)  # type: ignore[arg-type]


# -- mappers and UserSubscore ---------------------------------------------------------------------


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {"bollinger_width": [0.03, 0.08, 0.2, NAN], "adx_adx": [10.0, 25.0, 40.0, 30.0]},
        index=pd.Index(["A", "B", "C", "D"], name="symbol"),
    )


def test_mappers_are_frozen_and_picklable(table):
    mapper = by_thresholds([(0.05, 0), (0.1, -1)], below=2)
    assert isinstance(mapper, ThresholdMapper)
    assert mapper.levels == ((0.05, 0.0), (0.1, -1.0)) and mapper.below == 2.0
    clone = pickle.loads(pickle.dumps(mapper))
    pd.testing.assert_series_equal(
        clone(table["bollinger_width"]), mapper(table["bollinger_width"])
    )
    assert isinstance(by_rank(), RankMapper)
    assert pickle.loads(pickle.dumps(by_rank(False))) == by_rank(False)


def test_user_subscore_scores_and_clips(table):
    squeeze = UserSubscore(
        "squeeze", "bollinger_width", by_thresholds([(0.05, 0), (0.1, -1)], below=2)
    )
    scores = squeeze.score(table)
    assert scores.name == "squeeze" and scores.index.equals(table.index)
    assert scores.tolist()[:3] == [2.0, 0.0, -1.0] and np.isnan(scores.iloc[3])

    trend = UserSubscore("trend_strength", "adx_adx", by_rank(), weight=2)
    assert trend.weight == 2.0
    assert trend.score(table).tolist() == [-3.0, -1.0, 3.0, 1.0]

    wild = UserSubscore("wild", "adx_adx", lambda s: s - 20)
    assert wild.score(table).tolist() == [-3.0, 3.0, 3.0, 3.0]
    arrays = UserSubscore("arrays", "adx_adx", lambda s: np.array([np.inf, -np.inf, NAN, 1]))
    result = arrays.score(table)
    assert result.iloc[[0, 1, 3]].tolist() == [3.0, -3.0, 1.0] and np.isnan(result.iloc[2])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "trend"}, "name"),  # a built-in subscore
        ({"name": "_x"}, "name"),
        ({"name": "a b"}, "name"),
        ({"name": "for"}, "name"),
        ({"name": 3}, "name"),
        ({"column": ""}, "column"),
        ({"column": None}, "column"),
        ({"mapper": "rank"}, "mapper"),
        ({"weight": -1}, "weight"),
        ({"weight": NAN}, "weight"),
        ({"weight": True}, "weight"),
        ({"weight": "1"}, "weight"),
    ],
)
def test_user_subscore_validation(kwargs, field):
    arguments = {"name": "extra", "column": "adx_adx", "mapper": by_rank(), "weight": 1.0}
    arguments.update(kwargs)
    with pytest.raises(ScanError) as info:
        UserSubscore(**arguments)
    assert info.value.error_type.value == "config_error"
    assert info.value.details["field"] == field


def test_user_subscore_missing_column_names_close_matches(table):
    with pytest.raises(ScanError, match="close matches: adx_adx"):
        UserSubscore("extra", "adx_ad", by_rank()).score(table)


def test_user_subscore_mapper_must_align(table):
    shifted = UserSubscore("x", "adx_adx", lambda s: s.reset_index(drop=True))
    with pytest.raises(TypeError, match="index is not the table's index"):
        shifted.score(table)
    short = UserSubscore("x", "adx_adx", lambda s: [1.0])
    with pytest.raises(TypeError, match="must return 4 values"):
        short.score(table)
