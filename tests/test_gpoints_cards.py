"""Cards, rules and dealing."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gpoints_env import DECK, ID_RULES, RANKS, RULE_OOD_RULES, Rules, deal_hand, hand_from_ranks, is_solvable
from gpoints_env.cards import NoSolvableHandError
from gpoints_env.rules import parse_rank


def test_deck_has_52_distinct_cards():
    assert len(DECK) == 52 and len(set(DECK)) == 52
    assert Counter(card.rank for card in DECK) == {rank: 4 for rank in RANKS}


def test_rules_values():
    assert ID_RULES.values(["A", "2", "10", "J", "Q", "K"]) == [1, 2, 10, 10, 10, 10]
    assert RULE_OOD_RULES.values(["A", "J", "Q", "K"]) == [1, 11, 12, 13]
    assert Rules(ace_value=11).value("A") == 11


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"face_values": (11, 12)}, "3 values"),
        ({"ace_value": -1}, "ace_value"),
        ({"ace_value": True}, "ace_value"),
        ({"target": 2.5}, "target"),
        ({"hand_size": 0}, "hand_size"),
        ({"hand_size": 9}, "hand_size"),
        ({"operators": "+^"}, "operators"),
        ({"operators": ""}, "operators"),
        ({"suit_colour": "green"}, "suit_colour"),
        ({"require_face_card": "yes"}, "require_face_card"),
    ],
)
def test_rules_validate_their_fields(changes, words):
    with pytest.raises(ValueError, match=words):
        Rules(**changes)


def test_rules_are_hashable_and_canonical():
    assert Rules(operators="*+") == Rules(operators="+*") and hash(Rules(operators="*+")) == hash(Rules(operators="+*"))
    assert Rules(face_values=[11, 12, 13]) == RULE_OOD_RULES.replace(require_face_card=False)


def test_parse_rank_aliases():
    assert [parse_rank(x) for x in ["a", "1", 1, "t", "T", "10", 10, "j", "queen", "K"]] == [
        "A", "A", "A", "10", "10", "10", "10", "J", "Q", "K"
    ]
    for bad in ["11", "Z", "", None, 0, 2.0, True]:
        with pytest.raises(ValueError):
            parse_rank(bad)


@pytest.mark.parametrize("rules", [ID_RULES, RULE_OOD_RULES, Rules(suit_colour="black"), Rules(suit_colour="red")])
def test_dealt_hands_are_distinct_solvable_and_respect_the_rules(rules):
    rng = np.random.default_rng(0)
    for _ in range(2000):
        hand = deal_hand(rules, rng)
        assert len(hand) == 4 and len(set(hand)) == 4
        assert all(card.suit in rules.suits for card in hand)
        assert is_solvable(rules.values([c.rank for c in hand]), rules.target)
        if rules.require_face_card:
            assert any(card.rank in "JQK" for card in hand)


def test_colour_restriction():
    black = {c.suit for _ in range(500) for c in deal_hand(Rules(suit_colour="black"), np.random.default_rng(_))}
    red = {c.suit for _ in range(500) for c in deal_hand(Rules(suit_colour="red"), np.random.default_rng(_))}
    assert black == {"spades", "clubs"} and red == {"hearts", "diamonds"}


def test_same_generator_state_same_hand():
    a = [deal_hand(ID_RULES, np.random.default_rng(42)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = np.random.default_rng(42)
    assert len({tuple(deal_hand(ID_RULES, rng)) for _ in range(50)}) > 40


def test_dealing_matches_rejection_sampling_in_distribution():
    """Weighted dealing must equal 'deal uniformly, redeal until valid' (the paper's procedure), which we
    simulate directly on a small game so both distributions can be compared exactly."""
    rules = Rules(hand_size=2, target=10, suit_colour="black")
    rng = np.random.default_rng(7)
    deck = [c for c in DECK if c.suit in rules.suits]
    valid = {}
    for i in range(len(deck)):
        for j in range(len(deck)):
            if i != j and is_solvable(rules.values([deck[i].rank, deck[j].rank]), rules.target):
                key = tuple(sorted((deck[i].rank, deck[j].rank)))
                valid[key] = valid.get(key, 0) + 1
    total = sum(valid.values())
    draws = 40_000
    seen = Counter(tuple(sorted(c.rank for c in deal_hand(rules, rng))) for _ in range(draws))
    assert set(seen) == set(valid)
    for key, ways in valid.items():
        expected = draws * ways / total
        # 5 standard deviations of a binomial count: a wrong weighting (e.g. uniform over multisets) fails.
        assert abs(seen[key] - expected) < 5 * (expected * (1 - ways / total)) ** 0.5 + 1, key


def test_card_order_is_random_but_suits_are_distinct_per_rank():
    rng = np.random.default_rng(1)
    firsts = Counter()
    for _ in range(3000):
        hand = deal_hand(Rules(suit_colour="black"), rng)
        firsts[hand[0].rank] += 1
        for rank, count in Counter(c.rank for c in hand).items():
            assert count <= 2
    assert len(firsts) == 13


def test_impossible_rules_raise_with_the_parameters():
    with pytest.raises(NoSolvableHandError, match="1000000"):
        deal_hand(Rules(target=1_000_000), np.random.default_rng(0))
    with pytest.raises(NoSolvableHandError, match="'red'"):
        deal_hand(Rules(hand_size=1, target=13, face_values=(10, 10, 10), suit_colour="red"), np.random.default_rng(0))


def test_single_card_game_deals_every_ten_valued_rank_equally():
    # Target 10 with one card: 10, J, Q, K (all worth 10) each have 4 physical cards, so each is a quarter.
    rules = Rules(hand_size=1, target=10)
    rng = np.random.default_rng(3)
    ranks = Counter(deal_hand(rules, rng)[0].rank for _ in range(4000))
    assert set(ranks) == {"10", "J", "Q", "K"}
    assert all(850 < n < 1150 for n in ranks.values()), ranks


def test_fixed_hands():
    rng = np.random.default_rng(0)
    hand = hand_from_ranks(["8", "3", "8", "3"], ID_RULES, rng)
    assert [c.rank for c in hand] == ["8", "3", "8", "3"] and len(set(hand)) == 4
    assert [c.rank for c in hand_from_ranks(["a", 3, "T", "k"], ID_RULES, rng)] == ["A", "3", "10", "K"]
    with pytest.raises(ValueError, match="4 cards"):
        hand_from_ranks(["8", "3", "8"], ID_RULES, rng)
    with pytest.raises(ValueError, match="unknown card rank"):
        hand_from_ranks(["8", "3", "8", "X"], ID_RULES, rng)
    with pytest.raises(ValueError, match="cannot make 24"):
        hand_from_ranks(["A", "A", "A", "A"], ID_RULES, rng)
    with pytest.raises(ValueError, match="holds 2 cards of rank 8"):
        hand_from_ranks(["8", "8", "8", "3"], Rules(suit_colour="black"), rng)
    with pytest.raises(ValueError, match="list of rank labels"):
        hand_from_ranks("8383", ID_RULES, rng)
