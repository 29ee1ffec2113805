"""What the center has learned from its event log: how long services take, who does not come,
who gives up waiting. Pure: built from plain rows, no SQLite here.

* **Service times**, per service (and per clerk where there are enough of them): the observed
  durations (``finished_at - started_at``) of earlier days and today, mixed with the configured
  prior (``mean_service_min``, a lognormal with a coefficient of variation of 0.8) weighted as
  ``PRIOR_WEIGHT`` observations, so a cold morning starts from the prior and moves to the data.
* **No-shows**: the share of calls that end in a no-show, pooled over services (few per day),
  with a prior of ``NO_SHOW_PRIOR`` weighted as ``NO_SHOW_WEIGHT`` calls; the hold (call to
  no-show) and the walk (call to start) are learned means.
* **Patience**: how long citizens wait before leaving, by Kaplan-Meier on one-minute steps: a
  citizen who left after ``w`` is an event at ``w``; one called (or still waiting) after ``w``
  says only "patience > w".
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Iterable

PRIOR_WEIGHT = 3.0  # the configured mean counts as three services (1 and 2 were noisier on cold days)
PRIOR_CV = 0.8
CLERK_WEIGHT = 20.0   # without a measured spread between clerks (a model built by hand): n / (n + this)
CLERK_MIN = 10        # a clerk's own times are learned from this many services of theirs on
NO_SHOW_PRIOR, NO_SHOW_WEIGHT = 0.05, 20.0
STEP_S = 60.0
HORIZON_S = 6 * 3600.0
_QUANTILES = 64


def _prior_table(mean_s: float) -> list[float]:
    """Quantiles of a lognormal with this mean and coefficient of variation ``PRIOR_CV``."""
    s2 = math.log(1 + PRIOR_CV ** 2)
    mu, sigma = math.log(mean_s) - s2 / 2, math.sqrt(s2)
    nd = NormalDist()
    return [math.exp(mu + sigma * nd.inv_cdf((i + 0.5) / _QUANTILES)) for i in range(_QUANTILES)]


def redistribute(done: list[float], running: list[float]) -> tuple[list[float], list[float]]:
    """Kaplan-Meier as weights (Efron's redistribution to the right): each service still running
    after ``e`` gives its weight to the longer ones (or, if none is longer, stands for a duration
    of ``e``: Efron's convention, a lower bound that cannot run away). Early in the day the short services are the ones that have finished; this
    keeps them from pulling the estimate down."""
    obs = sorted([(d, 0) for d in done] + [(e, 1) for e in running])
    w = [1.0] * len(obs)
    for i, (x, cens) in enumerate(obs):
        if not cens:
            continue
        later = len(obs) - i - 1
        if later:
            share = w[i] / later
            for j in range(i + 1, len(obs)):
                w[j] += share
            w[i] = 0.0
    values, weights = [], []
    for (x, cens), wi in zip(obs, w):
        if wi > 0:
            values.append(x)  # Efron's convention: a running service longer than all is taken as ending now
            weights.append(wi)
    order = sorted(range(len(values)), key=values.__getitem__)
    return [values[i] for i in order], [weights[i] for i in order]


@dataclass
class Durations:
    """One service's (or one clerk's) observed durations with its prior."""
    prior_s: float
    samples: list[float] = field(default_factory=list)  # sorted
    weights: list[float] | None = None                   # None: one each
    _prior: list[float] = field(default_factory=list, repr=False)
    _cum: list[float] = field(default_factory=list, repr=False)
    _tail: float | None = field(default=None, repr=False)
    _scaled: list[float] | None = field(default=None, repr=False)
    _table: tuple | None = field(default=None, repr=False)
    _spread: float | None = field(default=None, repr=False)
    n: float = field(default=0.0, init=False)  # total weight of the data

    def __post_init__(self) -> None:
        if self.weights is None:
            self.samples.sort()
            self.weights = [1.0] * len(self.samples)
        self._prior = _prior_table(self.prior_s)
        total, self._cum = 0.0, []
        for w in self.weights:
            total += w
            self._cum.append(total)
        self.n = total

    def spread(self) -> float:
        """How uncertain the mean still is, as the standard deviation of its logarithm: the
        coefficient of variation over the square root of the data's weight (with the prior's);
        computed once (a forecast reads it for every service)."""
        if self._spread is None:
            self._spread = self._spread_now()
        return self._spread

    def _spread_now(self) -> float:
        if self.n >= 2:
            m = sum(x * w for x, w in zip(self.samples, self.weights)) / self.n
            var = sum(w * (x - m) ** 2 for x, w in zip(self.samples, self.weights)) / self.n
            cv = math.sqrt(var) / m if m > 0 else PRIOR_CV
        else:
            cv = PRIOR_CV
        return cv / math.sqrt(self.n + PRIOR_WEIGHT)

    @property
    def mean(self) -> float:
        return (self.prior_s * PRIOR_WEIGHT + sum(x * w for x, w in zip(self.samples, self.weights))) / (
            PRIOR_WEIGHT + self.n)

    def sample(self, u: float) -> float:
        """The duration at uniform ``u`` of the prior-and-data mixture."""
        n = self.n
        x = u * (n + PRIOR_WEIGHT)
        if x < PRIOR_WEIGHT or not n:
            return self._prior[min(_QUANTILES - 1, int(u * _QUANTILES))]
        return self.samples[min(len(self.samples) - 1, bisect_left(self._cum, x - PRIOR_WEIGHT))]

    def sample_table(self) -> tuple:
        """What ``sample`` reads, for the forecast's inlined copy of it (``paths.py``), made once:
        (n + prior weight, the prior weight: below it the prior's quantile is read (inf: no data),
        the prior's quantiles, the data, their cumulative weights), each list with its last value
        once more at its end, so that an index one past the end (a draw rounded up to 1) reads
        the last value as ``sample``'s ``min()`` does."""
        if self._table is None:
            self._table = (self.n + PRIOR_WEIGHT, PRIOR_WEIGHT if self.n else math.inf, self._prior + self._prior[-1:],
                           self.samples + self.samples[-1:], self._cum)
        return self._table

    def residual_table(self) -> list[float]:
        """The durations ``residual`` reads (the data, or the prior's shape with few data)."""
        return self.samples if len(self.samples) >= 20 else self._scaled_prior()

    def residual(self, elapsed: float, u: float) -> float:
        """Time still to go for a service already ``elapsed`` long."""
        table = self.residual_table()
        i = bisect_right(table, elapsed)
        m = len(table) - i
        if m >= 10:
            return table[i + min(m - 1, int(u * m))] - elapsed
        # longer than almost all we know: an exponential tail with the mean excess of the longest tenth
        return -math.log(1.0 - u * 0.999) * self.tail_mean(table)

    def _scaled_prior(self) -> list[float]:
        """Few data yet: the prior's shape at the mean learned so far (a 20-minute service with an
        8-minute prior must not be expected to end soon because the prior says so)."""
        if self._scaled is None:
            k = self.mean / self.prior_s
            self._scaled = [x * k for x in self._prior]
        return self._scaled

    def tail_mean(self, table: list[float]) -> float:
        if self._tail is None:
            k = int(len(table) * 0.9)
            top = table[k:]
            self._tail = max(1.0, sum(x - table[k] for x in top) / len(top)) if len(top) >= 2 else self.mean
        return self._tail


@dataclass
class Model:
    services: dict[str, Durations]
    clerks: dict[tuple[str, str], Durations] = field(default_factory=dict)
    default_prior_s: float = 480.0
    p_no_show: float = NO_SHOW_PRIOR
    hold_s: float = 60.0
    walk_s: float = 0.0
    survival: list[float] = field(default_factory=list)  # S(k * STEP_S); empty: nobody leaves
    # per (service, clerk): how much of a draw comes from the clerk's own times (``clerk_shares``)
    clerk_share: dict[tuple[str, str], float] = field(default_factory=dict)
    _first_below: list[int] | None = field(default=None, repr=False)

    def own_share(self, service: str, clerk: str) -> float:
        """The weight of the clerk's own times in their draws of ``service`` (0 without them)."""
        own = self.clerks.get((service, clerk))
        if own is None:
            return 0.0
        share = self.clerk_share.get((service, clerk))
        return own.n / (own.n + CLERK_WEIGHT) if share is None else share

    def with_fixed_clerk_weight(self) -> "Model":
        """The same model with every clerk's own times weighed n / (n + ``CLERK_WEIGHT``), as
        before the empirical-Bayes weights: what the live advice plays (``advice/live.py``). Its
        rules (two standard errors, a citizen, three draws) were set and checked on these; with the
        empirical-Bayes weights the simulated director applied reorderings that lived -0.4 to -1.3
        points on three of 33 days (docs/performance.md, sections 9 and 12)."""
        return replace(self, clerk_share={}, _first_below=None)

    def durations(self, service: str) -> Durations:
        d = self.services.get(service)
        if d is None:
            d = self.services[service] = Durations(self.default_prior_s)
        return d

    def service_sample(self, service: str, u: float, clerk: str | None = None, scale: float = 1.0) -> float:
        return self.sampler(service, clerk, scale)(u)

    def sampler(self, service: str, clerk: str | None = None, scale: float = 1.0):
        """``f(u)``: a duration of ``service`` at uniform ``u``, times ``scale`` (a path's draw of
        how far the true mean may be from the learned one); with enough data of this clerk, from
        theirs with the weight ``own_share`` gives them, else from the service's."""
        base = self.durations(service).sample
        own = self.clerks.get((service, clerk)) if clerk is not None else None
        share = self.own_share(service, clerk) if own is not None else 0.0
        if own is None or share <= 0.0:
            if scale == 1.0:
                return base
            return lambda u: base(u) * scale
        own_sample = own.sample

        def f(u: float) -> float:
            return scale * (own_sample(u / share) if u < share else base((u - share) / (1.0 - share)))
        return f

    def mean_service_s(self, service: str) -> float:
        return self.durations(service).mean

    def patience_table(self) -> tuple[list[float], list[int], float, int]:
        """(survival per step, first step at or below each level, step in s, levels): what
        ``leave_after`` reads, for the forecast's inlined copy of it (``paths.py``)."""
        if self._first_below is None:
            self._first_below = _first_below(self.survival)
        return self.survival, self._first_below, STEP_S, _LEVELS

    def leave_after(self, waited: float, u: float) -> float:
        """Seconds until a citizen who has waited ``waited`` leaves (inf: stays), at uniform ``u``."""
        s = self.survival
        if not s:
            return math.inf
        if self._first_below is None:
            self._first_below = _first_below(s)
        k = min(len(s) - 1, int(waited / STEP_S))
        # the first step whose survival is at or below S(waited) * u (s is non-increasing)
        i = self._first_below[int(s[k] * u * _LEVELS)]
        if i >= len(s):
            return math.inf
        return max(0.0, max(i, k) * STEP_S - waited)


_LEVELS = 2000


def _first_below(s: list[float]) -> list[int]:
    """For each level p = j / _LEVELS, the first index whose survival is at or below p (len(s) if
    none): the inverse of the survival curve as a table, so drawing a patience is one look-up."""
    out, i = [], len(s)
    for j in range(_LEVELS + 1):  # p going up, the first index at or below it going down
        p = j / _LEVELS
        while i > 0 and s[i - 1] <= p:
            i -= 1
        out.append(i)
    return out


def kaplan_meier(left: Iterable[float], stayed: Iterable[float]) -> list[float]:
    """Survival of patience on ``STEP_S`` steps: ``left`` waits ended by leaving, ``stayed``
    waits that ended otherwise (called, or still waiting). Empty when nobody ever left."""
    steps = int(HORIZON_S / STEP_S) + 1
    events = [0] * steps
    censored = [0] * steps
    n_left = 0
    for w in left:
        events[min(steps - 1, int(max(w, 0.0) / STEP_S))] += 1
        n_left += 1
    if not n_left:
        return []
    total = n_left
    for w in stayed:
        censored[min(steps - 1, int(max(w, 0.0) / STEP_S))] += 1
        total += 1
    at_risk, s, out = total, 1.0, []
    for k in range(steps):
        out.append(s)  # S at the start of step k
        if at_risk > 0:
            s *= 1.0 - events[k] / at_risk
        at_risk -= events[k] + censored[k]
    return out


@dataclass
class Observations:
    """The rows a model is learned from (the glue reads them from the event log)."""
    durations: list[tuple[str, str | None, float]] = field(default_factory=list)  # service, clerk, seconds
    running: list[tuple[str, float]] = field(default_factory=list)  # services in progress: service, elapsed
    calls: int = 0
    no_shows: int = 0
    holds: list[float] = field(default_factory=list)
    walks: list[float] = field(default_factory=list)
    left: list[float] = field(default_factory=list)
    stayed: list[float] = field(default_factory=list)

    def extend(self, other: "Observations") -> "Observations":
        return Observations(self.durations + other.durations, self.running + other.running, self.calls + other.calls,
                            self.no_shows + other.no_shows, self.holds + other.holds, self.walks + other.walks,
                            self.left + other.left, self.stayed + other.stayed)


def learn(obs: Observations, priors_s: dict[str, float], default_prior_s: float = 480.0) -> Model:
    by_service: dict[str, list[float]] = {}
    by_clerk: dict[tuple[str, str], list[float]] = {}
    for service, clerk, d in obs.durations:
        by_service.setdefault(service, []).append(d)
        if clerk:
            by_clerk.setdefault((service, clerk), []).append(d)
    running: dict[str, list[float]] = {}
    for service, elapsed in obs.running:
        running.setdefault(service, []).append(elapsed)
    services = {}
    for code in set(priors_s) | set(by_service) | set(running):
        values, weights = redistribute(by_service.get(code, []), running.get(code, []))
        services[code] = Durations(priors_s.get(code, default_prior_s), values, weights)
    clerks = {k: Durations(services[k[0]].mean, ds) for k, ds in by_clerk.items() if len(ds) >= CLERK_MIN}
    shares = clerk_shares(obs.durations)
    p = (obs.no_shows + NO_SHOW_PRIOR * NO_SHOW_WEIGHT) / (obs.calls + NO_SHOW_WEIGHT)
    hold = sum(obs.holds) / len(obs.holds) if obs.holds else 60.0
    walk = sorted(obs.walks)[len(obs.walks) // 2] if obs.walks else 0.0
    return Model(services, clerks, default_prior_s, p, hold, walk, kaplan_meier(obs.left, obs.stayed),
                 clerk_share={k: shares.get(k, 0.0) for k in clerks})


def clerk_shares(rows: Iterable[tuple[str, str | None, float]]) -> dict[tuple[str, str], float]:
    """How far each clerk's own times are to be trusted over the service's, by empirical Bayes on
    the logarithm of the durations (``rows``: service, clerk, seconds). Per service, the means of
    the clerks with ``CLERK_MIN`` services or more (and of the rest of the service's, as one more
    group) vary by the spread of the durations over their counts, and by a real difference between
    clerks, ``tau2`` (method of moments: 0 when the means vary no more than chance says). A clerk's
    weight is ``tau2 / (tau2 + sigma2 / n)``: near 1 for a clerk who really is slower or faster and
    has served enough, 0 where the clerks do not differ (their own few dozen times would only be a
    noisier copy of the service's, thinner in its tail)."""
    logs: dict[str, dict[str | None, list[float]]] = {}
    for service, clerk, d in rows:
        logs.setdefault(service, {}).setdefault(clerk or None, []).append(math.log(max(d, 1.0)))
    out: dict[tuple[str, str], float] = {}
    for service, by in logs.items():
        mine = {c: xs for c, xs in by.items() if c is not None and len(xs) >= CLERK_MIN}
        if not mine:
            continue
        rest = [x for c, xs in by.items() if c not in mine for x in xs]
        groups = list(mine.values()) + ([rest] if len(rest) >= CLERK_MIN else [])
        if len(groups) < 2:
            continue  # one clerk and nobody to compare with: no evidence of a difference
        means = [sum(g) / len(g) for g in groups]
        within = sum((x - m) ** 2 for g, m in zip(groups, means) for x in g)
        dof = sum(len(g) - 1 for g in groups)
        sigma2 = within / dof if dof > 0 else 0.0
        grand = sum(means) / len(means)
        between = sum((m - grand) ** 2 for m in means) / (len(means) - 1)
        tau2 = max(0.0, between - sigma2 * sum(1.0 / len(g) for g in groups) / len(groups))
        for clerk, xs in mine.items():
            noise = sigma2 / len(xs)
            out[(service, clerk)] = tau2 / (tau2 + noise) if tau2 + noise > 0 else 0.0
    return out


__all__ = ["Durations", "Model", "Observations", "clerk_shares", "kaplan_meier", "learn", "redistribute"]
