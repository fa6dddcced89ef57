"""Engagement sums for many contacts at once, on arrays: the bulk path's engine (pure).

The input is one engagement rule's matching occurrences in recorded (id) order, as two
aligned arrays: the contact and the time in microseconds since the epoch. The output is, per
contact, what :func:`leadflow.scoring.decay.apply` would have built folding them one by one:
- the caps count occurrences in recorded order: of each contact's occurrences on one UTC day
  the first ``per_day`` score, and of those the first ``total`` (once the total is reached
  nothing more scores, so filtering per day first gives the same set);
- the value is ``points * sum(2^((t - ref) / half_life))`` over the scored occurrences,
  ``ref`` being the latest of them (weights relative to it stay in (0, 1]; relative to now a
  short half-life would underflow to zero);
- the per-day counts of the scored occurrences, for rules with a per-day cap.

Sorting is the whole cost, so each step sorts only what it must: a stable sort by (contact,
day) keeps recorded order inside each group, and only the survivors of the per-day cap are
sorted again by contact. The same answers as replaying events to 1e-9 relative, which the
property tests in ``tests/scoring/test_bulk.py`` hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from leadflow.scoring.model import Bands, Group, GroupKind, ScoringModel

DAY_MICROS = 86_400_000_000
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal(): day ordinals as utc_day gives them

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class RuleSums:
    """One rule's state for every contact it scored for, contacts ascending."""

    contacts: Ints
    value: Floats  # the decayed sum at ref, points included
    ref: Ints  # the latest scored occurrence, microseconds since the epoch
    total: Ints  # how many occurrences scored
    # Rules with a per-day cap: the scored occurrences per (contact, day), sorted by both;
    # day is a date ordinal. Empty arrays for other rules.
    day_contacts: Ints
    days: Ints
    day_counts: Ints

    def select(self, rows: Any, day_rows: Any) -> RuleSums:
        """Some contacts' sums: ``rows`` picks from the per-contact arrays (a mask or a
        slice), ``day_rows`` from the per-day ones."""
        return RuleSums(
            contacts=self.contacts[rows],
            value=self.value[rows],
            ref=self.ref[rows],
            total=self.total[rows],
            day_contacts=self.day_contacts[day_rows],
            days=self.days[day_rows],
            day_counts=self.day_counts[day_rows],
        )


def rule_sums(
    contact: Ints,
    at: Ints,
    *,
    points: float,
    per_day: int | None,
    total: int | None,
    half_life: int | None,
) -> RuleSums:
    """The rule's state per contact from its occurrences in recorded order (``half_life``
    in microseconds; None: no decay)."""
    day = at // DAY_MICROS
    # Positions of the occurrences, grouped by contact (and day), recorded order inside.
    order = _grouped(contact, day if per_day is not None else None)
    if per_day is not None:
        order = order[_rank(_runs(contact[order], day[order]), order.size) < per_day]
    if total is not None:
        # The total counts in recorded order: the day-sorted survivors sorted again by
        # position (runs already in order: a stable sort of nearly sorted input is quick).
        by_position = order[np.argsort(_pack(contact[order], order), kind="stable")]
        kept = by_position[_rank(_starts(contact[by_position]), order.size) < total]
        if per_day is not None:  # back in (contact, day) order
            marked = np.zeros(contact.size, dtype=bool)
            marked[kept] = True
            kept = order[marked[order]]
        order = kept
    contact, at, day = contact[order], at[order], day[order]
    starts = _starts(contact)
    counts = np.diff(np.append(starts, contact.size))
    ref = np.maximum.reduceat(at, starts) if contact.size else at[:0]
    if half_life is None:
        weights = np.ones(contact.size)
    else:
        # (t - ref) / half_life on the exact integers, as decay_micros divides them.
        weights = np.exp2((at - np.repeat(ref, counts)) / half_life)
    sums = np.add.reduceat(weights, starts) if contact.size else weights[:0]
    empty = np.empty(0, dtype=np.int64)
    day_contacts = days = day_counts = empty
    if per_day is not None:
        day_starts = _runs(contact, day)
        day_contacts, days = contact[day_starts], day[day_starts] + EPOCH_ORDINAL
        day_counts = np.diff(np.append(day_starts, contact.size)).astype(np.int64)
    return RuleSums(
        contacts=contact[starts],
        value=points * sums,
        ref=ref,
        total=counts.astype(np.int64),
        day_contacts=day_contacts,
        days=days,
        day_counts=day_counts,
    )


def _grouped(contact: Ints, day: Ints | None) -> Ints:
    """Positions sorted by (contact, day, position): one sort of packed integers when they
    fit in 63 bits (sorting values beats argsort), else a lexsort."""
    n = contact.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    group = contact - contact.min()
    if day is not None:
        first, span = int(day.min()), int(day.max() - day.min()) + 1
        if int(group.max()) >= (1 << 62) // span:
            return np.lexsort((np.arange(n), day, contact)).astype(np.int64)
        group = group * span + (day - first)
    bits = n.bit_length()
    if int(group.max()) >= 1 << (62 - bits):
        keys = (day, contact) if day is not None else (contact,)
        return np.lexsort((np.arange(n), *keys)).astype(np.int64)
    packed = np.sort((group << bits) | np.arange(n))
    return packed & ((1 << bits) - 1)


def _pack(contact: Ints, position: Ints) -> Ints:
    """One sortable integer per (contact, position), or a rank of the pairs if too big."""
    if contact.size == 0:
        return contact
    bits = int(position.max()).bit_length()
    group = contact - contact.min()
    if int(group.max()) < 1 << (62 - bits):
        packed: Ints = (group << bits) | position
        return packed
    return np.asarray(np.lexsort((position, contact)).argsort(), dtype=np.int64)


def _runs(contact: Ints, day: Ints) -> Ints:
    """Where each run of equal (contact, day) begins, the pairs being grouped."""
    if contact.size == 0:
        return np.empty(0, dtype=np.int64)
    new = (contact[1:] != contact[:-1]) | (day[1:] != day[:-1])
    return np.flatnonzero(np.concatenate(([True], new)))


def _rank(starts: Ints, size: int) -> Ints:
    """Each element's place in its run (0 first), from where the runs of ``size`` begin."""
    return np.arange(size) - np.repeat(starts, np.diff(np.append(starts, size)))


def _starts(ordered: Ints) -> Ints:
    """Where each run of equal values begins in a sorted array."""
    if ordered.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))


@dataclass(frozen=True)
class ScoreColumns:
    """What :func:`leadflow.scoring.engine.totals` gives, for many contacts at once."""

    fit: Floats
    engagement: Floats
    total: Floats
    grade: list[str]
    as_of: Ints  # when each is read: now, or its latest scored occurrence if later


def score_columns(
    model: ScoringModel,
    contact_ids: Ints,
    fit: NDArray[np.bool_],
    rules: tuple[RuleSums, ...],
    now: int,
) -> ScoreColumns:
    """Each contact's totals and grade: ``fit`` holds which fit rules hold (a row per
    contact), ``rules`` the engagement sums in model order, ``now`` in microseconds."""
    places = [np.searchsorted(contact_ids, sums.contacts) for sums in rules]
    as_of = np.full(contact_ids.size, now, dtype=np.int64)
    for place, sums in zip(places, rules, strict=True):
        as_of[place] = np.maximum(as_of[place], sums.ref)  # one entry per contact per rule
    by_group = np.zeros((len(model.groups), contact_ids.size))
    for i, fit_rule in enumerate(model.fit_rules):
        slot, points = model.fit_slots[fit_rule.name]
        by_group[slot] += np.where(fit[:, i], points, 0.0)
    for rule, place, sums in zip(model.engagement_rules, places, rules, strict=True):
        slot, half_life = model.engagement_slots[rule.name]
        value = sums.value
        if half_life is not None:
            value = value * np.exp2(-((as_of[place] - sums.ref) / half_life))
        by_group[slot][place] += value
    fit_total = np.zeros(contact_ids.size)
    engagement = np.zeros(contact_ids.size)
    for group, values in zip(model.groups, by_group, strict=True):
        clamped = np.clip(values, group.min, group.max) if _bounded(group) else values
        if group.kind is GroupKind.FIT:
            fit_total += clamped
        else:
            engagement += clamped
    letters = _grades(model.fit_bands, fit_total)
    digits = _grades(model.engagement_bands, engagement)
    grades = [a + b for a, b in zip(letters, digits, strict=True)]
    return ScoreColumns(fit_total, engagement, fit_total + engagement, grades, as_of)


def _bounded(group: Group) -> bool:
    return group.min is not None or group.max is not None


def _grades(bands: Bands, points: Floats) -> list[str]:
    """Bands.grade for each value: the first label whose minimum it reaches."""
    if not bands.minimums:
        return [bands.labels[-1]] * points.size
    below = (points[:, None] < np.array(bands.minimums)[None, :]).sum(axis=1)
    # Minimums strictly decrease: a value below k of them reaches the (k+1)th label first.
    labels = np.array(bands.labels, dtype=object)
    return list(labels[below])
