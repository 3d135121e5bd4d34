"""Hostile episode specs: a grader handed any spec gives a verdict or a ``SpecError`` naming the field, never another
exception, and never grades under a default the spec did not state (issue 19).

Two parts:

* :data:`NAMED_FAULTS`, a table of specs that the code before this test mishandled (its ``old`` column says what
  each did at commit 9d00b35, run there: graded under default rules or with fields ignored, or crashed with
  OverflowError, RecursionError, TypeError);
* :func:`test_mutated_specs_get_a_verdict_or_a_spec_error`: 50,000 specs built by seeded mutation of real specs of
  every id and protocol of each game in :data:`GAMES`, each graded as a dict and as JSON text.

The mutation engine knows nothing of any game: it edits JSON-like values and JSON text. A game takes part through a
:class:`Game` entry (its real specs, its grader, what a verdict must satisfy, a cheap reply to grade with); V-IRL's
can be added to :data:`GAMES` beside GeneralPoints'.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
import tracemalloc
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import pytest

import gpoints_env
import virl_env
from gpoints_env import specs as gp_specs
from gpoints_env.checker import RewardTable
from gpoints_env.protocols import PROTOCOLS
from gpoints_env.rules import Rules
from gpoints_env.wrappers import AceValue, TargetPoints
from virl_env import specs as virl_specs
from virl_env.specs import MAX_RAIL_POINTS
from virl_env.protocols import PROTOCOLS as VIRL_PROTOCOLS
from sftrl_core.grading import Grade, VerdictEnum
from sftrl_core.specs import BoundedCache, SpecError, deep_sizeof, dump_spec, load_spec, parse_spec_text, spec_game

MUTANTS = 50_000
BIG = 10**400
TEN_MB = 10 * 2**20


# ----------------------------------------------------------------------------------------------------------------
# The games.
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Game:
    """What the hostile-spec tests need of one game.

    Attributes:
        name: the spec's ``game`` field.
        base_specs: real specs (of every id and protocol, at several attempts), with a reply for each that the
            game grades quickly and that reaches deep into grading (e.g. the expert's).
        grade: the game's public ``grade(reply, spec)``.
        check_grade: asserts what a grade must satisfy for a spec that validated (its dict form is given), e.g. that
            it equals grading under exactly the spec's fields.
        check_text_readers: asserts that every way the game reads spec text agrees (or ``None``).
    """

    name: str
    base_specs: Callable[[], list[tuple[dict[str, Any], str]]]
    grade: Callable[[object, Any], Grade]
    check_grade: Callable[[Grade, object, dict[str, Any]], None]
    check_text_readers: Callable[[str], None] | None = None
    other_specs: Callable[[list[tuple[dict[str, Any], str]]], list[dict[str, Any]]] | None = None


def _gpoints_base_specs() -> list[tuple[dict[str, Any], str]]:
    found = []
    for env_id, kwargs in gpoints_env.ENV_IDS.items():
        for protocol in PROTOCOLS:
            env = gym.make(env_id, protocol=protocol, **({"resolution": 64} if "VL" in env_id else {}))
            for seed in range(3):
                env.reset(seed=seed)
                found.append((env.unwrapped.episode_spec(), env.unwrapped.expert_reply()))
                env.step("1+1")
                env.step("nothing")
                found.append((env.unwrapped.episode_spec(), env.unwrapped.expert_reply()))
    variants = [  # (fixed hands: dealing under new rules would first build their table of solvable hands)
        (TargetPoints(AceValue(gym.make("GeneralPoints-v0", rewards="binary", max_attempts=2), 11), 30),
         ["A", "9", "10", "K"]),
        (gym.make("GeneralPoints-v0", hand_size=3, operators="+*", rewards={"illegal_formula": -1}), ["8", "8", "8"]),
        (gym.make("GeneralPoints-VL-RuleOOD-v0", resolution=96, hand_size=5, suit_colour="red"),
         ["A", "2", "3", "4", "Q"]),
    ]
    for env, cards in variants:
        env.reset(seed=7, options={"cards": cards})
        found.append((env.unwrapped.episode_spec(), env.unwrapped.expert_reply()))
    return found


def _gpoints_check_grade(result: Grade, reply: object, spec: dict[str, Any]) -> None:
    """A grade from a spec that validated equals grading under exactly the spec's own fields (no defaults)."""
    assert isinstance(result, gpoints_env.Grade) and isinstance(result.verdict, gpoints_env.Verdict)
    rules = Rules(**{**spec["rules"], "face_values": tuple(spec["rules"]["face_values"])})
    protocol = PROTOCOLS[spec["protocol"]]
    expected = protocol.grade(reply, list(spec["cards"]), rules, RewardTable(**spec["rewards"]),
                              spec["observation_mode"] == "image")
    assert result == expected
    if protocol.name == "suite":
        assert result.reward == spec["rewards"][result.verdict.value]
    assert math.isfinite(result.reward)


def _gpoints_check_text_readers(text: str) -> None:
    """The fast reader of spec text (templates, gpoints_env/specs.py) agrees with the full parser on every text."""
    def outcome(read: Callable[[], Any]) -> Any:
        try:
            frame, ranks, attempt = read()
        except SpecError:
            return "SpecError"
        return (frame.rules, frame.image, frame.rewards, frame.max_attempts, frame.protocol, tuple(ranks), attempt)

    fast = outcome(lambda: gp_specs._load(text))
    full = outcome(lambda: gp_specs._validate(load_spec(text, gp_specs.GAME, gp_specs.MAX_SPEC_CHARS)))
    assert fast == full, text[:300]


def _virl_base_specs() -> list[tuple[dict[str, Any], str]]:
    """Route and point specs of every V-IRL id (VL ids at view_size 32, their specs also in text mode) and protocol,
    at the first point and after a wrong reply; and of a turn point in relative mode."""
    found = []
    for env_id in virl_env.ENV_IDS:
        for protocol in VIRL_PROTOCOLS:
            env = gym.make(env_id, protocol=protocol, **({"view_size": 32} if "VL" in env_id else {}))
            env.reset(seed=0)
            for _ in range(2):
                expert = env.unwrapped.expert_reply()
                for spec in (env.unwrapped.episode_spec(), virl_specs.point_spec(env)):
                    found.append((spec, expert))
                    if spec["observation_mode"] == "image":
                        found.append(({**spec, "observation_mode": "text"}, expert))
                env.step("forward()" if expert != "forward()" else "stop()")
            env.close()
    return found


def _virl_check_grade(result: Grade, reply: object, spec: dict[str, Any]) -> None:
    """A grade from a spec that validated: a V-IRL verdict whose reward is the spec's own for it."""
    assert isinstance(result, virl_env.Grade) and isinstance(result.verdict, VerdictEnum)
    assert result.reward == spec["rewards"][result.verdict.value]
    assert math.isfinite(result.reward)


def _virl_check_text_readers(text: str) -> None:
    """The fast readers of virl_env/specs.py accept only what the full check accepts, and read the same: the reader of
    canonical point spec text gives the full check's point; the fast pass over a route spec's rail builds the rail
    points the field-by-field check builds."""
    fast_point = virl_specs._point_from_text(text)
    try:
        spec = load_spec(text, virl_specs.GAME)
    except (SpecError, TypeError):
        assert fast_point is None, text[:300]
        return
    if fast_point is not None:
        assert fast_point == virl_specs._check(spec), text[:300]
    rail, sentences = spec.get("rail"), spec.get("sentences")
    if not isinstance(rail, list) or not isinstance(sentences, list):
        return
    fast = virl_specs._rail_fast(rail, len(sentences))
    if fast is None:
        return
    full = [virl_specs._rail_point(raw, f"rail[{number}]") for number, raw in enumerate(rail)]
    assert fast == full, text[:300]
    assert all(point.sentence < len(sentences) for point in full)
    assert all(point.kind != "destination" for point in full[:-1])


def _virl_other_specs(bases: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
    gp = [spec for spec, _ in _gpoints_base_specs()[::12]]
    return gp + [{**spec, "game": "V-IRL"} for spec in gp[:3]] + [
        {**spec, "game": "GeneralPoints"} for spec, _ in bases[:3]]


GAMES: dict[str, Game] = {
    "GeneralPoints": Game("GeneralPoints", _gpoints_base_specs, gpoints_env.grade, _gpoints_check_grade,
                          _gpoints_check_text_readers),
    "V-IRL": Game("V-IRL", _virl_base_specs, virl_env.grade, _virl_check_grade, _virl_check_text_readers,
                  _virl_other_specs),
}


def _other_game_specs() -> list[dict[str, Any]]:
    """Real specs of every game, to feed to each other game's grader."""
    import virl_env  # noqa: F401  (registers the V-IRL ids)

    found = []
    for env_id in ("VIRL-v0", "VIRL-RuleOOD-v0"):
        env = gym.make(env_id)
        env.reset(seed=0)
        found.append(env.unwrapped.episode_spec())
    return found


# ----------------------------------------------------------------------------------------------------------------
# The named faults: each mishandled by the code at 9d00b35 (the "old" column), each now a SpecError naming the field.
# ----------------------------------------------------------------------------------------------------------------


def _rule_ood_spec() -> dict[str, Any]:
    env = gym.make("GeneralPoints-RuleOOD-v0")
    env.reset(seed=0)  # the expert's reply is 12*(10+3-11): Q = 12, J = 11
    return env.unwrapped.episode_spec()


def _without(mapping: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key != name}


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# (name, spec -> hostile spec or text, the field the SpecError names, what the old code did)
NAMED_FAULTS: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    ("empty rules", lambda s: {**s, "rules": {}}, "rules.face_values",
     "graded under default rules (J/Q/K = 10): the RuleOOD expert's 12*(10+3-11) got wrong_numbers"),
    ("no face values", lambda s: {**s, "rules": _without(s["rules"], "face_values")}, "rules.face_values",
     "graded with J/Q/K = 10: wrong_numbers"),
    ("no target", lambda s: {**s, "rules": _without(s["rules"], "target")}, "rules.target",
     "graded with the default target 24"),
    ("one reward only", lambda s: {**s, "rewards": {"correct": 1.0}}, "rewards.wrong_value",
     "graded with the paper's rewards for the six verdicts it did not state"),
    ("no protocol", lambda s: _without(s, "protocol"), "protocol", "graded under the suite protocol"),
    ("version true", lambda s: {**s, "version": True}, "version", "accepted (True == 1)"),
    ("version 1.0", lambda s: {**s, "version": 1.0}, "version", "accepted (1.0 == 1)"),
    ("reward 10**400", lambda s: {**s, "rewards": {**s["rewards"], "correct": BIG}}, "rewards.correct",
     "OverflowError: int too large to convert to float"),
    ("reward 10**400 in text", lambda s: dump_spec(s).replace('"correct":5.0', f'"correct":{BIG}'), "rewards.correct",
     "OverflowError: int too large to convert to float"),
    ("max_attempts 10**400", lambda s: {**s, "max_attempts": BIG}, "max_attempts", "accepted and graded"),
    ("attempt 10**400 of max_attempts 10**401", lambda s: {**s, "attempt": BIG, "max_attempts": 10 * BIG},
     "max_attempts", "accepted and graded"),
    ("deep junk in an extra field", lambda s: {**s, "extra": _deep(100_000)}, "extra",
     "RecursionError while writing the spec as JSON"),
    ("deep junk in the rules", lambda s: {**s, "rules": {**s["rules"], "x": _deep(100_000)}}, "x",
     "RecursionError while writing the spec as JSON"),
    ("a tuple as a reward key", lambda s: {**s, "rewards": {**s["rewards"], ("correct",): 1.0}}, "rewards",
     "TypeError: '<' not supported between instances of 'tuple' and 'str' (sorting keys to write the spec)"),
    ("a non-string field name", lambda s: {**s, 5: 1}, "unknown fields 5",
     "TypeError: '<' not supported between instances of 'int' and 'str' (sorting keys to write the spec)"),
    ("a set of cards", lambda s: {**s, "cards": set(s["cards"])}, "cards",
     "TypeError: Object of type set is not JSON serializable"),
    ("paper protocol with binary rewards", lambda s: {**s, "protocol": "paper", "rewards": {
        **s["rewards"], "correct": 1.0, "wrong_value": 0.0}}, "rewards",
     "graded with the authors' rewards, ignoring the spec's (the env refuses this pairing)"),
    ("suits not a list", lambda s: {**s, "suits": 5}, "suits", "accepted"),
    ("suits of the other colour", lambda s: {**s, "rules": {**s["rules"], "suit_colour": "red"},
                                             "suits": ["spades"] * 4}, "suits", "accepted"),
    ("env_id a number", lambda s: {**s, "env_id": 5}, "env_id", "accepted"),
    ("env_id NaN in text", lambda s: dump_spec(s).replace('"env_id":"GeneralPoints-RuleOOD-v0"', '"env_id":NaN'),
     "NaN", "accepted (json.loads reads NaN)"),
    ("an unknown field", lambda s: {**s, "bonus": 100}, "bonus", "accepted, and ignored"),
    ("the rules twice in text", lambda s: dump_spec(s).replace(
        '"rules":', '"rules":{"face_values":[10,10,10],"ace_value":1,"target":24,"hand_size":4,"operators":"+-*/",'
        '"suit_colour":"any","require_face_card":false},"rules":'), "'rules' appears twice",
     "the last copy silently won"),
]


@pytest.mark.parametrize("name, build, field, old", NAMED_FAULTS, ids=[fault[0] for fault in NAMED_FAULTS])
def test_named_faults_are_refused_naming_the_field(name, build, field, old):
    spec = _rule_ood_spec()
    assert gpoints_env.grade(gp_specs.expert_reply(spec), spec).success  # the unmutated spec is fine
    hostile = build(spec)
    with pytest.raises(SpecError, match=re.escape(field)):
        gpoints_env.grade(gp_specs.expert_reply(spec), hostile)


def test_the_rule_ood_expert_is_never_graded_under_default_rules():
    spec = _rule_ood_spec()
    reply = gp_specs.expert_reply(spec)
    assert "12*(10+3-11)" in reply
    for rules in ({}, _without(spec["rules"], "face_values"), {**spec["rules"], "face_values": None}):
        for form in ({**spec, "rules": rules}, json.dumps({**spec, "rules": rules})):
            with pytest.raises(SpecError, match="rules"):
                gpoints_env.grade(reply, form)


@pytest.mark.parametrize("spec", [None, 24, b"{}", ["GeneralPoints"], 1.5])
def test_a_spec_that_is_neither_a_mapping_nor_text_is_a_type_error(spec):
    with pytest.raises(TypeError, match="a spec must be a dict or its JSON text"):
        gpoints_env.grade("1+2", spec)


def test_non_string_replies_get_a_verdict():
    spec = _rule_ood_spec()
    for reply in (None, 24, 2.5, b"12*(10+3-11)", ["12*(10+3-11)"], {"formula": "12*(10+3-11)"}):
        result = gpoints_env.grade(reply, spec)
        assert result.verdict == "no_formula" and not result.success


# ----------------------------------------------------------------------------------------------------------------
# Seeded mutation.
# ----------------------------------------------------------------------------------------------------------------

_HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 5, 24, 10**6, 10**6 + 1, 2**63, -(2**63), BIG, -BIG, 0.0, -0.0, 1.5, 5.0, 1e308,
    -1e308, float("inf"), float("-inf"), float("nan"), "", "x", "0", "24", "true", "null", "text", "image", "suite",
    "paper", "GeneralPoints", "V-IRL", "A", "10", "T", "K", "spades", "red", "any", "+-*/", "**", "\ud800", "\x00",
    "\u0410", "x" * 300, [], [[]], [None], ["A"], ["A"] * 4, ["spades"] * 4, [1, 2, 3], [10, 10, 10], {}, {"": None},
    {"correct": 5.0}, (1, 2), {1, 2},
]
_FIELD_NAMES = ["game", "version", "env_id", "protocol", "observation_mode", "rules", "cards", "suits",
                "max_attempts", "attempt", "rewards", "face_values", "ace_value", "target", "hand_size", "operators",
                "suit_colour", "require_face_card", "correct", "wrong_value", "point", "attempts_left", "episode",
                "", "Cards", "cards ", "__proto__"]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) into a JSON-like value, the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(value: Any, path: tuple, new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path`` (copies only along the path; ``_DELETE`` removes the item)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        item = _set(copy[head], rest, new) if rest else new
        if item is _DELETE:
            del copy[head]
        else:
            copy[head] = item
        return copy
    items = list(value)
    item = _set(items[head], rest, new) if rest else new
    if item is _DELETE:
        del items[head]
    else:
        items[head] = item
    return tuple(items) if isinstance(value, tuple) else items


_DELETE = object()


def _shifted(rng: random.Random, value: Any) -> Any:
    """The same value in another type or slightly out of range."""
    if isinstance(value, bool):
        return rng.choice([int(value), str(value).lower(), None, not value])
    if isinstance(value, int):
        if abs(value) > 10**300:
            return rng.choice([value + 1, -value, value * 10, 1e308, [value]])
        return rng.choice([float(value), str(value), value + 1, value - 1, -value, value * 10**rng.randint(1, 30),
                           value + 2**64, bool(value % 2), [value]])
    if isinstance(value, float):
        return rng.choice([int(value) if math.isfinite(value) else 0, str(value), value * 1e300, -value, value / 3])
    if isinstance(value, str):
        return rng.choice([value.upper(), value.lower(), f" {value}", value + "\n", value[:-1], value * 2, [value],
                           value.encode("utf-8", "surrogatepass"), value.replace("e", "\u0435")])
    if isinstance(value, list):
        choices = [value[:-1], value + value[:1], value[::-1], tuple(value), {str(i): v for i, v in enumerate(value)},
                   [value], value + [None]]
        return rng.choice(choices)
    if isinstance(value, dict):
        return rng.choice([list(value.values()), list(value), _to_text(value), [value], None])
    return None


def _mutate_value(rng: random.Random, spec: dict[str, Any], others: list[dict[str, Any]]) -> Any:
    """One to three seeded edits of a spec: a field removed, added, retyped, out of range, swapped, or another
    game's spec."""
    kind = rng.random()
    if kind < 0.03:
        other = rng.choice(others)
        return rng.choice([other, {**other, "game": spec["game"]}, {**spec, **other}, {**other, **spec}])
    if kind < 0.04:
        return rng.choice([[spec], json.dumps(spec), None, 5, list(spec), tuple(spec.items())])
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        paths = _paths(spec)[1:]
        path = rng.choice(paths)
        action = rng.random()
        if action < 0.2:
            spec = _set(spec, path, _DELETE)
        elif action < 0.35:
            containers = [p for p in _paths(spec) if isinstance(_get(spec, p), dict)]
            key = rng.choice(_FIELD_NAMES + [rng.randint(-3, 3), None])
            spec = _set(spec, (*rng.choice(containers), key), rng.choice(_HOSTILE_VALUES))
        elif action < 0.6:
            spec = _set(spec, path, rng.choice(_HOSTILE_VALUES))
        elif action < 0.9:
            spec = _set(spec, path, _shifted(rng, _get(spec, path)))
        else:
            other = rng.choice(paths)
            a, b = _get(spec, path), _get(spec, other)
            try:
                spec = _set(_set(spec, path, b), other, a)
            except (KeyError, IndexError, TypeError):  # one path ran through the other
                pass
        if not isinstance(spec, dict):
            break
    return spec


_TEXT_EDITS: list[Callable[[random.Random, str], str]] = [
    lambda rng, t: t[:rng.randrange(len(t))],  # cut short
    lambda rng, t: (lambda i: t[:i] + t[i + 1:])(rng.randrange(len(t))),  # a character dropped
    lambda rng, t: (lambda i: t[:i] + rng.choice('{}[]",:0-9\\ \x00\ufeff') + t[i:])(rng.randrange(len(t))),
    lambda rng, t: t[:-1] + ', "game": "V-IRL"}',  # a key twice
    lambda rng, t: t[:-1] + ', "attempt": 0}',
    lambda rng, t: re.sub(r"-?\d+\.\d+", rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]), t, 1),
    lambda rng, t: re.sub(r"(?<=[:\[,])\d+(?=[,\]}])", rng.choice([str(BIG), "9" * 5000, "-0", "1E2", "01", "0x10"]),
                          t, 1),
    lambda rng, t: t.replace('"cards"', '"\\u0063ards"', 1),  # a key spelled with an escape (same JSON)
    lambda rng, t: t.replace('"suits"', '"suit\\u0073"', 1),
    lambda rng, t: json.dumps(json.loads(t), indent=rng.choice([None, 1, 4]), sort_keys=rng.random() < 0.5),
    lambda rng, t: t.replace(",", rng.choice([" , ", ",\n", ",\t", ",\r\n"])),  # JSON blanks, and a CR
    lambda rng, t: t.replace(":", rng.choice([" : ", ":\u00a0", ":\x0b"])),  # a JSON blank, and two that are not
    lambda rng, t: "\ufeff" + t,
    lambda rng, t: t + rng.choice([" ", "\n", "x", "}", "{}", "null"]),
    lambda rng, t: "[" * rng.choice([10, 1000, 100_000]) + t,
    lambda rng, t: f"[{t}]",
    lambda rng, t: t.replace('"attempt":', '"attempt": ' + rng.choice(["1.0", "true", '"0"', "[0]", "-1", "00"])
                             + ', "x":', 1),
    lambda rng, t: t.replace('["', '[ "', 1).replace('"]', '" ]', 1),
    lambda rng, t: t.replace('","', '", "').replace('":"', '": "'),
    lambda rng, t: t.replace('"cards":[', '"cards":[[', 1).replace("],", "]],", 1),
    lambda rng, t: t.replace('"env_id":', '"env_id":"\\"cards\\":[\\"A\\"]",  "_":', 1),
]


def _check_spec_game(text: str) -> None:
    """spec_game, which reads the game without parsing where it can, names the game of every text that parses."""
    try:
        game = parse_spec_text(text).get("game")
    except SpecError:
        return  # the grader refuses such a text, whichever game spec_game names
    if isinstance(game, str):
        assert spec_game(text) == game, text[:300]
    else:  # no top-level game: an error, or a nested key's value (whose grader refuses the spec: no game field)
        try:
            assert isinstance(spec_game(text), str)
        except SpecError:
            pass


def _to_text(spec: Any) -> str | None:
    try:
        return json.dumps(spec, allow_nan=True)  # NaN and Infinity are written as JSON extensions: to be refused
    except (TypeError, ValueError, RecursionError):
        return None


def _expect_verdict_or_spec_error(game: Game, reply: object, spec: Any) -> bool:
    """Grade; True if it gave a verdict. A SpecError is fine; a TypeError only for a spec of the wrong type."""
    try:
        result = game.grade(reply, spec)
    except SpecError as error:
        assert len(str(error)) < 1_000  # hostile values are described, never echoed whole
        return False
    except TypeError:
        assert not isinstance(spec, (str, dict)), spec
        return False
    assert isinstance(result, Grade) and isinstance(result.verdict, VerdictEnum)
    parsed = spec if isinstance(spec, dict) else json.loads(spec)
    game.check_grade(result, reply, parsed)
    return True


@pytest.mark.parametrize("game", list(GAMES.values()), ids=list(GAMES))
def test_mutated_specs_get_a_verdict_or_a_spec_error(game):
    rng = random.Random(19)
    bases = game.base_specs()
    for spec, expert in bases:  # frames of real specs are read with their templates (a second text builds one)
        if "attempt" in spec:
            other = {**spec, "attempt": 1 - spec["attempt"] % 2}
            for text in (dump_spec(spec), dump_spec(other), json.dumps(spec), json.dumps(other)):
                game.grade(expert, text)
        else:
            assert game.grade(expert, spec).success and game.grade(expert, json.dumps(spec)).success
    if game.other_specs is not None:
        others = game.other_specs(bases)
    else:
        others = [s for s in _other_game_specs() if s["game"] != game.name] + [
            {**s, "game": "V-IRL"} for s, _ in bases[:3]]
    graded = refused = huge = 0
    for index in range(MUTANTS):
        base, expert = bases[index % len(bases)]
        reply = expert if rng.random() < 0.05 else rng.choice(["x", "1+2", "", None, '{"formula": "(1+2)*8"}'])
        if index % 2_500 == 0:  # ten-megabyte strings: a few, they are slow to build
            spec = _set(base, rng.choice(_paths(base)[1:]), "x" * TEN_MB)
            huge += 1
        else:
            spec = _mutate_value(rng, base, others)
        text = _to_text(spec)
        if rng.random() < 0.35:  # edit the text too (or instead: a base spec's text)
            source = text if text is not None and rng.random() < 0.5 else dump_spec(base)
            try:
                text = rng.choice(_TEXT_EDITS)(rng, source)
            except (ValueError, IndexError):  # an edit that needs valid JSON or a digit it did not find
                pass
        if _expect_verdict_or_spec_error(game, reply, spec):
            graded += 1
        else:
            refused += 1
        if text is not None and len(text) < 50 * TEN_MB:
            if _expect_verdict_or_spec_error(game, reply, text):
                graded += 1
            else:
                refused += 1
            if game.check_text_readers is not None:
                game.check_text_readers(text)
            _check_spec_game(text)
    assert huge >= 20
    # Both outcomes occur often: the mutations are neither all fatal nor all harmless.
    assert graded > MUTANTS // 20 and refused > MUTANTS // 2, (graded, refused)


def test_text_readers_agree_on_valid_specs_in_every_layout():
    """Every real spec, in every layout JSON writers produce, reads the same by the fast and the full reader."""
    for spec, _ in _gpoints_base_specs():
        for text in (dump_spec(spec), json.dumps(spec), json.dumps(spec, indent=2), json.dumps(spec, sort_keys=True),
                     json.dumps(spec, separators=(",", ":")), json.dumps(spec, indent="\t", sort_keys=True)):
            _gpoints_check_text_readers(text)
            for _ in range(2):  # the second reading uses the frame's compiled template
                assert gp_specs._load(text)[1] == tuple(spec["cards"])


def test_virl_canonical_point_text_is_read_by_the_fast_reader():
    """Every real point spec's canonical text (as dataset columns hold it) is read by the expression, to the point
    the full check reads; other layouts of the same spec are left to the full check and grade alike."""
    read = 0
    for spec, expert in _virl_base_specs():
        if "rail" in spec:
            continue
        text = dump_spec(spec)
        fast = virl_specs._point_from_text(text)
        assert fast is not None and fast == virl_specs._check(spec), text[:300]
        for other in (json.dumps(spec), json.dumps(spec, sort_keys=True, indent=1)):
            assert virl_specs._point_from_text(other) is None
            assert virl_env.grade(expert, other) == virl_env.grade(expert, text)
        read += 1
    assert read >= 2 * len(virl_env.ENV_IDS) * len(VIRL_PROTOCOLS)


# ----------------------------------------------------------------------------------------------------------------
# Bounded memory: the spec caches count bytes, and a hostile stream of distinct valid specs stays within them.
# ----------------------------------------------------------------------------------------------------------------


def _distinct_valid_spec_texts(count: int) -> list[str]:
    """Texts of valid specs with distinct frames (targets, rewards, env ids, layouts), two of each frame (the second
    compiles its template)."""
    env = gym.make("GeneralPoints-v0")
    env.reset(seed=0)
    base = env.unwrapped.episode_spec()
    texts = []
    for i in range(count):
        spec = {**base, "env_id": f"Custom-{i}-" + "x" * (i % 200), "rewards": {**base["rewards"], "correct": i},
                "rules": {**base["rules"], "target": i % 1000}}
        texts += [json.dumps({**spec, "attempt": attempt}, indent=(i % 3) or None) for attempt in (0, 1)]
    return texts


def test_the_spec_caches_charge_at_least_what_they_hold(monkeypatch):
    """FRAME_BYTES, PATTERN_BYTES_PER_CHAR, RULES_BYTES and REWARDS_BYTES bound what the caches' entries really hold,
    whatever the frame (long ids, padded layouts, five cards), the rule set or the reward table."""
    cache = BoundedCache(10**9, gp_specs._template_bytes)
    monkeypatch.setattr(gp_specs, "_FRAMES", cache)
    monkeypatch.setattr(gp_specs, "_recent", ())
    texts = _distinct_valid_spec_texts(60)
    env = gym.make("GeneralPoints-VL-RuleOOD-v0", hand_size=5, suit_colour="red", resolution=96, protocol="suite")
    env.reset(options={"cards": ["A", "2", "3", "4", "Q"]})
    texts += [json.dumps({**env.unwrapped.episode_spec(), "attempt": attempt}, indent=8) for attempt in (0, 1)]
    for text in texts:
        gp_specs._load(text)
    assert len(cache) >= 60 and all(template.pattern is not None for template, _ in cache._entries.values())
    for key, (template, charged) in cache._entries.items():
        seen = {id(protocol) for protocol in PROTOCOLS.values()}  # module singletons, not held by the cache
        parts = (template.frame, template.order, template.first, template.usable, template.ranks, template.attempt)
        real = sys.getsizeof(template) + deep_sizeof(key, seen) + deep_sizeof(parts, seen)
        expression = sys.getsizeof(template.pattern) + sys.getsizeof(template.pattern.pattern)
        assert expression <= gp_specs.PATTERN_BYTES_PER_CHAR * (len(key) + gp_specs._HOLE_CHARS)
        assert real + expression + BoundedCache.ENTRY_OVERHEAD <= charged, (real, expression, charged)
    extremes = [((1000, 999, 998, 997, -999_999, 5, "+-*/", "black", True),
                 Rules((1000, 999, 998), 997, -999_999, 5, "+-*/", "black", True)),
                ((1, 2, 3, 4, 5, 1, "+", "any", False), Rules((1, 2, 3), 4, 5, 1, "+", "any", False))]
    for key, rules in extremes:
        assert deep_sizeof(key) + deep_sizeof(rules) <= gp_specs.RULES_BYTES
    for key in ((1e300, -1.5, 3, 4, 5, 6, 10**6), (5.0, -1.0, -3.0, -2.0, -1.5, -3.0, -3.0)):
        table = RewardTable(**dict(zip(gp_specs._REWARD_FIELDS, key)))
        assert deep_sizeof(key) + deep_sizeof(table) <= gp_specs.REWARDS_BYTES


def test_a_stream_of_distinct_specs_stays_within_the_cache_bytes(monkeypatch):
    """Memory held after grading many distinct valid specs (each seen twice) stays within the cache's bytes."""
    max_bytes = 300_000
    stream = _distinct_valid_spec_texts(800)
    warm, texts = stream[:800], stream[800:]  # (400 frames each, none in both)

    def fresh_caches() -> BoundedCache:
        cache = BoundedCache(max_bytes, gp_specs._template_bytes)
        monkeypatch.setattr(gp_specs, "_FRAMES", cache)
        monkeypatch.setattr(gp_specs, "_RULES", BoundedCache(50_000))
        monkeypatch.setattr(gp_specs, "_REWARDS", BoundedCache(50_000))
        monkeypatch.setattr(gp_specs, "_recent", ())
        return cache

    # The same stream of other specs first, its caches then dropped: what the interpreter keeps after a first use
    # (free lists of small objects, the expression parser's) is not the caches' and stays out of the measure.
    fresh_caches()
    for text in warm:
        gp_specs.grade("1+2", text)
    cache = fresh_caches()
    re.purge()  # re's own cache of compiled expressions is not ours (documented in gpoints_env/specs.py)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for text in texts:
            gp_specs.grade("1+2", text)
            assert cache.bytes <= max_bytes
        gp_specs._recent = ()
        re.purge()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) < 400 and held <= max_bytes + 2 * 50_000, (len(cache), held)


# ----------------------------------------------------------------------------------------------------------------
# V-IRL: named faults (each once mishandled), and its byte-bounded caches.
# ----------------------------------------------------------------------------------------------------------------


def _virl_specs(env_id: str = "VIRL-RuleOOD-v0", protocol: str = "paper") -> tuple[dict, dict, str]:
    env = gym.make(env_id, protocol=protocol)
    env.reset(seed=0)  # the first point is the start: a turn (turn_to and turn_relative set)
    return env.unwrapped.episode_spec(), virl_specs.point_spec(env), env.unwrapped.expert_reply()


def _in_point(spec: dict, **changes: Any) -> dict:
    if "rail" in spec:
        return {**spec, "rail": [{**spec["rail"][0], **changes}, *spec["rail"][1:]]}
    return {**spec, "point": {**spec["point"], **changes}}


# (name, spec -> hostile spec, the field the SpecError names, what the old code did)
VIRL_FAULTS: list[tuple[str, Callable[[dict], Any], str, str]] = [
    ("null observation", lambda s: _in_point(s, observation=None), "observation",
     "AttributeError under protocol='paper'"),
    ("rules without action_mode", lambda s: {**s, "rules": _without(s["rules"], "action_mode")}, "rules.action_mode",
     "graded with absolute turns by default"),
    ("empty rules", lambda s: {**s, "rules": {}}, "rules.", "graded under the default rules"),
    ("null turn_relative", lambda s: _in_point(s, turn_relative=None), "turn_relative",
     "expected the action turn_direction(None)"),
    ("turn_to 10**400", lambda s: _in_point(s, turn_to=BIG), "turn_to", "OverflowError"),
    ("turn_to 1e308", lambda s: _in_point(s, turn_to=1e308), "turn_to", "accepted"),
    ("turn_to NaN", lambda s: _in_point(s, turn_to=float("nan")), "turn_to", "accepted"),
    ("heading 10**400", lambda s: _in_point(s, heading=BIG), "heading", "OverflowError"),
    ("one reward only", lambda s: {**s, "rewards": {"correct": 1.0}}, "rewards.wrong_action",
     "graded with default rewards for the others"),
    ("reward 10**400", lambda s: {**s, "rewards": {**s["rewards"], "correct": BIG}}, "rewards.correct",
     "OverflowError"),
    ("an unknown field", lambda s: {**s, "bonus": 1}, "bonus", "accepted, and ignored"),
    ("a set of landmarks", lambda s: _in_point(s, landmarks={"x"}), "landmarks", "TypeError writing JSON"),
    ("deep junk in the episode", lambda s: {**s, "episode": {"x": _deep(100_000)}}, "episode", "RecursionError"),
    ("a ten-megabyte instruction", lambda s: {**s, "instruction": "x" * TEN_MB}, "instruction", "accepted"),
    ("max_attempts 10**400", lambda s: {**s, "rules": {**s["rules"], "max_attempts": BIG}}, "rules.max_attempts",
     "accepted"),
]


@pytest.mark.parametrize("kind", ["route", "point"])
@pytest.mark.parametrize("name, build, field, old", VIRL_FAULTS, ids=[fault[0] for fault in VIRL_FAULTS])
def test_virl_named_faults_are_refused_naming_the_field(name, build, field, old, kind):
    route, point, expert = _virl_specs()
    spec = route if kind == "route" else point
    assert virl_env.grade(expert, spec).success and virl_specs.advance(expert, spec).grade.success
    hostile = build(spec)
    for form in (hostile, _to_text(hostile)):
        if form is None:
            continue
        # as text, NaN and over-long specs are refused by the JSON reader, which names what it found
        expected = re.escape(field) if not isinstance(form, str) else f"{re.escape(field)}|JSON extension|characters"
        with pytest.raises(SpecError, match=expected):
            virl_env.grade(expert, form)
        with pytest.raises(SpecError):
            virl_specs.advance(expert, form)


def test_the_virl_spec_cache_stays_within_its_bytes(monkeypatch):
    """Many distinct large valid specs (route and point, as text) never take the cache over its bytes, and the memory
    held afterwards is within them."""
    cache = BoundedCache(800_000, virl_specs._checked_bytes)
    monkeypatch.setattr(virl_specs, "_CHECKED", cache)
    route, point, expert = _virl_specs("VIRL-v0", "suite")
    pad = "x" * 20_000
    texts = [json.dumps({**spec, "instruction": f"{i} {pad}"}) for i in range(150) for spec in (route, point)]
    virl_env.grade(expert, texts[0])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for text in texts:
            assert virl_env.grade(expert, text).success
            assert cache.bytes <= cache.max_bytes
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0 < len(cache) < 300
    assert held <= cache.max_bytes + 100_000, held
    assert virl_specs.SPEC_CACHE_BYTES <= 32 * 2**20


def _object_dense_virl_specs() -> list[dict]:
    """Valid V-IRL specs packed with the smallest JSON values that stay separate objects when checked (two-letter
    strings: one-letter ones are shared by Python): landmarks, sentences, replies, flags, many rail points."""
    route, point, _ = _virl_specs("VIRL-v0", "suite")
    plain = {**route["rail"][0], "landmarks": [], "turn_to": None, "turn_relative": None, "kind": "forward",
             "observation": "", "sentence": 0}
    return [
        route, point,
        {**route, "rail": [{**plain, "landmarks": ["ab"] * 5_000} for _ in range(20)], "num_points": 20},
        {**route, "sentences": ["ab"] * 50_000},
        {**route, "rail": [plain] * MAX_RAIL_POINTS, "num_points": MAX_RAIL_POINTS},
        {**route, "point_replies": [["ab", "cd"]] * 20_000, "step_correct": [True] * 20_000, "max_steps": None},
        {**point, "point": {**plain, "landmarks": ["ab"] * 20_000}},
        {**point, "history": [["ab", "cd"]] * 20_000, "replies": [["ab", "cd"]] * 1_000},
    ]


def test_the_virl_frame_cache_charge_bounds_what_a_frame_keeps():
    """The checked rules, reward table and protocol of point spec texts are charged a bound on what they keep."""
    for spec, _ in _virl_base_specs():
        match = virl_specs._POINT_TEXT.fullmatch(dump_spec(spec)) if "rail" not in spec else None
        if match is None:
            continue
        key = (match.group(16), match.group(18), match.group(17))  # the protocol, rules and rewards texts
        frame = virl_specs._frame(key)
        assert frame is not None and frame[0] == spec["protocol"]
        seen: set[int] = set()
        assert virl_specs._FRAMES._entry_bytes(key, frame) >= deep_sizeof(key, seen) + deep_sizeof(frame, seen)


def test_the_virl_cache_charge_bounds_what_a_checked_spec_keeps():
    """The cache charges each text a bound on what its checked spec keeps (measuring would cost more than checking):
    the bound holds for real specs and for the most object-dense valid ones, as deep_sizeof measures them."""
    for spec in _object_dense_virl_specs():
        text = dump_spec(spec)  # (no blanks: the most values per character)
        checked = virl_specs._check(virl_specs.load_spec(text, "V-IRL"))
        assert virl_specs._checked_bytes(text, checked) >= deep_sizeof(text) + deep_sizeof(checked), len(text)
