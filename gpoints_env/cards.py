"""Playing cards and dealing: a 52-card deck, hands of distinct physical cards, solvable hands only.

Dealing draws from the caller's :class:`numpy.random.Generator` and never searches for a solution: the
solvable rank multisets for a rule set come precomputed from :func:`gpoints_env.solver.solvable_rank_hands`, each
weighted by the number of physical deals (suit choices) that produce it. Picking a multiset by weight, then its
suits, then an order, draws exactly from "deal cards at random until the hand is solvable and meets the rules"
without the retries.

:func:`paper_deal` deals as the paper authors do instead (``protocol="paper"``): with replacement, redealt until
their solver (:func:`gpoints_env.paper_solver.paper_answer_key`) reaches the target.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from math import comb
from typing import Sequence

import numpy as np

from .rules import FACE_RANKS, RANKS, SUIT_COLOURS, Rules, parse_rank
from .paper_solver import paper_answer_key
from .solver import is_solvable, solvable_rank_hands

__all__ = ["SUITS", "SUIT_SYMBOLS", "Card", "DECK", "deal_hand", "hand_from_ranks", "paper_deal",
           "NoSolvableHandError"]

SUITS: tuple[str, ...] = SUIT_COLOURS["any"]
SUIT_SYMBOLS: dict[str, str] = {"spades": "\u2660", "hearts": "\u2665", "diamonds": "\u2666", "clubs": "\u2663"}
_FACE_INDICES = frozenset(RANKS.index(r) for r in FACE_RANKS)


@dataclass(frozen=True)
class Card:
    """One physical playing card."""

    rank: str
    suit: str

    def __str__(self) -> str:
        return f"{self.rank}{SUIT_SYMBOLS[self.suit]}"


#: The 52 cards, in rank-major order.
DECK: tuple[Card, ...] = tuple(Card(rank, suit) for rank in RANKS for suit in SUITS)


class NoSolvableHandError(ValueError):
    """The rules admit no hand that can be dealt (nothing solvable under the dealing constraints)."""


@dataclass(frozen=True)
class _DealTable:
    hands: tuple[tuple[int, ...], ...]  # rank-index multisets, sorted
    cumulative: tuple[int, ...]  # running total of the number of physical deals per multiset
    total: int


@lru_cache(maxsize=64)
def _deal_table(rules: Rules) -> _DealTable:
    n_suits = len(rules.suits)
    hands, weights = [], []
    for ranks in solvable_rank_hands(rules):
        if rules.require_face_card and not _FACE_INDICES.intersection(ranks):
            continue
        # Number of ways to pick distinct physical cards of these ranks from the allowed suits.
        weight = 1
        for r in set(ranks):
            weight *= comb(n_suits, ranks.count(r))
        if weight:
            hands.append(ranks)
            weights.append(weight)
    if not hands:
        raise NoSolvableHandError(
            f"no hand can be dealt under {rules}: no {rules.hand_size}-card hand from the "
            f"{rules.suit_colour!r} suits reaches {rules.target} with operators {rules.operators!r}"
            + (" and holds a face card" if rules.require_face_card else "")
        )
    cumulative = tuple(accumulate(weights))
    return _DealTable(tuple(hands), cumulative, cumulative[-1])


def _assign_suits(ranks: Sequence[int], suits: tuple[str, ...], uniforms: Sequence[float]) -> list[Card]:
    """Distinct physical cards for the given rank indices; each suit is drawn from those still free for its rank."""
    cards = []
    used: dict[int, list[str]] = {}
    for r, u in zip(ranks, uniforms):
        taken = used.setdefault(r, [])
        free = [s for s in suits if s not in taken]
        suit = free[min(int(u * len(free)), len(free) - 1)]
        taken.append(suit)
        cards.append(Card(RANKS[r], suit))
    return cards


def deal_hand(rules: Rules, rng: np.random.Generator) -> list[Card]:
    """Deal ``rules.hand_size`` distinct cards forming a solvable hand that meets the dealing constraints.

    The distribution equals dealing uniformly from the allowed suits and redealing until the hand is valid.

    Args:
        rules: the active rules (card values, target, suits, face-card requirement...).
        rng: the environment's generator; the only source of randomness.

    Raises:
        NoSolvableHandError: if no valid hand exists under ``rules``.
    """
    table = _deal_table(rules)
    n = rules.hand_size
    # One draw from the generator for the whole deal: numpy call overhead dominates a reset otherwise.
    u = rng.random(2 * n + 1).tolist()
    pick = min(int(u[0] * table.total), table.total - 1)
    ranks = table.hands[bisect_right(table.cumulative, pick)]
    cards = _assign_suits(ranks, rules.suits, u[1 : n + 1])
    order = sorted(range(n), key=u[n + 1 :].__getitem__)
    return [cards[i] for i in order]


def hand_from_ranks(
    labels: Sequence[object],
    rules: Rules,
    rng: np.random.Generator,
    suits: Sequence[str] | None = None,
    *,
    distinct: bool = True,
    solvable: bool = True,
) -> list[Card]:
    """A fixed hand from rank labels (``["8", "3", "8", "3"]``), in the given order.

    Dealing constraints do not apply (a fixed hand may lack a face card), but the hand must be dealable from the
    allowed suits and (unless ``solvable=False``) solvable under ``rules``.

    Args:
        labels: the rank labels.
        rules: the active rules.
        rng: draws the suits when ``suits`` is not given (distinct cards: each from the suits still free for its
            rank; ``distinct=False``: each independently).
        suits: the suit of each card (from ``rules.suits``), to replay a hand exactly.
        distinct: the cards must be distinct physical cards (one deck). ``False`` allows repeats, as the paper's
            dealing does.
        solvable: check that the hand reaches the target (callers with their own check pass ``False``).

    Raises:
        ValueError: naming the problem (unknown label or suit, wrong count, too many copies of a card, unsolvable).
    """
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise ValueError(f"options['cards'] must be a list of rank labels such as ['8', '3', '8', '3'], got {labels!r}")
    ranks = [parse_rank(label) for label in labels]
    if len(ranks) != rules.hand_size:
        raise ValueError(f"options['cards'] must hold {rules.hand_size} cards, got {len(ranks)}: {list(labels)!r}")
    if suits is not None:
        if isinstance(suits, (str, bytes)) or not isinstance(suits, Sequence) or len(suits) != len(ranks):
            raise ValueError(f"options['suits'] must list one suit per card ({len(ranks)}), got {suits!r}")
        for suit in suits:
            if suit not in rules.suits:
                raise ValueError(f"options['suits']: {suit!r} is not a suit of the {rules.suit_colour!r} deck "
                                 f"({', '.join(rules.suits)})")
        if distinct and len(set(zip(ranks, suits))) < len(ranks):
            raise ValueError(f"options['suits'] repeats a physical card: {list(zip(ranks, suits))}")
    elif distinct:
        for rank in set(ranks):
            if ranks.count(rank) > len(rules.suits):
                raise ValueError(
                    f"a deck restricted to {rules.suit_colour!r} suits holds {len(rules.suits)} cards of rank {rank}, "
                    f"but options['cards'] asks for {ranks.count(rank)}"
                )
    if solvable and not is_solvable(rules.values(ranks), rules.target, rules.operators):
        raise ValueError(f"the hand {ranks} cannot make {rules.target} under {rules}")
    if suits is not None:
        return [Card(rank, suit) for rank, suit in zip(ranks, suits)]
    if not distinct:
        picks = rng.integers(0, len(rules.suits), size=len(ranks)).tolist()
        return [Card(rank, rules.suits[s]) for rank, s in zip(ranks, picks)]
    return _assign_suits([RANKS.index(r) for r in ranks], rules.suits, rng.random(len(ranks)).tolist())


# --------------------------------------------------------------------------------------------------------------
# The paper authors' dealing (GeneralPointEnv_oneline._generate_cards + solve), from the env's generator.
# --------------------------------------------------------------------------------------------------------------

#: Redeals before giving up (a paper hand is solvable with probability about 0.75; 1,000 failures in a row
#: mean the rules admit no hand).
_MAX_DEALS = 1000


def paper_deal(rules: Rules, rng: np.random.Generator) -> list[Card]:
    """Deal as the authors do: 4 ranks drawn uniformly from A..K with replacement (``rules.require_face_card``,
    their rule OOD: 3 from A..K and 1 from J..K, then shuffled), each card's suit drawn independently from the
    allowed suits (so two identical physical cards can occur), redealt until their solver reaches the target.

    Raises:
        NoSolvableHandError: no solvable hand after 1,000 deals.
    """
    suits = rules.suits
    for _ in range(_MAX_DEALS):
        if rules.require_face_card:
            indices = np.concatenate([rng.integers(0, 13, size=3), rng.integers(10, 13, size=1)])
            rng.shuffle(indices)
        else:
            indices = rng.integers(0, 13, size=4)
        picks = rng.integers(0, len(suits), size=4)
        ranks = [RANKS[i] for i in indices.tolist()]
        if paper_answer_key(rules.values(ranks), rules.target):
            return [Card(rank, suits[s]) for rank, s in zip(ranks, picks.tolist())]
    raise NoSolvableHandError(f"no hand reaching {rules.target} in {_MAX_DEALS} paper deals under {rules}")
