"""Gap tests from mutation testing of the spec modules (docs/mutation.md): each pins something a user sees that the
other spec tests left free: the exact refusal of a broken spec (the field it names and what it says), the spec text
read through a template grading exactly as the spec itself, and what ``advance`` says comes next."""

from __future__ import annotations

import json
import re
from types import MappingProxyType
from typing import Any

import gymnasium as gym
import pytest

from gpoints_env import specs as gp_specs
from sftrl_core.specs import SpecError, dump_spec


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Every test builds its rule sets, reward tables and templates itself: a cache filled before (by another test,
    or while the tests were collected) would hide the code that builds them."""
    gp_specs.clear_spec_caches()
    yield
    gp_specs.clear_spec_caches()


def _base() -> dict[str, Any]:
    env = gym.make("GeneralPoints-RuleOOD-v0")
    env.reset(seed=0)  # cards Q 10 J 3, J/Q/K = 11/12/13, require_face_card, five attempts
    return env.unwrapped.episode_spec()


BASE = _base()
RULES = BASE["rules"]
REWARDS = BASE["rewards"]
RANKS = "A, 2, 3, 4, 5, 6, 7, 8, 9, 10, J, Q, K"
READS = ("game, version, env_id, protocol, observation_mode, rules, cards, suits, max_attempts, attempt, rewards")
RULE_NAMES = "face_values, ace_value, target, hand_size, operators, suit_colour, require_face_card"
REWARD_NAMES = "correct, wrong_value, division_by_zero, wrong_numbers, wrong_cards, illegal_formula, no_formula"
UNKNOWN = "(a field it does not know could change the grading)"


def _without(mapping: dict[str, Any], *names: str) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key not in names}


def _rules(**changes: Any) -> dict[str, Any]:
    return {**BASE, "rules": {**RULES, **changes}}


def _field(name: str, problem: str) -> str:
    return f"GeneralPoints spec field {name!r} {problem}"


# (name, hostile spec, the whole SpecError message: as a dict and as its JSON text)
MESSAGES: list[tuple[str, dict[str, Any], str]] = [
    ("only game and version", {"game": "GeneralPoints", "version": 1}, _field(
        "env_id", "is missing (so are 'protocol', 'observation_mode', 'rules', 'cards', 'suits', 'max_attempts', "
                  "'attempt', 'rewards')")),
    ("two missing", _without(BASE, "cards", "suits"), _field("cards", "is missing (so are 'suits')")),
    ("one missing", _without(BASE, "suits"), _field("suits", "is missing")),
    ("unknown fields", {**BASE, "bonus": 1, "zz": 2},
     f"GeneralPoints spec has unknown fields 'bonus', 'zz'; this version reads only {READS} {UNKNOWN}"),
    ("six unknown fields", {**BASE, **{f"u{i}": i for i in range(6)}},
     f"GeneralPoints spec has unknown fields 'u0', 'u1', 'u2', 'u3', 'u4'; this version reads only {READS} {UNKNOWN}"),
    ("rules a list", {**BASE, "rules": [1]},
     _field("rules", f"must be an object with the fields {RULE_NAMES}, got a list of 1 items")),
    ("rules: two missing", {**BASE, "rules": _without(RULES, "target", "hand_size")},
     _field("rules.target", "is missing (so are 'hand_size')")),
    ("rules: unknown field", _rules(x=1), f"GeneralPoints spec field 'rules' has unknown fields 'x'; this version "
                                          f"reads only {RULE_NAMES} {UNKNOWN}"),
    ("face values: two", _rules(face_values=[10, 10]),
     _field("rules.face_values", "must list 3 integers (J, Q, K), got a list of 2 items")),
    ("face values: four", _rules(face_values=[10, 10, 10, 10]),
     _field("rules.face_values", "must list 3 integers (J, Q, K), got a list of 4 items")),
    ("face values: a text", _rules(face_values="abc"),
     _field("rules.face_values", "must list 3 integers (J, Q, K), got 'abc'")),
    ("face values: J a string", _rules(face_values=["10", 10, 10]),
     _field("rules.face_values (J)", "must be an integer, got '10'")),
    ("face values: Q a string", _rules(face_values=[10, "10", 10]),
     _field("rules.face_values (Q)", "must be an integer, got '10'")),
    ("face values: a tuple, Q a string", _rules(face_values=(10, "10", 10)),
     _field("rules.face_values (Q)", "must be an integer, got '10'")),
    ("face value 0, ace a float", _rules(face_values=[0, 10, 10], ace_value=1.0),
     _field("rules.ace_value", "must be an integer, got 1.0")),
    ("face values: K a float", _rules(face_values=[10, 10, 10.0]),
     _field("rules.face_values (K)", "must be an integer, got 10.0")),
    ("face values: K too big", _rules(face_values=[10, 10, 1001]),
     _field("rules.face_values (K)", "must be in 0..1,000, got 1001")),
    ("face values: J negative", _rules(face_values=[-1, 10, 10]),
     _field("rules.face_values (J)", "must be in 0..1,000, got -1")),
    ("ace a float", _rules(ace_value=1.0), _field("rules.ace_value", "must be an integer, got 1.0")),
    ("ace too big", _rules(ace_value=1001), _field("rules.ace_value", "must be in 0..1,000, got 1001")),
    ("ace negative", _rules(ace_value=-1), _field("rules.ace_value", "must be in 0..1,000, got -1")),
    ("target a float", _rules(target=24.0), _field("rules.target", "must be an integer, got 24.0")),
    ("target too big", _rules(target=1_000_001),
     _field("rules.target", "must be in -1,000,000..1,000,000, got 1000001")),
    ("target too small", _rules(target=-1_000_001),
     _field("rules.target", "must be in -1,000,000..1,000,000, got -1000001")),
    ("hand size a float", _rules(hand_size=4.0), _field("rules.hand_size", "must be an integer, got 4.0")),
    ("hand size a bool", _rules(hand_size=True), _field("rules.hand_size", "must be an integer, got True")),
    ("hand size 0", _rules(hand_size=0), _field("rules.hand_size", "must be in 1..5, got 0")),
    ("hand size 6", _rules(hand_size=6), _field("rules.hand_size", "must be in 1..5, got 6")),
    ("operators a number", _rules(operators=5),
     _field("rules.operators", "must be a string of at most 4 characters, got 5")),
    ("operators too long", _rules(operators="+-*/+"),
     _field("rules.operators", "must be a string of at most 4 characters, got '+-*/+'")),
    ("operators empty", _rules(operators=""),
     _field("rules.operators", "must be distinct characters from '+-*/', got ''")),
    ("operators twice", _rules(operators="++"),
     _field("rules.operators", "must be distinct characters from '+-*/', got '++'")),
    ("operators unknown", _rules(operators="+%"),
     _field("rules.operators", "must be distinct characters from '+-*/', got '+%'")),
    ("suit colour a number", _rules(suit_colour=1),
     _field("rules.suit_colour", "must be a string of at most 5 characters, got 1")),
    ("suit colour too long", _rules(suit_colour="blacks"),
     _field("rules.suit_colour", "must be a string of at most 5 characters, got 'blacks'")),
    ("suit colour unknown", _rules(suit_colour="blue"),
     _field("rules.suit_colour", "must be one of any, black, red, got 'blue'")),
    ("require_face_card 1", _rules(require_face_card=1),
     _field("rules.require_face_card", "must be true or false, got 1")),
    ("require_face_card null", _rules(require_face_card=None),
     _field("rules.require_face_card", "must be true or false, got None")),
    ("rewards a list", {**BASE, "rewards": [1]}, _field(
        "rewards", f"must be an object with one reward per verdict ({REWARD_NAMES}), got a list of 1 items")),
    ("rewards: one missing", {**BASE, "rewards": _without(REWARDS, "correct")},
     _field("rewards.correct", "is missing")),
    ("rewards: unknown field", {**BASE, "rewards": {**REWARDS, "extra": 1}},
     f"GeneralPoints spec field 'rewards' has unknown fields 'extra'; this version reads only {REWARD_NAMES} "
     f"{UNKNOWN}"),
    ("reward a string", {**BASE, "rewards": {**REWARDS, "wrong_value": "1"}},
     _field("rewards.wrong_value", "must be a number, got '1'")),
    ("reward a bool", {**BASE, "rewards": {**REWARDS, "no_formula": True}},
     _field("rewards.no_formula", "must be a number, got True")),
    ("reward 10**400", {**BASE, "rewards": {**REWARDS, "wrong_cards": 10**400}},
     _field("rewards.wrong_cards", "must be a finite number, got an integer of about 401 digits")),
    ("reward -10**400", {**BASE, "rewards": {**REWARDS, "correct": -10**400}},
     _field("rewards.correct", "must be a finite number, got an integer of about 401 digits")),
    ("cards short", {**BASE, "cards": BASE["cards"][:3]}, _field(
        "cards", f"must list 4 rank labels ({RANKS}; the rules' hand_size is 4), got a list of 3 items")),
    ("cards: an unknown label", {**BASE, "cards": ["1", *BASE["cards"][1:]]}, _field(
        "cards", f"must list 4 rank labels ({RANKS}; the rules' hand_size is 4), got a list of 4 items")),
    ("cards: a list inside", {**BASE, "cards": [["Q"], *BASE["cards"][1:]]}, _field(
        "cards", f"must list 4 rank labels ({RANKS}; the rules' hand_size is 4), got a list of 4 items")),
    ("suits short", {**BASE, "suits": BASE["suits"][:3]}, _field(
        "suits", "must list 4 suits of the rules' 'any' deck (spades, hearts, diamonds, clubs), got a list of 3 "
                 "items")),
    ("suits: a list inside", {**BASE, "suits": [["clubs"], *BASE["suits"][1:]]}, _field(
        "suits", "must list 4 suits of the rules' 'any' deck (spades, hearts, diamonds, clubs), got a list of 4 "
                 "items")),
    ("suits: red deck", {**_rules(suit_colour="red"), "suits": ["hearts", "hearts", "spades", "diamonds"]}, _field(
        "suits", "must list 4 suits of the rules' 'red' deck (hearts, diamonds), got a list of 4 items")),
    ("protocol a number", {**BASE, "protocol": 1},
     _field("protocol", "must name a protocol this version grades (suite, paper), got 1")),
    ("protocol unknown", {**BASE, "protocol": "nope"},
     _field("protocol", "must name a protocol this version grades (suite, paper), got 'nope'")),
    ("env_id empty", {**BASE, "env_id": ""},
     _field("env_id", "must be null or a registered id (at most 256 characters), got ''")),
    ("env_id too long", {**BASE, "env_id": "x" * 257}, _field(
        "env_id", "must be null or a registered id (at most 256 characters), got "
                  f"{'x' * 60!r}... (257 characters)")),
    ("observation mode unknown", {**BASE, "observation_mode": "video"},
     _field("observation_mode", "must be 'text' or 'image', got 'video'")),
    ("observation mode a number", {**BASE, "observation_mode": 1},
     _field("observation_mode", "must be 'text' or 'image', got 1")),
    ("max_attempts 0", {**BASE, "max_attempts": 0},
     _field("max_attempts", "must be in 1..1,000,000, got 0")),
    ("max_attempts a float", {**BASE, "max_attempts": 5.0},
     _field("max_attempts", "must be an integer, got 5.0")),
    ("attempt at the budget", {**BASE, "attempt": 5},
     _field("attempt", "is 5: it leaves no attempt of 5, the episode is over")),
    ("attempt negative", {**BASE, "attempt": -1}, _field("attempt", "must be in 0..1,000,000, got -1")),
    ("attempt a float", {**BASE, "attempt": 0.0}, _field("attempt", "must be an integer, got 0.0")),
    ("paper protocol, binary rewards", {**BASE, "protocol": "paper", "rewards": {
        **REWARDS, "correct": 1.0, "wrong_value": 0.0}}, _field(
        "rewards", "does not suit protocol 'paper': protocol='paper' uses the authors' rewards (penalties add up); "
                   "leave rewards='paper' (use info['is_success'] for a 0/1 signal)")),
    ("paper protocol, two operators", {**_rules(operators="+-"), "protocol": "paper"}, _field(
        "rules", "does not suit protocol 'paper': protocol='paper' plays the paper's game only: 4 cards, A = 1 and "
                 "the operators + - * / (its prompt states nothing else), got hand_size=4, ace_value=1, "
                 "operators='+-'")),
]


@pytest.mark.parametrize("name, spec, message", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_a_broken_spec_is_refused_with_its_exact_message(name, spec, message):
    gp_specs.clear_spec_caches()
    for form in (spec, json.dumps(spec)):
        with pytest.raises(SpecError) as error:
            gp_specs.grade("1", form)
        assert str(error.value) == message


def test_the_base_spec_is_valid():
    assert gp_specs.grade(gp_specs.expert_reply(BASE), BASE).success


def test_extreme_valid_values_are_accepted():
    # Each bound itself is valid: J/Q/K and A from 0 to 1,000, a target of +-1,000,000, 1 to 5 cards.
    spec = _rules(face_values=[0, 1000, 0], ace_value=1000, target=-1_000_000, require_face_card=False)
    assert gp_specs.grade("1+1", spec).verdict == "wrong_numbers"
    assert gp_specs.grade("1+1", _rules(target=1_000_000, ace_value=0)).verdict == "wrong_numbers"
    one = {**_rules(hand_size=1, require_face_card=False), "cards": ["7"], "suits": ["clubs"]}
    gp_specs.grade("7", {**one, "rules": {**one["rules"], "target": 7}})  # accepted
    five = {**_rules(hand_size=5), "cards": [*BASE["cards"], "A"], "suits": [*BASE["suits"], "clubs"]}
    assert gp_specs.grade("1+1", five).verdict == "wrong_numbers"
    assert gp_specs.grade("1+1", {**BASE, "env_id": "x"}).verdict == "wrong_numbers"
    assert gp_specs.grade("1+1", {**BASE, "env_id": "x" * 256}).verdict == "wrong_numbers"
    last = {**BASE, "max_attempts": 1_000_000, "attempt": 999_999}
    assert gp_specs.advance("1+1", last).terminated


def _recent_patterns() -> list[Any]:
    return [template.pattern for template in gp_specs._recent if template.pattern is not None]


def _grades_alike(reply: str, spec: dict[str, Any], text: str) -> None:
    want = gp_specs.grade(reply, spec)
    got = gp_specs.grade(reply, text)
    assert (got.verdict, got.reward, got.feedback, got.success) == (want.verdict, want.reward, want.feedback,
                                                                    want.success)


def _layouts(spec: dict[str, Any]) -> list[str]:
    """The spec's text in several layouts: compact, spaced, indented, the keys reversed (attempt before cards),
    blanks around the attempt."""
    reversed_keys = dict(reversed(list(spec.items())))
    return [dump_spec(spec), json.dumps(spec), json.dumps(spec, indent=2), json.dumps(reversed_keys),
            json.dumps(spec).replace(f'"attempt": {spec["attempt"]}', f'"attempt" :\n {spec["attempt"]} \t')]


@pytest.mark.parametrize("env_id, kwargs", [
    ("GeneralPoints-RuleOOD-v0", {}),
    ("GeneralPoints-v0", {"hand_size": 3, "suit_colour": "red", "max_attempts": 12}),
    ("GeneralPoints-v0", {"hand_size": 2, "suit_colour": "black", "operators": "+*", "target": 10}),
    ("GeneralPoints-VL-v0", {"resolution": 64, "protocol": "paper"}),
])
def test_spec_texts_read_through_templates_grade_as_the_spec(env_id, kwargs):
    """The second and later texts of one env's frame are read by a template: every hand, suit and attempt in every
    layout must grade (verdict, reward, feedback) and advance exactly as the spec does as a dict."""
    gp_specs.clear_spec_caches()
    env = gym.make(env_id, **kwargs)
    specs = []
    for seed in range(25):
        env.reset(seed=seed)
        specs.append(env.unwrapped.episode_spec())
    max_attempts = specs[0]["max_attempts"]
    for i, spec in enumerate(specs):
        spec = {**spec, "attempt": i % max_attempts}
        expert = gp_specs.expert_reply(spec)
        wrong = "+".join(["1"] * len(spec["cards"]))
        for text in _layouts(spec):
            for reply in (expert, wrong, "no formula"):
                _grades_alike(reply, spec, text)
            got, want = gp_specs.advance(wrong, text), gp_specs.advance(wrong, spec)
            assert (got.terminated, got.message, got.next_spec) == (want.terminated, want.message, want.next_spec)
            assert gp_specs.expert_reply(text) == expert
            assert gp_specs.spec_prompt(text) == gp_specs.spec_prompt(spec)
    assert _recent_patterns()  # (the texts were read through a template)
    # Broken values in a frame a template reads are refused as the dict is.
    spec = specs[0]
    for broken in ({**spec, "attempt": max_attempts}, {**spec, "attempt": -1}, {**spec, "cards": spec["cards"][:-1]},
                   {**spec, "cards": ["1", *spec["cards"][1:]]}, {**spec, "suits": ["x", *spec["suits"][1:]]},
                   {**spec, "attempt": 10**9}):
        for text in _layouts(broken):
            with pytest.raises(SpecError) as from_text:
                gp_specs.grade("1", text)
            with pytest.raises(SpecError) as from_dict:
                gp_specs.grade("1", broken)
            assert str(from_text.value) == str(from_dict.value)


def test_advance_says_what_comes_next():
    spec = {**BASE, "max_attempts": 3, "attempt": 1}
    step = gp_specs.advance("1+1", spec)
    assert not step.terminated
    assert step.next_spec == {**spec, "attempt": 2}
    assert step.message and step.message.startswith("[Feedback]")
    last = gp_specs.advance("1+1", {**spec, "attempt": 2})
    assert last.terminated and last.next_spec is None
    won = gp_specs.advance(gp_specs.expert_reply(spec), spec)
    assert won.grade.success and won.terminated and won.next_spec is None
    # From the text the next spec is the same dict.
    assert gp_specs.advance("1+1", json.dumps(spec)).next_spec == {**spec, "attempt": 2}


def test_clear_spec_caches_forgets_every_template():
    spec = BASE
    for attempt in range(3):
        gp_specs.grade("1", json.dumps({**spec, "attempt": attempt}))
    assert gp_specs._recent and len(gp_specs._FRAMES) and len(gp_specs._RULES) and len(gp_specs._REWARDS)
    gp_specs.clear_spec_caches()
    assert gp_specs._recent == ()
    assert not len(gp_specs._FRAMES) and not len(gp_specs._RULES) and not len(gp_specs._REWARDS)


def test_an_image_spec_expert_reports_the_cards_first():
    env = gym.make("GeneralPoints-VL-v0", resolution=64)
    env.reset(seed=3)
    spec = env.unwrapped.episode_spec()
    for form in (spec, json.dumps(spec)):
        reply = json.loads(gp_specs.expert_reply(form))
        assert list(reply) == ["cards", "formula"] and reply["cards"] == spec["cards"]
    text = {**spec, "observation_mode": "text"}
    assert list(json.loads(gp_specs.expert_reply(text))) == ["formula"]


def test_a_spec_given_as_python_tuples_is_read_as_lists():
    spec = {**BASE, "cards": tuple(BASE["cards"]), "suits": tuple(BASE["suits"]),
            "rules": {**RULES, "face_values": tuple(RULES["face_values"])}}
    assert gp_specs.grade(gp_specs.expert_reply(BASE), spec).success


def test_the_spec_rewards_are_the_rewards_given():
    rewards = {name: float(i) for i, name in enumerate(REWARDS)}
    spec = {**BASE, "rewards": rewards}
    assert gp_specs.grade(gp_specs.expert_reply(BASE), spec).reward == rewards["correct"]
    assert gp_specs.grade("1+1", spec).reward == rewards["wrong_numbers"]
    assert gp_specs.grade("1+1", json.dumps(spec)).reward == rewards["wrong_numbers"]
    assert gp_specs.grade("1+1", BASE).reward == REWARDS["wrong_numbers"]
    # The largest finite rewards are valid.
    big = {**BASE, "rewards": {**REWARDS, "correct": 1.7976931348623157e308, "no_formula": -1.7976931348623157e308}}
    assert gp_specs.grade("no formula", big).reward == -1.7976931348623157e308
    assert gp_specs.grade(gp_specs.expert_reply(BASE), big).reward == 1.7976931348623157e308


def test_the_spec_target_and_ace_value_are_the_rules_used():
    assert gp_specs.grade("12*(10+3-11)", BASE).verdict == "correct"
    assert gp_specs.grade("12*(10+3-11)", _rules(target=10)).verdict == "wrong_value"
    prompt = gp_specs.spec_prompt(BASE)
    assert gp_specs.spec_prompt(_rules(ace_value=11)) != prompt
    assert gp_specs.spec_prompt(_rules(target=10)) != prompt


def test_rules_and_rewards_as_any_mapping():
    spec = {**BASE, "rules": MappingProxyType(RULES), "rewards": MappingProxyType(REWARDS)}
    assert gp_specs.grade(gp_specs.expert_reply(BASE), spec).success


@pytest.mark.parametrize("field, value, name", [
    ("face_values", [11.0, 12, 13], "rules.face_values (J)"), ("face_values", [11, 12.0, 13], "rules.face_values (Q)"),
    ("face_values", [11, 12, 13.0], "rules.face_values (K)"), ("ace_value", True, "rules.ace_value"),
    ("ace_value", 1.0, "rules.ace_value"), ("target", 24.0, "rules.target"), ("hand_size", 4.0, "rules.hand_size"),
])
def test_cached_rules_are_not_found_by_an_equal_value_of_another_type(field, value, name):
    """1 == 1.0 == True: once a rule set is cached, the same rules with a float or a bool must still be refused."""
    assert gp_specs.grade("1+1", BASE).verdict == "wrong_numbers"  # the rules are cached
    for form in (_rules(**{field: value}), json.dumps(_rules(**{field: value}))):
        with pytest.raises(SpecError, match=re.escape(f"field {name!r} must be an integer")):
            gp_specs.grade("1+1", form)


def test_a_template_read_spec_past_its_attempts_is_refused():
    """Texts of one frame in one layout: the template of the recent frames reads them, and refuses the last+1."""
    for attempt in range(3):
        assert gp_specs.grade("1+1", dump_spec({**BASE, "attempt": attempt})).verdict == "wrong_numbers"
    assert _recent_patterns()
    for attempt in (BASE["max_attempts"], BASE["max_attempts"] + 1, 10**6):
        with pytest.raises(SpecError, match="field 'attempt'"):
            gp_specs.grade("1+1", dump_spec({**BASE, "attempt": attempt}))
        with pytest.raises(SpecError, match="field 'attempt'"):
            gp_specs.advance("1+1", dump_spec({**BASE, "attempt": attempt}))


def test_episode_spec_says_why_there_is_none():
    env = gym.make("GeneralPoints-v0")
    with pytest.raises(RuntimeError) as error:
        gp_specs.episode_spec(env)
    assert str(error.value) == "call reset() before episode_spec(): there is no episode yet"
    env.reset(seed=0)
    spec = gp_specs.episode_spec(env)
    env.step(gp_specs.expert_reply(spec))
    with pytest.raises(RuntimeError) as error:
        gp_specs.episode_spec(env)
    assert str(error.value) == "this episode is over; episode_spec() describes an episode that still takes a reply"
