"""Arrival and AHT forecasts per interval: MSTL and Holt-Winters (statsmodels) chosen by backtest against
the seasonal-naive baseline, with prediction intervals and holiday handling."""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MIN_WEEKS = 3  # two weekly cycles to fit on, one more held out for the backtest
MAX_WEEKS_AHEAD = 6
Z80 = 1.2815515655446004  # the 80 % prediction interval's half-width in standard deviations
DEFAULT_AHT = 180.0


class ForecastError(ValueError):
    """A forecast that cannot be made; the message says what is missing (e.g. how much history is needed)."""


@dataclass(frozen=True, slots=True)
class History:
    """Observed traffic of one queue and channel: one value per interval from `start` (epoch seconds)."""

    start: float
    step: int  # 900 or 1800
    arrivals: np.ndarray
    handle_seconds: np.ndarray  # total handle time of the contacts handled in each interval
    handled: np.ndarray
    holidays: np.ndarray | None = None  # True for intervals on a holiday (left out of training and the backtest)

    @property
    def per_day(self) -> int:
        """Intervals in a day."""
        return 86_400 // self.step

    @property
    def per_week(self) -> int:
        """Intervals in a week."""
        return 7 * self.per_day


@dataclass(slots=True)
class Forecast:
    """Arrivals (with an 80 % band) and AHT per interval from `start`, and how the model was chosen."""

    start: float
    step: int
    model: str
    arrivals: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    aht: np.ndarray
    wape: float  # the chosen model's error on the held-out last week
    baseline_wape: float  # seasonal naive (same interval last week) on the same week
    backtests: dict[str, float] = field(default_factory=dict)  # every candidate's WAPE
    history_weeks: float = 0.0
    level: float = 0.8

    def as_json(self, tz: dt.tzinfo | None = None) -> dict[str, Any]:
        """A JSON-ready summary and one row per interval (times ISO 8601 in `tz`, UTC by default)."""
        zone = tz or dt.UTC
        rows = [{"start": dt.datetime.fromtimestamp(self.start + i * self.step, zone).isoformat(),
                 "arrivals": round(float(a), 2), "lower": round(float(lo), 2), "upper": round(float(hi), 2),
                 "aht": round(float(h), 1)}
                for i, (a, lo, hi, h) in enumerate(zip(self.arrivals, self.lower, self.upper, self.aht, strict=True))]
        return {"start": rows[0]["start"] if rows else None, "interval_seconds": self.step, "model": self.model,
                "wape": _round(self.wape), "baseline_wape": _round(self.baseline_wape),
                "backtests": {k: _round(v) for k, v in self.backtests.items()}, "level": self.level,
                "history_weeks": round(self.history_weeks, 2), "intervals": rows}


def _round(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Σ|actual − forecast| ÷ Σ actual (nan when nothing arrived)."""
    total = float(np.sum(actual))
    return float(np.sum(np.abs(actual - forecast))) / total if total > 0 else math.nan


def seasonal_naive(y: np.ndarray, horizon: int, per_week: int) -> np.ndarray:
    """The same interval one week earlier (the baseline)."""
    last = y[-per_week:]
    return np.resize(last, horizon).astype(float)


def mstl(y: np.ndarray, horizon: int, per_day: int, per_week: int) -> np.ndarray:
    """MSTL with daily and weekly seasonality: each seasonal component repeats its last cycle, the rest
    (trend + remainder) goes on at its exponentially smoothed level."""
    from statsmodels.tsa.holtwinters import SimpleExpSmoothing
    from statsmodels.tsa.seasonal import MSTL

    if len(y) <= 2 * per_week:  # MSTL would silently drop the weekly season
        raise ValueError("MSTL needs more than two weekly cycles")
    res = MSTL(y, periods=(per_day, per_week)).fit()
    seasonal = np.asarray(res.seasonal).reshape(len(y), -1)
    out = np.zeros(horizon)
    for col, period in zip(range(seasonal.shape[1]), (per_day, per_week), strict=True):
        cycle = seasonal[-period:, col]
        out += np.resize(cycle, horizon)
    rest = np.asarray(res.trend) + np.asarray(res.resid)
    level = SimpleExpSmoothing(rest, initialization_method="estimated").fit().forecast(horizon)
    return np.asarray(out + np.asarray(level), dtype=float)


def holt_winters(y: np.ndarray, horizon: int, per_day: int, per_week: int,
                 smoothing_seasonal: float | None = None) -> np.ndarray:
    """Additive Holt-Winters (ETS A,N,A) with a weekly season; every smoothing parameter fitted unless
    `smoothing_seasonal` is given."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(y, seasonal="add", seasonal_periods=per_week, initialization_method="heuristic")
    return np.asarray(model.fit(smoothing_seasonal=smoothing_seasonal).forecast(horizon))


def holt_winters_steady(y: np.ndarray, horizon: int, per_day: int, per_week: int) -> np.ndarray:
    """Holt-Winters with the weekly pattern smoothed over several weeks (gamma 0.15): fitted gammas chase one
    noisy week, while a contact center's weekly pattern is stable."""
    return holt_winters(y, horizon, per_day, per_week, smoothing_seasonal=0.15)


Model = Callable[[np.ndarray, int, int, int], np.ndarray]
MODELS: dict[str, Model] = {"mstl": mstl, "holt_winters": holt_winters, "holt_winters_steady": holt_winters_steady}


def _run(model: Model, y: np.ndarray, horizon: int, per_day: int, per_week: int) -> np.ndarray | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the optimiser; a bad fit loses the backtest
        try:
            out = model(y, horizon, per_day, per_week)
        except (ValueError, np.linalg.LinAlgError):
            return None
    return np.clip(out, 0.0, None) if np.all(np.isfinite(out)) else None


def fill_holidays(y: np.ndarray, mask: np.ndarray | None, per_week: int) -> np.ndarray:
    """Holiday intervals replaced by the same interval of the nearest ordinary week (before, else after)."""
    if mask is None or not mask.any():
        return y.astype(float)
    out = y.astype(float).copy()
    for i in np.flatnonzero(mask):
        for j in (i - per_week, i + per_week, i - 2 * per_week, i + 2 * per_week):
            if 0 <= j < len(y) and not mask[j]:
                out[i] = y[j]
                break
        else:
            same = [y[k] for k in range(i % per_week, len(y), per_week) if not mask[k]]
            out[i] = float(np.mean(same)) if same else 0.0
    return out


def trim_leading(history: History) -> History:
    """Drop the whole days before the first contact (the queue did not exist yet)."""
    nonzero = np.flatnonzero(history.arrivals)
    first_day = int(nonzero[0]) // history.per_day if len(nonzero) else len(history.arrivals) // history.per_day
    cut = first_day * history.per_day
    if not cut:
        return history
    return History(history.start + cut * history.step, history.step, history.arrivals[cut:],
                   history.handle_seconds[cut:], history.handled[cut:],
                   None if history.holidays is None else history.holidays[cut:])


def needed_message(history: History) -> str:
    """What a forecast with too little history says."""
    minutes = history.step // 60
    have = len(history.arrivals) / history.per_day
    return (f"a forecast needs at least {MIN_WEEKS} weeks of history ({MIN_WEEKS * history.per_week} "
            f"{minutes}-minute intervals: two to fit the weekly pattern, one to test it); there are {have:.1f} days")


def aht_profile(history: History, horizon: int, weeks: int = 4) -> np.ndarray:
    """AHT per interval of the week: handle time ÷ handled over the last `weeks` ordinary weeks, falling back
    to the interval of the day, then to the whole period (a ratio of sums: quiet intervals do not skew it)."""
    n, pw, pd = len(history.arrivals), history.per_week, history.per_day
    keep = slice(max(0, n - weeks * pw), n)
    secs, count = history.handle_seconds[keep].astype(float), history.handled[keep].astype(float)
    if history.holidays is not None:
        ordinary = ~history.holidays[keep]
        secs, count = secs * ordinary, count * ordinary
    offset = keep.start or 0
    week_s, week_n = np.zeros(pw), np.zeros(pw)
    np.add.at(week_s, (np.arange(len(secs)) + offset) % pw, secs)
    np.add.at(week_n, (np.arange(len(count)) + offset) % pw, count)
    day_s = week_s.reshape(7, pd).sum(axis=0)
    day_n = week_n.reshape(7, pd).sum(axis=0)
    overall = float(secs.sum() / count.sum()) if count.sum() else DEFAULT_AHT
    by_day = np.where(day_n > 0, day_s / np.maximum(day_n, 1), overall)
    by_week = np.where(week_n >= 5, week_s / np.maximum(week_n, 1), np.tile(by_day, 7))
    return np.resize(np.roll(by_week, -(n % pw)), horizon)


def make_forecast(history: History, weeks: int, uplift: Mapping[int, float] | None = None,
                  models: Mapping[str, Model] = MODELS) -> Forecast:
    """Forecast `weeks` weeks from the end of `history`: every model is backtested on the last week (trained on
    the weeks before), the best of them and the seasonal-naive baseline is refitted on everything.

    `uplift` maps an interval index of the horizon to a factor (holidays ahead: e.g. 1.3 or 0.2)."""
    if not 1 <= weeks <= MAX_WEEKS_AHEAD:
        raise ForecastError(f"weeks must be between 1 and {MAX_WEEKS_AHEAD}; got {weeks}")
    if history.step not in (900, 1800):
        raise ForecastError("the interval must be 15 or 30 minutes")
    history = trim_leading(history)
    pd_, pw = history.per_day, history.per_week
    if len(history.arrivals) < MIN_WEEKS * pw:
        raise ForecastError(needed_message(history))
    y = fill_holidays(history.arrivals, history.holidays, pw)
    train, test = y[:-pw], history.arrivals[-pw:]
    ordinary = np.ones(pw, bool) if history.holidays is None else ~history.holidays[-pw:]
    baseline = seasonal_naive(train, pw, pw)
    baseline_wape = wape(test[ordinary], baseline[ordinary])
    backtests = {"seasonal_naive": baseline_wape}
    tested: dict[str, np.ndarray] = {"seasonal_naive": baseline}
    for name, model in models.items():
        out = _run(model, train, pw, pd_, pw)
        if out is not None:
            tested[name] = out
            backtests[name] = wape(test[ordinary], out[ordinary])
    scored = {k: v for k, v in backtests.items() if not math.isnan(v)}
    chosen = min(scored, key=lambda k: (scored[k], k != "seasonal_naive")) if scored else "seasonal_naive"
    horizon = weeks * pw
    mean = seasonal_naive(y, horizon, pw) if chosen == "seasonal_naive" else _run(models[chosen], y, horizon, pd_, pw)
    if mean is None:  # refitting on everything failed where the backtest fit did not: fall back, say so
        chosen, mean = "seasonal_naive", seasonal_naive(y, horizon, pw)
    # Band: the backtest's squared errors relative to the forecast level (variance grows with the level, as
    # for Poisson counts), so quiet intervals get narrow bands and peaks wide ones.
    fit = tested[chosen][ordinary]
    err = (test[ordinary] - fit) ** 2
    dispersion = float(err.sum() / np.maximum(fit, 0.5).sum()) if len(fit) else 1.0
    spread = Z80 * np.sqrt(dispersion * np.maximum(mean, 0.5))
    if uplift:
        factors = np.ones(horizon)
        for i, f in uplift.items():
            if 0 <= i < horizon:
                factors[i] = f
        mean, spread = mean * factors, spread * factors
    return Forecast(
        start=history.start + len(history.arrivals) * history.step, step=history.step, model=chosen,
        arrivals=mean, lower=np.clip(mean - spread, 0, None), upper=mean + spread,
        aht=aht_profile(history, horizon), wape=backtests[chosen], baseline_wape=baseline_wape, backtests=backtests,
        history_weeks=len(history.arrivals) / pw)
