"""Gap tests from mutation testing of the spec modules (docs/mutation.md): each pins something a user sees that the
other spec tests left free: the exact refusal of a broken spec (the field it names and what it says), the spec text
read through a template grading exactly as the spec itself, and what ``advance`` says comes next. For V-IRL also the
fast readers (canonical point spec text, route rails): they read what the full check reads, point for point, refuse
(hand to the full check) whatever it refuses, and do read the specs the envs write."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from types import MappingProxyType
from typing import Any

import gymnasium as gym
import pytest

from gpoints_env import specs as gp_specs
from sftrl_core.specs import MAX_SPEC_CHARS, SpecError, dump_spec
from virl_env import specs as virl_specs
from virl_env.task.navigation import NavigationTask


def _clear_caches() -> None:
    gp_specs.clear_spec_caches()
    virl_specs.clear_spec_caches()
    virl_specs._FRAMES.clear()  # the checked rules, rewards and protocol of point spec texts (not cleared above)


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Every test builds its rule sets, reward tables, templates and checked specs itself: a cache filled before (by
    another test, or while the tests were collected) would hide the code that builds them."""
    _clear_caches()
    yield
    _clear_caches()


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


# ----------------------------------------------------------------------------------------------------------------
# V-IRL (virl_env/specs.py): the fast readers read what the full check reads; route specs' exact refusals.
# ----------------------------------------------------------------------------------------------------------------


def _virl_env(env_id: str = "VIRL-RuleOOD-v0", protocol: str = "paper", seed: int = 0) -> gym.Env:
    env = gym.make(env_id, protocol=protocol, **({"view_size": 32} if "-VL-" in env_id else {}))
    env.reset(seed=seed)
    return env


def _virl_route() -> dict[str, Any]:
    """VIRL-RuleOOD-v0 under the paper protocol, seed 0: 11 rail points (a start that turns, forwards, two turns, the
    destination), 6 sentences, relative turns, two attempts a point."""
    return _virl_env().unwrapped.episode_spec()


def _virl_point() -> dict[str, Any]:
    """The point spec at the start of :func:`_virl_route` (a turn: ``turn_to`` 299, ``turn_relative`` left)."""
    return virl_specs.point_spec(_virl_env())


def _virl_walk(env_id: str, protocol: str, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The route spec at reset and the point spec at every rail point of the expert's walk."""
    env = _virl_env(env_id, protocol, seed)
    route, points = env.unwrapped.episode_spec(), []
    done = False
    while not done:
        points.append(virl_specs.point_spec(env))
        _, _, terminated, truncated, _ = env.step(env.unwrapped.expert_reply())
        done = terminated or truncated
    return route, points


def _refusal(spec: Any, reply: str = "forward()") -> str:
    with pytest.raises(SpecError) as error:
        virl_specs.grade(reply, spec)
    return str(error.value)


def _virl_field(name: str, problem: str) -> str:
    return f"V-IRL spec field {name!r} {problem}"


def _full_rail(spec: dict[str, Any]) -> list[Any]:
    return [virl_specs._rail_point(raw, f"rail[{number}]") for number, raw in enumerate(spec["rail"])]


VIRL_WALKS = [("VIRL-RuleOOD-v0", "paper"), ("VIRL-v0", "suite"), ("VIRL-VL-v0", "suite"), ("VIRL-v0", "paper")]


@pytest.mark.parametrize("env_id, protocol", VIRL_WALKS)
def test_virl_specs_the_envs_write_are_read_by_the_fast_readers(env_id, protocol):
    """Canonical point spec text (a dataset column) is read by the one-expression reader, and a route spec's rail by
    the fast pass, and both read exactly what the full check reads; grading, advancing and the expert's reply from
    the text are those of the spec."""
    for seed in range(3):
        route, points = _virl_walk(env_id, protocol, seed)
        assert virl_specs._rail_fast(route["rail"], len(route["sentences"])) == _full_rail(route)
        assert {spec["point"]["kind"] for spec in points} >= {"start", "forward", "destination"}
        for spec in points:
            text = dump_spec(spec)
            fast = virl_specs._point_from_text(text)
            assert fast is not None and fast == virl_specs._check(spec), text[:200]
            expert = virl_specs.expert_reply(spec)
            assert virl_specs.expert_reply(text) == expert
            for reply in (expert, "stop()", "forward()"):
                assert virl_specs.grade(reply, text) == virl_specs.grade(reply, spec)
                got, want = virl_specs.advance(reply, text), virl_specs.advance(reply, spec)
                assert (got.grade, got.terminated, got.message, got.next_spec) == (
                    want.grade, want.terminated, want.message, want.next_spec)


def _text_of(spec: dict[str, Any], old: str = "", new: str = "") -> str:
    text = dump_spec(spec)
    if old:
        assert old in text
        text = text.replace(old, new, 1)
    return text


def _at_point(spec: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**spec, "point": {**spec["point"], **changes}}


def _point_text_of_length(spec: dict[str, Any], length: int) -> str:
    """The spec's canonical text, its instruction padded to ``length`` characters in all."""
    text = dump_spec(spec)
    return dump_spec({**spec, "instruction": spec["instruction"] + "x" * (length - len(text))})


def _valid_point_texts() -> list[tuple[str, str, bool]]:
    """(name, valid canonical point spec text, whether the fast reader must read it): each bound itself, JSON
    escapes in every string it reads, numbers in every JSON form."""
    p = _virl_point()
    last = {**_at_point(p, kind="destination", turn_to=None, turn_relative=None), "point_index": 10,
            "last_point": True}
    return [
        ("bounds of the coordinates", _text_of(_at_point(p, heading=-1e9, position=[1e9, -1e9], turn_to=1e9)), True),
        ("integer coordinates", _text_of(_at_point(p, heading=16, position=[1, -2], turn_to=-299)), True),
        ("exponents", _text_of(_at_point(p, heading=1.5e2, position=[-2.5e-3, 1e5])), True),
        # The integer -0 is 0 to the JSON parser and -0.0 to float(): left to the full check; -0.0 is read fast.
        ("heading -0", _text_of(p, '"heading":16.0', '"heading":-0'), False),
        ("turn_to -0", _text_of(p, '"turn_to":299.0', '"turn_to":-0'), False),
        ("position -0", _text_of(_at_point(p, position=[0, 0]), '"position":[0,0]', '"position":[-0,-0]'), False),
        ("heading -0.0", _text_of(p, '"heading":16.0', '"heading":-0.0'), True),
        ("position -0e0", _text_of(_at_point(p, position=[0, 0]), '"position":[0,0]', '"position":[-0e0,-0E1]'),
         True),
        ("no turn", _text_of(_at_point(p, turn_to=None, turn_relative=None, kind="forward")), True),
        ("slightly right", _text_of(_at_point(p, turn_relative="slightly right")), True),
        ("escapes in the observation", _text_of(_at_point(p, observation='Cafe "Flore" \\ \u00e9\n')), True),
        ("landmarks", _text_of(_at_point(p, landmarks=["Cafe Flore", "Union Fitness"])), True),
        ("escaped landmarks", _text_of(_at_point(p, landmarks=['Cafe "Flore"', "B\\y", "\u00e9"])), True),
        ("escapes in the sentence", _text_of({**p, "sentence": 'Turn "left"\n'}), True),
        ("escapes in the episode", _text_of({**p, "episode": {**p["episode"], "style": 'new "york"'}}), True),
        ("an empty episode", _text_of({**p, "episode": {}}), True),
        ("an episode of every flat value", _text_of({**p, "episode": {"a": None, "b": True, "c": -12, "d": "x"}}),
         True),
        ("a nested episode", _text_of({**p, "episode": {**p["episode"], "x": {"a": [1, 2.5]}}}), False),
        ("one attempt left", _text_of({**p, "attempts_left": 1}), True),
        ("the last point", _text_of(last), True),
        ("a one-point route", _text_of({**last, "num_points": 1, "point_index": 0}), True),
        ("the longest route", _text_of({**last, "num_points": 2000, "point_index": 1999}), True),
        ("the last sentence index", _text_of(_at_point(p, sentence=9999)), True),
        ("no env id", _text_of({**p, "env_id": None}), True),
        ("history and replies", _text_of({**p, "history": [["a", "b"], ['c"', "d\n"]], "replies": [["x", "y"]]}),
         True),
        ("the suite protocol, absolute turns", _text_of({**p, "protocol": "suite", "rules": {
            **p["rules"], "action_mode": "absolute", "max_attempts": 5}, "attempts_left": 5}), True),
        ("an intersection", _text_of(_at_point(p, at_intersection=True, kind="crossing")), True),
        ("the longest text", _point_text_of_length(p, MAX_SPEC_CHARS), True),
    ]


def test_virl_point_text_reads_minus_zero_as_the_json_parser_does():
    # The integer -0 is the integer 0 (heading +0.0); the float -0.0 keeps its sign. (== cannot tell them apart.)
    p = _virl_point()
    for token, sign in (("-0", 1.0), ("-0.0", -1.0), ("0", 1.0)):
        text = _text_of(p, '"heading":16.0', f'"heading":{token}')
        assert math.copysign(1.0, virl_specs._load(text).point.heading) == sign, token
        assert math.copysign(1.0, virl_specs._check(json.loads(text)).point.heading) == sign, token


def test_virl_point_texts_at_the_bounds_are_read_as_the_full_check_reads_them():
    for name, text, read_fast in _valid_point_texts():
        full = virl_specs._check(json.loads(text))
        fast = virl_specs._point_from_text(text)
        assert fast == full if read_fast else fast in (None, full), name
        for reply in (virl_specs.expert_reply(text), "forward()", "stop()"):
            assert virl_specs.grade(reply, text) == virl_specs.grade(reply, json.loads(text)), name
    # Past the text bound, as a dict: a landmark of a million characters is a name.
    spec = _at_point(_virl_point(), landmarks=["x" * 1_000_000])
    assert virl_specs._check(spec).point.landmarks == ("x" * 1_000_000,)


TWICE = "spec field 'city_seed' appears twice in one object; a spec's JSON text names each field once"


def _broken_point_texts() -> list[tuple[str, str, str]]:
    """(name, canonical text of a broken point spec, the whole SpecError message)."""
    p = _virl_point()
    dest = _at_point(p, kind="destination", turn_to=None, turn_relative=None)
    first = '"episode":{"city_seed":0,'
    return [
        ("heading past the bound", _text_of(_at_point(p, heading=1000000000.5)),
         _virl_field("point.heading", "must be a finite number within 1e+09, got 1000000000.5")),
        ("heading below the bound", _text_of(_at_point(p, heading=-1000000000.5)),
         _virl_field("point.heading", "must be a finite number within 1e+09, got -1000000000.5")),
        ("x past the bound", _text_of(_at_point(p, position=[2e9, 0])),
         _virl_field("point.position", "must be a finite number within 1e+09, got 2000000000.0")),
        ("y below the bound", _text_of(_at_point(p, position=[0, -2e9])),
         _virl_field("point.position", "must be a finite number within 1e+09, got -2000000000.0")),
        ("turn_to past the bound", _text_of(_at_point(p, turn_to=2e9)),
         _virl_field("point.turn_to", "must be a finite number within 1e+09, got 2000000000.0")),
        ("a turn word with no turn_to", _text_of(_at_point(p, turn_to=None)),
         _virl_field("point.turn_relative", "must be null at a point with no turn_to, got 'left'")),
        ("a turn_to with no turn word", _text_of(_at_point(p, turn_relative=None)),
         _virl_field("point.turn_relative", "must be one of ['left', 'right', 'slightly left', 'slightly right'] at a "
                                            "point with a turn_to, got None")),
        ("no attempt left", _text_of({**p, "attempts_left": 0}), _virl_field("attempts_left", "must be in 1..2, got 0")),
        ("more attempts than the rules", _text_of({**p, "attempts_left": 3}),
         _virl_field("attempts_left", "must be in 1..2, got 3")),
        ("no points", _text_of({**p, "num_points": 0}), _virl_field("num_points", "must be in 1..2000, got 0")),
        ("too many points", _text_of({**p, "num_points": 2001}),
         _virl_field("num_points", "must be in 1..2000, got 2001")),
        ("point_index past the route", _text_of({**p, "point_index": 11}),
         _virl_field("point_index", "must be in 0..10, got 11")),
        ("last_point at the first", _text_of({**p, "last_point": True}),
         _virl_field("last_point", "is True at point_index 0 of num_points 11")),
        ("not last_point at the last", _text_of({**p, "point_index": 10}),
         _virl_field("last_point", "is False at point_index 10 of num_points 11")),
        ("the destination first", _text_of(dest),
         _virl_field("point.kind", "may be 'destination' only at the last point")),
        ("sentence index past the bound", _text_of(_at_point(p, sentence=10000)),
         _virl_field("point.sentence", "must be in 0..9999, got 10000")),
        ("rules out of range", _text_of({**p, "rules": {**p["rules"], "max_attempts": 0}}),
         _virl_field("rules.max_attempts", "must be in 1..100, got 0")),
        ("a reward not a number", _text_of({**p, "rewards": {**p["rewards"], "correct": "x"}}),
         _virl_field("rewards.correct", "must be a number, got 'x'")),
        ("an unknown protocol", _text_of({**p, "protocol": "x"}),
         "spec field 'protocol': 'x' is not a protocol this version grades (suite, paper)"),
        ("a key twice in the episode", _text_of(p, first, first + '"city_seed":1,'),
         TWICE),
        ("a key twice in the episode, escaped", _text_of(p, first, first + '"city\\u005fseed":1,'), TWICE),
        ("no history", _text_of(_without(p, "history")), "V-IRL spec has no 'history' field"),
        ("the point a list", _text_of({**p, "point": [1]}),
         _virl_field("point", "must be an object of rail point fields, got a list of 1 items")),
        ("the point without its heading", _text_of({**p, "point": _without(p["point"], "heading")}),
         "V-IRL spec has no 'point.heading' field"),
        ("a text one character too long", _point_text_of_length(p, MAX_SPEC_CHARS + 1),
         "a spec is at most 1,000,000 characters of JSON, got 1,000,001"),
    ]


def test_virl_broken_point_texts_are_refused_as_the_full_check_refuses_them():
    """The fast reader reads none of them (it hands each to the JSON parser and the full check), and the refusal is
    the same from the text as from the dict."""
    for name, text, message in _broken_point_texts():
        assert virl_specs._point_from_text(text) is None, name
        assert _refusal(text) == message, name
        with pytest.raises(SpecError):
            virl_specs.advance("forward()", text)


def _at_rail(spec: dict[str, Any], number: int, **changes: Any) -> dict[str, Any]:
    rail = list(spec["rail"])
    rail[number] = {**rail[number], **changes}
    return {**spec, "rail": rail}


def test_virl_rails_at_the_bounds_are_read_by_the_fast_pass():
    """Each bound itself, integers for floats, landmarks, a turn at every kind of point: the fast pass reads the rail
    (the field-by-field check would build the same points)."""
    r = _virl_route()
    rails = [
        _at_rail(r, 1, position=[1e9, -1e9], heading=-1e9, turn_to=1e9, turn_relative="right"),
        _at_rail(r, 1, position=[-1e9, 1e9], heading=1e9, turn_to=-1e9, turn_relative="slightly left"),
        _at_rail(r, 1, position=[3, -4], heading=90, turn_to=180, turn_relative="left", landmarks=["A", 'B "c"']),
        _at_rail(r, 1, sentence=5, at_intersection=True, kind="crossing"),
        {**r, "rail": [{**r["rail"][-1], "sentence": 0}], "num_points": 1},
        _at_rail(r, 1, observation="x" * 1_000_000, landmarks=["y" * 1_000_000]),
        {**_at_rail(r, 1, sentence=9999), "sentences": [*r["sentences"], *["s"] * 9994]},
    ]
    for spec in rails:
        assert virl_specs._rail_fast(spec["rail"], len(spec["sentences"])) == _full_rail(spec)
        assert virl_specs.grade("forward()", spec).verdict
    assert virl_specs._rail_fast(r["rail"], len(r["sentences"]) - 1) is None  # a sentence index past the last


# (name, changes to rail[1] of _virl_route(), the whole SpecError message)
VIRL_RAIL_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("x not a number", {"position": ["a", 0]}, _virl_field("rail[1].position", "must be a number, got 'a'")),
    ("y not a number", {"position": [0, None]}, _virl_field("rail[1].position", "must be a number, got None")),
    ("a bool coordinate", {"position": [True, 0]}, _virl_field("rail[1].position", "must be a number, got True")),
    ("three coordinates", {"position": [0, 0, 0]},
     _virl_field("rail[1].position", "must be [x, y], got a list of 3 items")),
    ("position an object", {"position": {"x": 1}},
     _virl_field("rail[1].position", "has the wrong type: a dict of 1 items")),
    ("x past the bound", {"position": [2e9, 0]},
     _virl_field("rail[1].position", "must be a finite number within 1e+09, got 2000000000.0")),
    ("x below the bound", {"position": [-2e9, 0]},
     _virl_field("rail[1].position", "must be a finite number within 1e+09, got -2000000000.0")),
    ("y past the bound", {"position": [0, 2e9]},
     _virl_field("rail[1].position", "must be a finite number within 1e+09, got 2000000000.0")),
    ("y below the bound", {"position": [0, -2e9]},
     _virl_field("rail[1].position", "must be a finite number within 1e+09, got -2000000000.0")),
    ("heading a string", {"heading": "n"}, _virl_field("rail[1].heading", "has the wrong type: 'n'")),
    ("heading a bool", {"heading": True}, _virl_field("rail[1].heading", "has the wrong type: True")),
    ("heading past the bound", {"heading": 1e10},
     _virl_field("rail[1].heading", "must be a finite number within 1e+09, got 10000000000.0")),
    ("heading below the bound", {"heading": -1e10},
     _virl_field("rail[1].heading", "must be a finite number within 1e+09, got -10000000000.0")),
    ("an unknown kind", {"kind": "fly"},
     _virl_field("rail[1].kind", "must be one of ['start', 'forward', 'crossing', 'turn', 'destination'], got 'fly'")),
    ("kind a number", {"kind": 3}, _virl_field("rail[1].kind", "has the wrong type: 3")),
    ("the destination second", {"kind": "destination"},
     "V-IRL spec field 'rail': only the last point may be the destination"),
    ("observation a number", {"observation": 3}, _virl_field("rail[1].observation", "has the wrong type: 3")),
    ("landmarks a string", {"landmarks": "ab"}, _virl_field("rail[1].landmarks", "has the wrong type: 'ab'")),
    ("a landmark a number", {"landmarks": ["a", 1]},
     _virl_field("rail[1].landmarks", "must be a list of names (strings)")),
    ("a landmark over a million characters", {"landmarks": ["a", "x" * 1_000_001]},
     _virl_field("rail[1].landmarks", "must be a list of names (strings)")),
    ("at_intersection 1", {"at_intersection": 1}, _virl_field("rail[1].at_intersection", "has the wrong type: 1")),
    ("sentence a string", {"sentence": "1"}, _virl_field("rail[1].sentence", "has the wrong type: '1'")),
    ("sentence a bool", {"sentence": True}, _virl_field("rail[1].sentence", "has the wrong type: True")),
    ("sentence -1", {"sentence": -1}, _virl_field("rail[1].sentence", "must be in 0..9999, got -1")),
    ("sentence past the bound", {"sentence": 10000}, _virl_field("rail[1].sentence", "must be in 0..9999, got 10000")),
    ("sentence past the sentences", {"sentence": 6},
     "V-IRL spec field 'rail', point 1: its sentence 6 is not one of the 6 sentences"),
    ("a turn word with no turn_to", {"turn_relative": "left"},
     _virl_field("rail[1].turn_relative", "must be null at a point with no turn_to, got 'left'")),
    ("a turn_to with no turn word", {"turn_to": 5},
     _virl_field("rail[1].turn_relative", "must be one of ['left', 'right', 'slightly left', 'slightly right'] at a "
                                          "point with a turn_to, got None")),
    ("an unknown turn word", {"turn_to": 5, "turn_relative": "up"},
     _virl_field("rail[1].turn_relative", "must be one of ['left', 'right', 'slightly left', 'slightly right'] at a "
                                          "point with a turn_to, got 'up'")),
    ("turn_to a string", {"turn_to": "5", "turn_relative": "left"},
     _virl_field("rail[1].turn_to", "must be a number, got '5'")),
    ("turn_to past the bound", {"turn_to": 1e10, "turn_relative": "left"},
     _virl_field("rail[1].turn_to", "must be a finite number within 1e+09, got 10000000000.0")),
    ("turn_to below the bound", {"turn_to": -1e10, "turn_relative": "left"},
     _virl_field("rail[1].turn_to", "must be a finite number within 1e+09, got -10000000000.0")),
]


@pytest.mark.parametrize("name, changes, message", VIRL_RAIL_FAULTS, ids=[fault[0] for fault in VIRL_RAIL_FAULTS])
def test_virl_a_broken_rail_point_is_refused_naming_the_point_and_field(name, changes, message):
    """The fast pass reads none of them; the field-by-field check names the point and the field, as a dict and as
    text, whether grading, advancing or walking."""
    spec = _at_rail(_virl_route(), 1, **changes)
    assert virl_specs._rail_fast(spec["rail"], len(spec["sentences"])) is None
    text = json.dumps(spec)
    for form in (spec, text) if len(text) <= MAX_SPEC_CHARS else (spec,):
        assert _refusal(form) == message
        with pytest.raises(SpecError) as error:
            virl_specs.walk_of(form)
        assert str(error.value) == message


def test_virl_a_rail_point_that_is_not_an_object_is_refused():
    r = _virl_route()
    # (a sentence index past the bound though the route has that many sentences)
    spec = {**_at_rail(r, 1, sentence=10000), "sentences": [*r["sentences"], *["s"] * 9995]}
    assert virl_specs._rail_fast(spec["rail"], len(spec["sentences"])) is None
    assert _refusal(spec) == _virl_field("rail[1].sentence", "must be in 0..9999, got 10000")
    for point, message in (([1], "a list of 1 items"), ("x", "'x'")):
        spec = {**r, "rail": [r["rail"][0], point, *r["rail"][2:]]}
        assert virl_specs._rail_fast(spec["rail"], 6) is None
        assert _refusal(spec) == _virl_field("rail[1]", f"must be an object of rail point fields, got {message}")
    spec = {**r, "rail": [r["rail"][0], {**r["rail"][1], "extra": 1}, *r["rail"][2:]]}
    assert virl_specs._rail_fast(spec["rail"], 6) is None
    assert _refusal(spec).endswith("is not a field of 'rail[1]' (unknown fields 'extra')")
    spec = {**r, "rail": [r["rail"][0], _without(r["rail"][1], "heading"), *r["rail"][2:]]}
    assert virl_specs._rail_fast(spec["rail"], 6) is None
    assert _refusal(spec) == "V-IRL spec has no 'rail[1].heading' field"
    # The destination one before the last (the last a destination too, or not): the fast pass must not take the
    # second-to-last point for the last, nor the full check the last for a point before it.
    spec = _at_rail(r, 9, kind="destination", turn_to=None, turn_relative=None)
    for spec in (spec, _at_rail(spec, 10, kind="forward")):
        assert virl_specs._rail_fast(spec["rail"], 6) is None
        assert _refusal(spec) == "V-IRL spec field 'rail': only the last point may be the destination"


class _Fields(dict):
    """A rail point as a dict subclass: valid, but not the plain JSON object the fast pass reads."""


def test_virl_a_rail_the_fast_pass_leaves_is_read_field_by_field():
    """Rail points of another mapping type are read by the field-by-field check (the destination last is valid
    there too): the walk grades and advances as the plain spec's."""
    r = _virl_route()
    spec = {**r, "rail": [_Fields(point) for point in r["rail"]]}
    assert virl_specs._rail_fast(spec["rail"], 6) is None
    last = {**spec, "point_index": 10, "step_correct": [True] * 10, "points_solved": [True] * 10}
    plain_last = {**last, "rail": r["rail"]}
    for form, plain in ((spec, r), (last, plain_last)):
        for reply in (virl_specs.expert_reply(plain), "forward()"):
            got, want = virl_specs.advance(reply, form), virl_specs.advance(reply, plain)
            assert (got.grade, got.terminated, got.message, got.next_spec) == (
                want.grade, want.terminated, want.message, want.next_spec)


def _route_faults() -> list[tuple[str, dict[str, Any], str]]:
    """(name, broken route spec, the whole SpecError message)."""
    r = _virl_route()
    return [
        ("a sentence not a string", {**r, "sentences": [*r["sentences"][:2], 1, *r["sentences"][3:]]},
         _virl_field("sentences", "must be a list of strings")),
        ("a sentence over a million characters", {**r, "sentences": [*r["sentences"], "x" * 1_000_001]},
         _virl_field("sentences", "must be a list of strings")),
        ("num_points one short", {**r, "num_points": 10},
         _virl_field("num_points", "is 10, but the rail has 11 points")),
        ("num_points one over", {**r, "num_points": 12},
         _virl_field("num_points", "is 12, but the rail has 11 points")),
        ("no rail points", {**r, "rail": []}, _virl_field("rail", "must list 1 to 2000 rail points, got 0")),
        ("2,001 rail points", {**r, "rail": [r["rail"][1]] * 2001, "num_points": 2000},
         _virl_field("rail", "must list 1 to 2000 rail points, got 2001")),
        ("max_steps a string", {**r, "max_steps": "x"}, _virl_field("max_steps", "has the wrong type: 'x'")),
        ("max_steps true", {**r, "max_steps": True}, _virl_field("max_steps", "has the wrong type: True")),
        ("max_steps 0", {**r, "max_steps": 0}, _virl_field("max_steps", "must be null or in 1..1000000, got 0")),
        ("max_steps past the bound", {**r, "max_steps": 1_000_001},
         _virl_field("max_steps", "must be null or in 1..1000000, got 1000001")),
        ("point_index past the rail", {**r, "point_index": 11}, _virl_field("point_index", "must be in 0..10, got 11")),
        ("attempts_left over the rules", {**r, "attempts_left": 3},
         _virl_field("attempts_left", "must be in 1..2, got 3")),
        ("a step flag not a bool", {**r, "step_correct": ["x"]},
         _virl_field("step_correct", "must be a list of true/false")),
        ("a solved flag 1", {**r, "points_solved": [1]}, _virl_field("points_solved", "must be a list of true/false")),
        ("over a million steps", {**r, "step_correct": [True] * 1_000_001},
         _virl_field("step_correct", "must list at most 1000000 steps")),
        ("feedback a number", {**r, "feedback": 3}, _virl_field("feedback", "has the wrong type: 3")),
        ("shown_feedback a number", {**r, "shown_feedback": 3}, _virl_field("shown_feedback", "has the wrong type: 3")),
        ("arrival_feedback a number", {**r, "arrival_feedback": 3},
         _virl_field("arrival_feedback", "has the wrong type: 3")),
        ("verdict a number", {**r, "verdict": 3}, _virl_field("verdict", "has the wrong type: 3")),
        ("an unknown verdict", {**r, "verdict": "bogus"},
         "V-IRL route spec is not valid: navigation state 'verdict' must be one of ['correct', 'wrong_action', "
         "'wrong_observation', 'invalid'] or None, got 'bogus'"),
        ("point_index ahead of the flags", {**r, "point_index": 3, "step_correct": [True], "points_solved": [True]},
         "V-IRL route spec is not valid: navigation state 'points_solved' must have 3 entries (index 3, finished "
         "False), got 1"),
        ("a reply not a pair", {**r, "point_replies": [["a"]]},
         _virl_field("point_replies", "must be a list of [text, text] pairs, got an item a list of 1 items")),
        ("a reply's feedback a number", {**r, "point_replies": [["a", 1]]},
         _virl_field("point_replies", "must be a list of [text, text] pairs, got an item a list of 2 items")),
        ("a reply of two numbers", {**r, "point_replies": [[1, 2]]},
         _virl_field("point_replies", "must be a list of [text, text] pairs, got an item a list of 2 items")),
        ("a reply a two-letter string", {**r, "point_replies": ["ab"]},
         _virl_field("point_replies", "must be a list of [text, text] pairs, got an item 'ab'")),
        ("a reply's feedback over a million characters", {**r, "point_replies": [["a", "x" * 1_000_001]]},
         _virl_field("point_replies", "must be a list of [text, text] pairs, got an item a list of 2 items")),
        ("an episode five levels deep", {**r, "episode": {"a": {"b": {"c": {"d": [1]}}}}},
         _virl_field("episode", "must be plain JSON (at most 4 levels deep), got a list of 1 items")),
        ("no max_steps", _without(r, "max_steps"), "V-IRL spec has no 'max_steps' field"),
        ("no sentences", _without(r, "sentences"), "V-IRL spec has no 'sentences' field"),
    ]


def test_virl_a_broken_route_spec_is_refused_with_its_exact_message():
    for name, spec, message in _route_faults():
        text = json.dumps(spec)
        for form in (spec, text) if len(text) <= MAX_SPEC_CHARS else (spec,):  # (longer text: refused for its length)
            assert _refusal(form) == message, name
        with pytest.raises(SpecError) as error:
            virl_specs.advance("forward()", spec)
        assert str(error.value) == message, name


def test_virl_route_specs_at_the_bounds_are_valid():
    r = _virl_route()
    one = {**r, "rail": [{**r["rail"][-1], "sentence": 0}], "num_points": 1}
    step = virl_specs.advance(virl_specs.expert_reply(one), one)
    assert "stop()" in virl_specs.expert_reply(one)
    assert step.grade.success and step.terminated and step.next_spec is None
    for spec in ({**r, "max_steps": 1}, {**r, "max_steps": 1_000_000},
                 {**r, "sentences": [*r["sentences"], "x" * 10**6]},
                 {**r, "step_correct": [False] * 1_000_000, "max_steps": None}, {**r, "attempts_left": 1},
                 {**r, "point_replies": [["x" * 10**6, "y" * 10**6]]},
                 {**r, "episode": {"a": {"b": {"c": {"d": 1}}}, "e": None, "f": True}}):
        assert virl_specs.grade(virl_specs.expert_reply(spec), spec).success


def test_virl_a_route_walked_to_its_step_limit_has_no_next_spec():
    r = _virl_route()
    step = virl_specs.advance("forward()", {**r, "max_steps": 1})  # a wrong action, the limit reached: truncated
    assert step.terminated is True and step.next_spec is None and step.message == step.grade.feedback
    step = virl_specs.advance("forward()", {**r, "max_steps": 2})
    assert step.terminated is False
    assert step.next_spec["max_steps"] == 2 and step.next_spec["step_correct"] == [False]
    assert virl_specs.advance("forward()", step.next_spec).next_spec is None


def test_virl_advance_on_a_route_says_what_comes_next():
    """The message is the grade's feedback whether the walk retries the point, moves on (the next prompt then shows
    no feedback) or ends; ``terminated`` is a bool."""
    r = _virl_route()
    expert = virl_specs.expert_reply(r)
    moved = virl_specs.advance(expert, r)
    assert moved.grade.success and moved.terminated is False and moved.next_spec["point_index"] == 1
    assert moved.next_spec["shown_feedback"] == "" and moved.message == moved.grade.feedback == "Correct action."
    retry = virl_specs.advance("forward()", r)
    assert retry.terminated is False and retry.message == retry.grade.feedback
    assert retry.next_spec["point_index"] == 0 and retry.next_spec["attempts_left"] == 1
    last = {**r, "point_index": 10, "step_correct": [True] * 10, "points_solved": [True] * 10}
    end = virl_specs.advance(virl_specs.expert_reply(last), last)
    assert end.terminated is True and end.next_spec is None and end.message == end.grade.feedback == "Correct action."


def test_virl_the_next_route_spec_writes_the_rail_as_the_env_does():
    """Integer coordinates read from a spec come back as the floats the env writes (the same JSON text)."""
    r = _virl_route()
    given = _at_rail(r, 1, position=[3, -4], heading=90)
    following = virl_specs.advance("forward()", given).next_spec
    written = virl_specs.advance("forward()", _at_rail(r, 1, position=[3.0, -4.0], heading=90.0)).next_spec
    assert dump_spec(following) == dump_spec(written)
    assert following["rail"][1]["position"] == [3.0, -4.0] and type(following["rail"][1]["heading"]) is float


def test_virl_a_long_navigation_state_refusal_is_cut_at_300_characters():
    r = _virl_route()
    problem = ("navigation state 'verdict' must be one of ['correct', 'wrong_action', 'wrong_observation', 'invalid'] "
               f"or None, got '{'x' * 400}'")
    assert _refusal({**r, "verdict": "x" * 400}) == "V-IRL route spec is not valid: " + problem[:300]


def test_virl_route_and_point_specs_say_why_there_is_none():
    env = gym.make("VIRL-v0")
    for spec_of, message in ((virl_specs.route_spec, "call reset() before episode_spec(): there is no episode yet"),
                             (virl_specs.episode_spec, "call reset() before episode_spec(): there is no episode yet"),
                             (virl_specs.point_spec, "call reset() before point_spec(): there is no episode yet")):
        with pytest.raises(RuntimeError) as error:
            spec_of(env)
        assert str(error.value) == message
    env = gym.make("VIRL-v0", rules={"max_attempts": 1, "on_exhausted": "terminate"})
    env.reset(seed=0)
    env.step("stop()")
    for spec_of, message in (
            (virl_specs.route_spec, "this episode is over; episode_spec() describes a route that still takes a reply"),
            (virl_specs.point_spec, "this episode is over; point_spec() describes a point that still takes a reply")):
        with pytest.raises(RuntimeError) as error:
            spec_of(env)
        assert str(error.value) == message


def test_virl_walk_of_a_route_spec_and_of_a_point_spec():
    r, p = _virl_route(), _virl_point()
    for form in (p, dump_spec(p), json.dumps(p)):
        with pytest.raises(SpecError) as error:
            virl_specs.walk_of(form)
        assert str(error.value) == ("this V-IRL spec is a point spec (it has no 'rail'); walking a route takes its "
                                    "route spec, env.unwrapped.episode_spec()")
    task = virl_specs.walk_of({**r, "point_index": 3, "step_correct": [True] * 3, "points_solved": [True] * 3})
    assert (task.index, task.attempts_left, task.max_steps) == (3, 2, 400)  # the env's time limit
    assert virl_specs.walk_of({**r, "max_steps": None}).max_steps is None
    assert virl_specs.walk_of(json.dumps(r)).expert_reply() == virl_specs.expert_reply(r)


def test_virl_is_route_spec():
    r, p = _virl_route(), _virl_point()
    assert virl_specs.is_route_spec(r) and virl_specs.is_route_spec(json.dumps(r))
    assert not virl_specs.is_route_spec(p) and not virl_specs.is_route_spec(dump_spec(p))
    with pytest.raises(SpecError, match="GeneralPoints"):
        virl_specs.is_route_spec(BASE)


def test_virl_a_reply_that_is_not_text_is_graded_as_the_empty_reply():
    r, p = _virl_route(), _virl_point()
    for spec in (r, p, dump_spec(p)):
        empty = virl_specs.grade("", spec)
        for reply in (None, 3, ["forward()"], b"forward()"):
            assert virl_specs.grade(reply, spec) == empty


@pytest.mark.parametrize("env_id, protocol", [("VIRL-v0", "suite"), ("VIRL-RuleOOD-v0", "paper")])
def test_virl_the_last_point_of_a_point_spec_ends_the_route_as_the_env_does(env_id, protocol):
    """At the last rail point, a correct reply or the last attempt ends the route (the env's feedback says so); the
    same feedback from the point spec, as a dict and as canonical text."""
    for reply in ("expert", "forward()"):
        env = _virl_env(env_id, protocol, seed=1)
        while not virl_specs.point_spec(env)["last_point"]:
            env.step(env.unwrapped.expert_reply())
        while virl_specs.point_spec(env)["attempts_left"] > 1:
            env.step("forward()")
        spec = virl_specs.point_spec(env)
        text = reply if reply != "expert" else env.unwrapped.expert_reply()
        steps = [virl_specs.advance(text, spec), virl_specs.advance(text, dump_spec(spec))]
        _, reward, terminated, _, info = env.step(text)
        assert terminated
        for step in steps:
            assert step.terminated is True and step.next_spec is None
            assert (step.grade.verdict, step.grade.reward, step.grade.feedback) == (info["verdict"], reward,
                                                                                     info["feedback"])
            assert step.message == info["feedback"]


def test_virl_advance_on_a_point_spec_keeps_the_replies_as_the_env_does():
    """Each failed reply is added to those before it, cut as the env cuts it (a reply that is not text: as the empty
    reply graded); a correct reply's message is its feedback."""
    env = gym.make("VIRL-v0", rules={"max_attempts": 3})
    env.reset(seed=0)
    spec = virl_specs.point_spec(env)
    first = virl_specs.advance("forward()", spec)
    env.step("forward()")
    assert first.next_spec == virl_specs.point_spec(env) and len(first.next_spec["replies"]) == 1
    long = "stop() " + "x" * 9000
    second = virl_specs.advance(long, first.next_spec)
    env.step(long)
    assert second.next_spec == virl_specs.point_spec(env)
    assert len(second.next_spec["replies"]) == 2 and second.next_spec["replies"][1][0].endswith(" [cut]")
    not_text = virl_specs.advance(None, first.next_spec)
    assert not_text.next_spec["replies"][1] == ["", not_text.message]
    won = virl_specs.advance(virl_specs.expert_reply(spec), spec)
    assert won.terminated is True and won.next_spec is None and won.message == won.grade.feedback == "Correct action."


def test_virl_canonical_point_text_is_read_without_filling_the_cache():
    """A dataset column's canonical point spec text is read by the fast reader every time, never kept; other texts
    are checked once and kept."""
    p = _virl_point()
    assert virl_specs.grade("forward()", dump_spec(p)).verdict and len(virl_specs._CHECKED) == 0
    assert virl_specs.grade("forward()", json.dumps(p)).verdict and len(virl_specs._CHECKED) == 1


def _point_faults() -> list[tuple[str, dict[str, Any], str]]:
    """(name, broken point spec, the whole SpecError message): the fields around the point, the rules, the rewards,
    the episode."""
    p = _virl_point()

    def rules(**changes: Any) -> dict[str, Any]:
        return {**p, "rules": {**p["rules"], **changes}}

    def rewards(**changes: Any) -> dict[str, Any]:
        return {**p, "rewards": {**p["rewards"], **changes}}

    far = "must be a finite number within 1e+300, got"
    action_modes = "action_mode must be one of ('absolute', 'relative', 'bearing'), got"
    return [
        ("env_id a number", {**p, "env_id": 3}, _virl_field("env_id", "has the wrong type: 3")),
        ("instruction a number", {**p, "instruction": 3}, _virl_field("instruction", "has the wrong type: 3")),
        ("an instruction over a million characters", {**p, "instruction": "x" * 1_000_001},
         _virl_field("instruction", "is a string of 1,000,001 characters, over 1,000,000")),
        ("sentence a number", {**p, "sentence": 3}, _virl_field("sentence", "has the wrong type: 3")),
        ("last_point 1", {**p, "last_point": 1}, _virl_field("last_point", "has the wrong type: 1")),
        ("attempts_left a string", {**p, "attempts_left": "1"},
         _virl_field("attempts_left", "has the wrong type: '1'")),
        ("an unknown observation mode", {**p, "observation_mode": "smell"},
         _virl_field("observation_mode", "must be 'text' or 'image', got 'smell'")),
        ("observation mode a number", {**p, "observation_mode": 3},
         _virl_field("observation_mode", "has the wrong type: 3")),
        ("rules a list", {**p, "rules": [1]}, _virl_field("rules", "has the wrong type: a list of 1 items")),
        ("rules without drop_rate", {**p, "rules": _without(p["rules"], "drop_rate")},
         "V-IRL spec has no 'rules.drop_rate' field"),
        ("action_mode a number", rules(action_mode=3), _virl_field("rules.action_mode", "has the wrong type: 3")),
        ("on_exhausted a number", rules(on_exhausted=3), _virl_field("rules.on_exhausted", "has the wrong type: 3")),
        ("grade_observation a string", rules(grade_observation="yes"),
         _virl_field("rules.grade_observation", "has the wrong type: 'yes'")),
        ("max_attempts a string", rules(max_attempts="3"),
         _virl_field("rules.max_attempts", "has the wrong type: '3'")),
        ("max_attempts 101", rules(max_attempts=101), _virl_field("rules.max_attempts", "must be in 1..100, got 101")),
        ("forward_points a string", rules(forward_points="2"),
         _virl_field("rules.forward_points", "has the wrong type: '2'")),
        ("forward_points 9", rules(forward_points=9), _virl_field("rules.forward_points", "must be in 0..8, got 9")),
        ("forward_points -1", rules(forward_points=-1), _virl_field("rules.forward_points", "must be in 0..8, got -1")),
        ("drop_rate a string", rules(drop_rate="x"), _virl_field("rules.drop_rate", "has the wrong type: 'x'")),
        ("drop_rate past the bound", rules(drop_rate=1e301), _virl_field("rules.drop_rate", f"{far} 1e+301")),
        ("drop_rate 2", rules(drop_rate=2),
         "V-IRL spec field 'rules' is not valid: drop_rate must be in [0, 1), got 2"),
        ("an unknown action mode", rules(action_mode="diagonal"),
         f"V-IRL spec field 'rules' is not valid: {action_modes} 'diagonal'"),
        ("a long unknown action mode", rules(action_mode="x" * 400),
         "V-IRL spec field 'rules' is not valid: " + f"{action_modes} '{'x' * 400}'"[:300]),
        ("rewards a list", {**p, "rewards": [1]}, _virl_field("rewards", "has the wrong type: a list of 1 items")),
        ("a reward true", rewards(correct=True), _virl_field("rewards.correct", "must be a number, got True")),
        ("a reward of 302 digits", rewards(correct=10**301),
         _virl_field("rewards.correct", f"{far} an integer of about 302 digits")),
        ("a reward past the bound", rewards(invalid=-1e301), _virl_field("rewards.invalid", f"{far} -1e+301")),
        ("a reward NaN", rewards(correct=float("nan")), _virl_field("rewards.correct", f"{far} nan")),
        ("an x of two billion", _at_point(p, position=[2 * 10**9, 0]),
         _virl_field("point.position", "must be a finite number within 1e+09, got 2000000000")),
        ("a y of minus two billion", _at_point(p, position=[0, -2 * 10**9]),
         _virl_field("point.position", "must be a finite number within 1e+09, got -2000000000")),
        ("episode a list", {**p, "episode": [1]}, _virl_field("episode", "has the wrong type: a list of 1 items")),
        ("an episode string over a million characters", {**p, "episode": {"x": "y" * 1_000_001}},
         _virl_field("episode", "holds a string of 1,000,001 characters, over 1,000,000")),
        ("an episode number past the bound", {**p, "episode": {"x": 1e301}}, _virl_field("episode", f"{far} 1e+301")),
        ("an episode key not a string", {**p, "episode": {1: "x"}},
         _virl_field("episode", "has a key that is not a string: 1")),
        ("an episode holding a set", {**p, "episode": {"a": {1}}},
         _virl_field("episode", "must be plain JSON (at most 4 levels deep), got a set of 1 items")),
    ]


def test_virl_a_broken_point_spec_is_refused_with_its_exact_message():
    for name, spec, message in _point_faults():
        assert _refusal(spec) == message, name
        try:
            same = json.loads(json.dumps(spec, allow_nan=False)) == spec
        except (TypeError, ValueError):  # (a set, NaN: no JSON text)
            same = False
        if not same:  # (nor for a key that is not a string)
            continue
        text = dump_spec(spec)
        if len(text) <= MAX_SPEC_CHARS:
            assert virl_specs._point_from_text(text) is None, name
            assert _refusal(text) == message, name


def test_virl_point_specs_at_the_bounds_are_valid():
    p = _virl_point()
    for spec in ({**p, "rules": {**p["rules"], "max_attempts": 100}},
                 {**p, "rules": {**p["rules"], "forward_points": 0}},
                 {**p, "rules": {**p["rules"], "forward_points": 8}},
                 {**p, "rewards": {**p["rewards"], "correct": 1e300, "invalid": -1e300}},
                 {**p, "rewards": {**p["rewards"], "correct": 10**300, "invalid": -10**300}},
                 _at_point(p, position=[10**9, -10**9], heading=-10**9, turn_to=10**9),
                 {**p, "instruction": "x" * 1_000_000},
                 {**p, "episode": {"x": "y" * 1_000_000, "z": [[[1]], {"a": 1}]}}):
        assert virl_specs.grade(virl_specs.expert_reply(spec), spec).success
    assert virl_specs.grade("stop()", {**p, "rewards": {**p["rewards"], "invalid": -1e300}}).reward == -1e300


def _unknown_field_refusal(spec: Any) -> tuple[str, str]:
    """The refusal of an unknown field: (the field named, what is said of it)."""
    message = _refusal(spec)
    assert message.startswith("V-IRL spec field ")
    named, said = message.removeprefix("V-IRL spec field ").split(" is not a field of ")
    return named.strip("'\""), said


def test_virl_an_unknown_field_is_named_with_the_fields_it_is_not():
    r, p = _virl_route(), _virl_point()
    for spec in (r, p):
        named, said = _unknown_field_refusal({**spec, "bonus": 1, "zz": 2})
        assert named == "bonus" and said == "a V-IRL spec (unknown fields 'bonus', 'zz')"
        named, said = _unknown_field_refusal({**spec, **{f"u{i}": i for i in range(6)}})
        assert named == "u0" and said == "a V-IRL spec (unknown fields 'u0', 'u1', 'u2', 'u3', 'u4')"
        named, said = _unknown_field_refusal({**spec, "rules": {**spec["rules"], "x": 1}})
        assert named.startswith("rules.") and "x" in named and said == "'rules' (unknown fields 'x')"
    named, said = _unknown_field_refusal(_at_rail(r, 2, extra=1))
    assert named.startswith("rail[2].") and "extra" in named and said == "'rail[2]' (unknown fields 'extra')"
    named, said = _unknown_field_refusal(_at_point(p, extra=1, more=2))
    assert named.startswith("point.") and "extra" in named and said == "'point' (unknown fields 'extra', 'more')"


def test_virl_an_unknown_field_is_named_exactly_once_quoted():
    """The field named in the refusal is the key itself, quoted once (a key that is not a string: as described)."""
    p, r = _virl_point(), _virl_route()
    assert _refusal({**p, "bonus": 1}) == ("V-IRL spec field 'bonus' is not a field of a V-IRL spec (unknown fields "
                                           "'bonus')")
    assert _refusal({**p, 1: "x"}) == "V-IRL spec field '1' is not a field of a V-IRL spec (unknown fields 1)"
    assert _refusal({**r, (1, 2): "x"}) == ("V-IRL spec field 'a tuple of 2 items' is not a field of a V-IRL spec "
                                            "(unknown fields a tuple of 2 items)")
    assert _refusal({**p, "rules": {**p["rules"], 5: 1}}) == ("V-IRL spec field 'rules.5' is not a field of 'rules' "
                                                              "(unknown fields 5)")


def _walk_to(route: dict[str, Any], replies: list[str]) -> Any:
    task = virl_specs.walk_of(route)
    for reply in replies:
        task.step(reply)
    return task


@pytest.mark.parametrize("env_id, protocol", [("VIRL-v0", "suite"), ("VIRL-RuleOOD-v0", "paper")])
def test_virl_a_point_spec_grades_every_field_as_the_walk_does(env_id, protocol):
    """At every point of a walk and for every kind of reply, the point spec's grade is the walk's grade with the
    walk's feedback: verdict, reward, feedback and the action read (kept when the feedback says what happens next)."""
    for seed in range(2):
        env = _virl_env(env_id, protocol, seed)
        route, way, done = env.unwrapped.episode_spec(), [], False
        while not done:
            spec, expert = virl_specs.point_spec(env), env.unwrapped.expert_reply()
            for reply in (expert, "stop()", "forward()", "turn_direction(north)", "turn_direction(left)", "x",
                          '{"action": "forward()"}'):
                step = _walk_to(route, way).step(reply)
                want = dataclasses.replace(step.grade, feedback=step.feedback)
                got = virl_specs.grade(reply, dump_spec(spec))
                assert got == want and got.action == step.grade.action, (seed, len(way), reply)
                assert virl_specs.grade(reply, spec) == want
            way.append(expert)
            _, _, terminated, truncated, _ = env.step(expert)
            done = terminated or truncated


def test_virl_the_last_point_ends_the_route_whatever_its_kind():
    """A point spec's last point ends the route when its attempts run out, as the walk's last point does, also when
    the point is not the destination (rules that move on when attempts run out)."""
    p = _virl_point()
    rules = {**p["rules"], "on_exhausted": "advance"}
    last = {**_at_point(p, kind="forward", turn_to=None, turn_relative=None), "rules": rules, "point_index": 10,
            "last_point": True, "attempts_left": 1, "protocol": "suite"}
    point = virl_specs._check(last)
    task = NavigationTask([point.point], point.rules, point.rewards, "suite")
    task.attempts_left = 1
    step = task.step("stop()")
    assert step.terminated and task.finished
    result = virl_specs.advance("stop()", last)
    assert result.grade.feedback == step.feedback == result.message and result.terminated
    moved_on = {**last, "point_index": 9, "last_point": False}
    assert virl_specs.grade("stop()", moved_on).feedback != step.feedback


def test_virl_a_reply_that_is_not_text_is_graded_as_the_empty_reply():
    """A reward function may hand over anything; what is not a string is graded (and kept) as the empty reply."""
    p, r = _virl_point(), _virl_route()
    for spec in (p, r, dump_spec(p), dump_spec(r)):
        empty = virl_specs.grade("", spec)
        assert empty.verdict.value == "invalid" and empty.action is None
        for reply in (None, 42, b"forward()", ["stop()"]):
            assert virl_specs.grade(reply, spec) == empty
            got, want = virl_specs.advance(reply, spec), virl_specs.advance("", spec)
            assert (got.grade, got.terminated, got.message, got.next_spec) == (
                want.grade, want.terminated, want.message, want.next_spec)
    assert virl_specs.advance(None, p).next_spec["replies"] == [["", virl_specs.grade("", p).feedback]]
