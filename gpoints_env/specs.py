"""GeneralPoints episodes as data: a JSON spec per episode, and grading a reply from the spec alone.

A spec holds what grading needs and nothing a live env must supply: the rules in force (after any rule
wrappers), the dealt cards, the observation mode (image mode also checks the reported cards), the reward
table, the attempt budget and how many attempts are used. Grading a reply from a spec gives exactly the
verdict, reward, feedback and success that ``env.step`` gives for that reply at that point of the episode:

>>> import gymnasium as gym, gpoints_env
>>> env = gym.make("GeneralPoints-v0")
>>> _ = env.reset(options={"cards": ["8", "3", "8", "3"]})
>>> spec = env.unwrapped.episode_spec()
>>> gpoints_env.grade('{"formula": "8/(3-8/3)"}', spec).reward
5.0
>>> advance('{"formula": "8+8+3+3"}', spec).message.splitlines()[1]
'Attempt 1 of 5 was not correct. Your formula 8+8+3+3 evaluates to 22, not 24.'

Specs are plain JSON (lists, strings, numbers), so a dataset column can hold one as text; every function here
accepts the dict or its text.

A spec is untrusted input, validated completely before anything is graded: every field of :data:`SPEC_FIELDS`
must be present and no other, nested objects too (:data:`RULE_FIELDS`, one reward per verdict), each of its exact
JSON type (a boolean is no integer, ``5.0`` no attempt count) and in range (the bounds of
:class:`~gpoints_env.rules.Rules`, ``1..MAX_ATTEMPTS`` attempts, finite rewards, at most :data:`MAX_SPEC_CHARS`
characters of text, strict JSON). A bad spec raises :class:`~sftrl_core.specs.SpecError` naming the field
(``rules.target``...); nothing is ever filled in with a default. What is not checked: that the hand could have
been dealt (solvable, a face card under rule OOD, distinct physical cards): grading does not depend on it.

Specs of one env differ only in their cards, suits and attempt. Spec text is therefore read through a template per
frame (the rest of the spec, validated once; see "Spec text, fast" below), kept in caches bounded in bytes
(:data:`SPEC_CACHE_BYTES`), and equal rule sets and reward tables are built once: grading a reply against a spec
text seen for the first time costs about what ``env.step`` costs (``benchmarks/bench_specs.py``).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from operator import itemgetter
from typing import Any, NamedTuple, NoReturn

from sftrl_core.registry import GENERAL_POINTS
from sftrl_core.specs import (
    BoundedCache,
    SpecError,
    SpecStep,
    describe_value,
    load_spec,
    spec_header,
    time_limit,
)

from .checker import PAPER_REWARDS, Grade, RewardTable
from .protocols import PROTOCOLS, Protocol
from .rules import (
    MAX_ABS_TARGET,
    MAX_ATTEMPTS,
    MAX_CARD_VALUE,
    MAX_HAND_SIZE,
    MIN_HAND_SIZE,
    OPERATORS,
    RANKS,
    SUIT_COLOURS,
    Rules,
    episode_over,
)

__all__ = ["GAME", "PRESENTATION_FIELDS", "SPEC_FIELDS", "RULE_FIELDS", "MAX_SPEC_CHARS", "SPEC_CACHE_BYTES",
           "episode_spec", "grade", "advance", "spec_prompt", "expert_reply", "clear_spec_caches"]

#: The ``"game"`` field of every GeneralPoints spec (the registry's name of the game).
GAME = GENERAL_POINTS.name
#: Every field of a spec, each required.
SPEC_FIELDS = ("game", "version", "env_id", "protocol", "observation_mode", "rules", "cards", "suits", "max_attempts",
               "attempt", "rewards")
#: Every field of a spec's ``rules`` object, each required (those of :class:`~gpoints_env.rules.Rules`).
RULE_FIELDS = ("face_values", "ace_value", "target", "hand_size", "operators", "suit_colour", "require_face_card")
#: Spec fields that describe the episode but play no part in grading (two specs that differ only here grade alike).
PRESENTATION_FIELDS = ("env_id", "suits")
#: The longest spec text read (a real one is about 560 characters).
MAX_SPEC_CHARS = 20_000
#: The longest ``env_id``.
MAX_ENV_ID_CHARS = 256
#: Bytes the cache of spec templates may hold (one template per distinct frame, about 14 KB: over 1,000 frames).
SPEC_CACHE_BYTES = 16 * 2**20

_REWARD_FIELDS = tuple(field.name for field in dataclasses.fields(RewardTable))
_FIELD_SET = frozenset(SPEC_FIELDS)
_RULE_SET = frozenset(RULE_FIELDS)
_REWARD_SET = frozenset(_REWARD_FIELDS)
_rewards_of = itemgetter(*_REWARD_FIELDS)
# Known labels, each mapped to itself (a dict lookup checks and reads a label at once).
_RANK_OF = {rank: rank for rank in RANKS}
_SUITS_OF = {colour: frozenset(suits) for colour, suits in SUIT_COLOURS.items()}
_MAX_COLOUR_CHARS = max(map(len, SUIT_COLOURS))
_MAX_REWARD = sys.float_info.max
_NUMBER_TYPES = frozenset((int, float))


# A validated spec, ready to grade with: its frame (what specs of one env share), its rank labels and its attempt.
_Episode = tuple["_Frame", tuple[str, ...], int]


def episode_spec(env: Any) -> dict[str, Any]:
    """The spec of the episode ``env`` is playing, at its current attempt.

    Args:
        env: a reset GeneralPoints env (wrapped or not).

    Returns:
        A JSON-serialisable dict: ``game``, ``version``, ``env_id`` (the registered id, or ``None``),
        ``protocol``, ``observation_mode``, ``rules`` (the active rules' fields), ``cards`` (rank labels),
        ``suits``, ``max_attempts``, ``attempt`` (attempts already graded) and ``rewards`` (the reward table).

    Raises:
        RuntimeError: before the first reset, or once the episode is over (nothing is left to grade).
        ValueError: ``env`` has a time limit (a ``TimeLimit`` wrapper, :func:`sftrl_core.specs.time_limit`) that ends
            an episode at or before its last attempt: a spec does not state it, so a session from the spec would
            not end there.
    """
    base = env.unwrapped
    if base.active_rules is None:
        raise RuntimeError("call reset() before episode_spec(): there is no episode yet")
    if base.finished:
        raise RuntimeError("this episode is over; episode_spec() describes an episode that still takes a reply")
    limit = time_limit(env)
    if limit is not None and limit <= base.max_attempts:
        shorter = f" and max_attempts={limit}" if limit < base.max_attempts else ""
        raise ValueError(f"this env's time limit ({limit} steps) ends an episode at or before its {base.max_attempts} "
                         "attempts, which a GeneralPoints spec does not state (a session from it would not end "
                         f"there): make the env with max_episode_steps=-1{shorter}, or play the live env "
                         "(sftrl_train.EpisodeSession.from_env)")
    rules = base.active_rules
    return {
        **spec_header(GAME, base),
        "observation_mode": base.observation_mode,
        "rules": {
            "face_values": list(rules.face_values),
            "ace_value": rules.ace_value,
            "target": rules.target,
            "hand_size": rules.hand_size,
            "operators": rules.operators,
            "suit_colour": rules.suit_colour,
            "require_face_card": rules.require_face_card,
        },
        "cards": [card.rank for card in base.hand],
        "suits": [card.suit for card in base.hand],
        "max_attempts": base.max_attempts,
        "attempt": base.max_attempts - base.attempts_left,
        "rewards": base.reward_table.to_dict(),
    }


# ----------------------------------------------------------------------------------------------------------------
# Validation. The fast path of each check is one expression over exact types; only a failing spec pays for the
# search for the field to name.
# ----------------------------------------------------------------------------------------------------------------


def _refuse(field: str, problem: str) -> NoReturn:
    raise SpecError(f"GeneralPoints spec field {field!r} {problem}")


def _refuse_fields(value: Mapping[Any, Any], known: tuple[str, ...], where: str) -> NoReturn:
    """Name the missing and the unknown fields of an object that does not have exactly the ``known`` fields."""
    prefix = f"{where}." if where else ""
    missing = [name for name in known if name not in value]
    if missing:
        _refuse(prefix + missing[0], "is missing" + (f" (so are {', '.join(map(repr, missing[1:]))})"
                                                      if len(missing) > 1 else ""))
    unknown = [describe_value(key) for key in value if key not in known][:5]
    raise SpecError(f"GeneralPoints spec{' field ' + repr(where) if where else ''} has unknown fields "
                    f"{', '.join(unknown)}; this version reads only {', '.join(known)} (a field it does not know "
                    "could change the grading)")


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if type(value) is not int:
        _refuse(field, f"must be an integer, got {describe_value(value)}")
    if not low <= value <= high:
        _refuse(field, f"must be in {low:,}..{high:,}, got {describe_value(value)}")
    return value


def _rules_object(raw: Any) -> Rules:
    if type(raw) is not dict and not isinstance(raw, Mapping):
        _refuse("rules", f"must be an object with the fields {', '.join(RULE_FIELDS)}, got {describe_value(raw)}")
    if len(raw) != len(RULE_FIELDS) or not _RULE_SET.issuperset(raw):
        _refuse_fields(raw, RULE_FIELDS, "rules")
    face = raw["face_values"]
    ops, colour, face_card = raw["operators"], raw["suit_colour"], raw["require_face_card"]
    key = None
    if (type(face) is list or type(face) is tuple) and len(face) == 3:
        key = (*face, raw["ace_value"], raw["target"], raw["hand_size"], ops, colour, face_card)
    # Exact types before the cache lookup: 1 == 1.0 == True would otherwise find rules built from another type.
    if (key is None or type(key[0]) is not int or type(key[1]) is not int or type(key[2]) is not int
            or type(key[3]) is not int or type(key[4]) is not int or type(key[5]) is not int
            or type(ops) is not str or len(ops) > len(OPERATORS) or type(colour) is not str
            or len(colour) > _MAX_COLOUR_CHARS or type(face_card) is not bool):
        _explain_rules(raw)
    return _RULES.get_or_build(key, _build_rules)


def _explain_rules(raw: Mapping[str, Any]) -> NoReturn:
    face = raw["face_values"]
    if not (type(face) is list or type(face) is tuple) or len(face) != 3:
        _refuse("rules.face_values", f"must list 3 integers (J, Q, K), got {describe_value(face)}")
    for name, value in zip("JQK", face):
        _integer(value, f"rules.face_values ({name})", 0, MAX_CARD_VALUE)
    for name in ("ace_value", "target", "hand_size"):
        if type(raw[name]) is not int:
            _refuse(f"rules.{name}", f"must be an integer, got {describe_value(raw[name])}")
    for name, limit in (("operators", len(OPERATORS)), ("suit_colour", _MAX_COLOUR_CHARS)):
        if type(raw[name]) is not str or len(raw[name]) > limit:
            _refuse(f"rules.{name}", f"must be a string of at most {limit} characters, got {describe_value(raw[name])}")
    _refuse("rules.require_face_card", f"must be true or false, got {describe_value(raw['require_face_card'])}")


def _build_rules(key: tuple[Any, ...]) -> Rules:
    """Rules from an exactly typed key; the ranges are checked here, once per distinct rule set."""
    *face, ace, target, hand_size, ops, colour, face_card = key
    for name, value in zip("JQK", face):
        _integer(value, f"rules.face_values ({name})", 0, MAX_CARD_VALUE)
    _integer(ace, "rules.ace_value", 0, MAX_CARD_VALUE)
    _integer(target, "rules.target", -MAX_ABS_TARGET, MAX_ABS_TARGET)
    _integer(hand_size, "rules.hand_size", MIN_HAND_SIZE, MAX_HAND_SIZE)
    if not ops or len(set(ops)) != len(ops) or not set(ops) <= set(OPERATORS):
        _refuse("rules.operators", f"must be distinct characters from {OPERATORS!r}, got {ops!r}")
    if colour not in SUIT_COLOURS:
        _refuse("rules.suit_colour", f"must be one of {', '.join(SUIT_COLOURS)}, got {colour!r}")
    try:
        return Rules(face_values=tuple(face), ace_value=ace, target=target, hand_size=hand_size, operators=ops,
                     suit_colour=colour, require_face_card=face_card)
    except ValueError as error:  # a rule Rules adds later; the checks above cover today's
        raise SpecError(f"GeneralPoints spec field 'rules' is not valid: {error}") from None


def _rewards_object(raw: Any) -> RewardTable:
    if type(raw) is not dict and not isinstance(raw, Mapping):
        _refuse("rewards", f"must be an object with one reward per verdict ({', '.join(_REWARD_FIELDS)}), got "
                f"{describe_value(raw)}")
    if len(raw) != len(_REWARD_FIELDS) or not _REWARD_SET.issuperset(raw):
        _refuse_fields(raw, _REWARD_FIELDS, "rewards")
    key = _rewards_of(raw)
    # Exact types before the cache lookup (True == 1 == 1.0).
    if not _NUMBER_TYPES.issuperset(map(type, key)):
        for name, value in zip(_REWARD_FIELDS, key):
            if type(value) not in _NUMBER_TYPES:
                _refuse(f"rewards.{name}", f"must be a number, got {describe_value(value)}")
    return _REWARDS.get_or_build(key, _build_rewards)


def _build_rewards(key: tuple[float, ...]) -> RewardTable:
    for name, value in zip(_REWARD_FIELDS, key):
        # Comparisons, not float(): an integer such as 10**400 is out of range, not an OverflowError.
        if not -_MAX_REWARD <= value <= _MAX_REWARD:
            _refuse(f"rewards.{name}", f"must be a finite number, got {describe_value(value)}")
    table = RewardTable(**dict(zip(_REWARD_FIELDS, key)))
    return PAPER_REWARDS if table == PAPER_REWARDS else table


def _ranks(raw: Any, size: int) -> tuple[str, ...]:
    if (type(raw) is list or type(raw) is tuple) and len(raw) == size:
        try:
            labels = tuple(map(_RANK_OF.get, raw))
        except TypeError:  # an unhashable item
            labels = (None,)
        if None not in labels:
            return labels
    _refuse("cards", f"must list {size} rank labels ({', '.join(RANKS)}; the rules' hand_size is {size}), got "
            f"{describe_value(raw)}")


def _check_suits(raw: Any, colour: str, size: int) -> None:
    if (type(raw) is list or type(raw) is tuple) and len(raw) == size:
        try:
            if _SUITS_OF[colour].issuperset(raw):
                return
        except TypeError:  # an unhashable item
            pass
    _refuse("suits", f"must list {size} suits of the rules' {colour!r} deck ({', '.join(SUIT_COLOURS[colour])}), "
            f"got {describe_value(raw)}")


class _Frame(NamedTuple):
    """The validated fields of a spec other than its hand and attempt: what a batch of specs of one env shares."""

    rules: Rules
    image: bool
    rewards: RewardTable
    max_attempts: int
    protocol: Protocol


def _frame(spec: Mapping[str, Any]) -> _Frame:
    """Validate every field of a spec that ``load_spec`` read (game and version checked), but ``cards``, ``suits``
    and ``attempt`` (:func:`_episode` checks those)."""
    if len(spec) != len(SPEC_FIELDS) or not _FIELD_SET.issuperset(spec):
        _refuse_fields(spec, SPEC_FIELDS, "")
    name = spec["protocol"]
    if type(name) is not str or name not in PROTOCOLS:
        _refuse("protocol", f"must name a protocol this version grades ({', '.join(PROTOCOLS)}), got "
                f"{describe_value(name)}")
    protocol = PROTOCOLS[name]
    env_id = spec["env_id"]
    if env_id is not None and (type(env_id) is not str or not 0 < len(env_id) <= MAX_ENV_ID_CHARS):
        _refuse("env_id", f"must be null or a registered id (at most {MAX_ENV_ID_CHARS} characters), got "
                f"{describe_value(env_id)}")
    mode = spec["observation_mode"]
    if type(mode) is not str or (mode != "text" and mode != "image"):
        _refuse("observation_mode", f"must be 'text' or 'image', got {describe_value(mode)}")
    rules = _rules_object(spec["rules"])
    max_attempts = _integer(spec["max_attempts"], "max_attempts", 1, MAX_ATTEMPTS)
    rewards = _rewards_object(spec["rewards"])
    try:
        protocol.check_rules(rules)
    except ValueError as error:
        _refuse("rules", f"does not suit protocol {name!r}: {error}")
    try:
        protocol.check_rewards(rewards)
    except ValueError as error:
        _refuse("rewards", f"does not suit protocol {name!r}: {error}")
    return _Frame(rules, mode == "image", rewards, max_attempts, protocol)


def _episode(frame: _Frame, ranks: tuple[str, ...], attempt: Any) -> _Episode:
    if type(attempt) is not int or not 0 <= attempt < frame.max_attempts:
        _integer(attempt, "attempt", 0, MAX_ATTEMPTS)
        _refuse("attempt", f"is {attempt}: it leaves no attempt of {frame.max_attempts}, the episode is over")
    return frame, ranks, attempt


def _validate(spec: Mapping[str, Any]) -> _Episode:
    """A spec that ``load_spec`` read, validated field by field."""
    frame = _frame(spec)
    ranks = _ranks(spec["cards"], frame.rules.hand_size)
    _check_suits(spec["suits"], frame.rules.suit_colour, frame.rules.hand_size)
    return _episode(frame, ranks, spec["attempt"])


# ----------------------------------------------------------------------------------------------------------------
# Spec text, fast. The specs of one env differ only in their hand and attempt. So a spec text is read as a frame
# (the text with the values of "cards", "suits" and "attempt" replaced by the markers [1], [2] and [3]) and those
# three values. Once a second text of a frame comes, the frame is parsed strictly and validated in full, and must hold
# exactly those markers as its top-level cards, suits and attempt; no valid spec holds a one-integer list anywhere else,
# so the markers sit at those three values and nowhere else. The frame then becomes a template: a regular expression
# that is the frame's text with each marker replaced by the pattern of the values it stands for (hand_size rank
# labels, hand_size suits of the rules' deck, an integer), each a valid JSON value. A text the template matches is
# therefore the frame with valid values in place: a valid spec, read in one match. The templates of the last few
# frames are tried first; otherwise the text is cut at the three values (a guess, which the frame's validation and the
# match then check). Any text this does not read (the first text of a frame among them) is read by the full parser;
# every field is validated either way.
# ----------------------------------------------------------------------------------------------------------------

_JSON_SPACE = " \t\n\r"
_WS = "[ \\t\\n\\r]*"
_MARKERS = {"cards": "[1]", "suits": "[2]", "attempt": "[3]"}
#: The longest frame made into a template (a real spec's is about 560 characters; longer ones are read in full).
MAX_TEMPLATE_CHARS = 4_000
#: Templates tried before cutting a text (the envs a trainer's batch mixes: more are found by cutting).
RECENT_TEMPLATES = 4


class _Template:
    """The template of a frame: built (the frame validated, the expression compiled) when a second text of the frame
    comes, so that a frame seen in one text costs only its reading in full."""

    __slots__ = ("frame_text", "order", "first", "usable", "frame", "pattern", "ranks", "attempt")

    def __init__(self, frame_text: str, order: tuple[str, str, str], first: int):
        self.frame_text = frame_text  # (the cache's key)
        self.order = order  # the order of the three values in the text
        self.first = first  # the hash of the first text of this frame
        self.usable = len(frame_text) <= MAX_TEMPLATE_CHARS
        self.frame: _Frame | None = None
        self.pattern: re.Pattern[str] | None = None
        self.ranks = slice(0)  # the match groups holding the rank labels
        self.attempt = 0  # the match group holding the attempt

    def build(self) -> None:
        """Validate the frame and compile the expression: the frame's text with each marker replaced by the pattern of
        its values. A frame whose markers are not the spec's cards, suits and attempt is marked unusable.

        Raises:
            SpecError: a field of the frame is not valid.
        """
        spec = load_spec(self.frame_text, GAME, MAX_SPEC_CHARS)
        for name, marker in zip(("cards", "suits", "attempt"), (1, 2, 3)):
            value = spec.get(name)
            if type(value) is not list or len(value) != 1 or type(value[0]) is not int or value[0] != marker:
                self.usable = False
                return
        frame = _frame(spec)
        size = frame.rules.hand_size
        values = {"cards": _list_pattern(RANKS, size, capture=True),
                  "suits": _list_pattern(SUIT_COLOURS[frame.rules.suit_colour], size, capture=False),
                  "attempt": "(0|[1-9][0-9]{0,%d})" % (len(str(MAX_ATTEMPTS)) - 1)}
        pattern, at, groups = [], 0, 0
        for name in self.order:
            start = self.frame_text.index(_MARKERS[name], at)
            pattern += [re.escape(self.frame_text[at:start]), values[name]]
            at = start + len(_MARKERS[name])
            if name == "cards":
                self.ranks = slice(groups, groups + size)
                groups += size
            elif name == "attempt":
                self.attempt = groups
                groups += 1
        pattern.append(re.escape(self.frame_text[at:]))
        self.frame = frame
        # (re also keeps the last 512 expressions compiled in the process: a few MB at most, outside this cache.)
        self.pattern = re.compile("".join(pattern))  # last: another thread reads the template once this is set


def _value_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``start..end`` without the JSON blanks at either edge."""
    while start < end and text[start] in _JSON_SPACE:
        start += 1
    while end > start and text[end - 1] in _JSON_SPACE:
        end -= 1
    return start, end


def _cut(text: str) -> tuple[str, tuple[str, str, str]] | None:
    """The frame text of a spec text and the order of its three values, found after their keys (a guess, which
    :meth:`_Template.build` checks), or ``None``."""
    find = text.find
    spans = {}
    for name in ("cards", "suits"):
        key = find(f'"{name}"')
        start = find("[", key)
        end = find("]", start) + 1
        if key < 0 or start < 0 or end <= 0 or text[key + len(name) + 2:start].strip(_JSON_SPACE) != ":":
            return None
        spans[name] = (start, end)
    key = find('"attempt"')
    colon = find(":", key)
    stop, brace = find(",", colon), find("}", colon)
    if stop < 0 or 0 <= brace < stop:
        stop = brace
    if key < 0 or colon < 0 or stop < 0 or text[key + 9:colon].strip(_JSON_SPACE):
        return None
    spans["attempt"] = _value_span(text, colon + 1, stop)
    order = sorted(spans, key=spans.__getitem__)
    pieces, at = [], 0
    for name in order:
        start, end = spans[name]
        if start < at or start >= end:
            return None
        pieces += [text[at:start], _MARKERS[name]]
        at = end
    pieces.append(text[at:])
    return "".join(pieces), (order[0], order[1], order[2])


def _list_pattern(alternatives: tuple[str, ...], size: int, capture: bool) -> str:
    item = "(" if capture else "(?:"
    item += "|".join(re.escape(a) for a in sorted(alternatives, key=len, reverse=True)) + ")"
    items = [f'{_WS}"{item}"{_WS}'] * size
    return "\\[" + ",".join(items) + "\\]"


def _read(template: _Template, match: re.Match[str]) -> _Episode | None:
    """The episode a template's match reads, or ``None`` (an attempt past the budget: read in full, for the error)."""
    values = match.groups()
    attempt = int(values[template.attempt])
    if attempt >= template.frame.max_attempts:
        return None
    return template.frame, values[template.ranks], attempt


_recent: tuple[_Template, ...] = ()


def _from_text(text: str) -> _Episode:
    """The validated episode of a spec text, read with a template where one fits, else in full."""
    global _recent
    if len(text) <= MAX_TEMPLATE_CHARS:
        for template in _recent:
            match = template.pattern.fullmatch(text)
            if match is not None:  # (_read, inlined: this is the path of nearly every spec a trainer grades)
                values = match.groups()
                attempt = int(values[template.attempt])
                if attempt < template.frame.max_attempts:
                    return template.frame, values[template.ranks], attempt
                break
        else:
            cut = _cut(text)
            if cut is not None:
                frame_text, order = cut
                template = _FRAMES.get_or_build(frame_text, lambda key: _Template(key, order, hash(text)))
                if template.pattern is None and template.usable and hash(text) != template.first:
                    template.build()
                if template.pattern is not None:
                    match = template.pattern.fullmatch(text)
                    if match is not None:
                        # Rebinding the tuple is atomic: threads may race here, never see a broken tuple.
                        _recent = (template, *[t for t in _recent if t is not template][:RECENT_TEMPLATES - 1])
                        episode = _read(template, match)
                        if episode is not None:
                            return episode
    return _validate(load_spec(text, GAME, MAX_SPEC_CHARS))


#: Bytes charged per cached template besides its frame text and its expression: a bound on the rest (the template,
#: its frame, rules and reward table; the last two usually shared between templates but counted in each, as they need
#: not be). Per character of frame text (plus :data:`_HOLE_CHARS`), a bound on the compiled expression and its text.
#: Both checked in tests/test_specs_hostile.py; so are those of the rule set and reward table caches.
FRAME_BYTES = 5_000
PATTERN_BYTES_PER_CHAR = 16
_HOLE_CHARS = 500
RULES_BYTES = 2_500
REWARDS_BYTES = 1_500


def _template_bytes(text: str, template: _Template) -> int:
    return sys.getsizeof(text) + FRAME_BYTES + PATTERN_BYTES_PER_CHAR * (len(text) + _HOLE_CHARS)


# Spec templates by frame text, and the distinct rule sets and reward tables their frames are built of.
_FRAMES: BoundedCache[str, _Template] = BoundedCache(SPEC_CACHE_BYTES, _template_bytes)
_RULES: BoundedCache[tuple[Any, ...], Rules] = BoundedCache(2**20, lambda key, rules: RULES_BYTES)
_REWARDS: BoundedCache[tuple[float, ...], RewardTable] = BoundedCache(2**20, lambda key, table: REWARDS_BYTES)
_CACHES = (_FRAMES, _RULES, _REWARDS)


def clear_spec_caches() -> None:
    """Forget every spec template, rule set and reward table (e.g. to measure grading of new specs)."""
    global _recent
    _recent = ()
    for cache in _CACHES:
        cache.clear()


def _load(spec: str | Mapping[str, Any]) -> _Episode:
    if isinstance(spec, str):
        return _from_text(spec)
    return _validate(load_spec(spec, GAME, MAX_SPEC_CHARS))


# ----------------------------------------------------------------------------------------------------------------
# Grading.
# ----------------------------------------------------------------------------------------------------------------


def grade(reply: object, spec: str | Mapping[str, Any]) -> Grade:
    """Grade ``reply`` as ``env.step`` grades it at the point of the episode that ``spec`` describes.

    Args:
        reply: the model's raw reply. Any value gets a verdict (a non-string one, no formula).
        spec: the episode's spec (from :func:`episode_spec`, or its JSON text).

    Returns:
        The :class:`~gpoints_env.checker.Grade` ``env.step`` computes: ``verdict``, ``reward``, ``feedback``
        (``info["feedback"]``), ``success`` (``info["is_success"]``) and the formula details.

    Raises:
        SpecError: the spec is malformed (naming the field), not a GeneralPoints spec, or of an episode that is over.
        TypeError: ``spec`` is neither a mapping nor a string.
    """
    frame, ranks, _ = _from_text(spec) if type(spec) is str else _load(spec)
    return frame.protocol.grade(reply, ranks, frame.rules, frame.rewards, frame.image)


def advance(reply: object, spec: str | Mapping[str, Any]) -> SpecStep:
    """Grade ``reply`` at ``spec`` and say what the env does next (for multi-turn loops).

    Returns:
        A :class:`~sftrl_core.specs.SpecStep`: the grade, whether the episode ended
        (:func:`gpoints_env.rules.episode_over`, as in ``env.step``), the env's ``[Feedback]`` message (the user
        turn it adds to ``info["messages"]`` when the episode goes on) and the spec of the next attempt.

    Raises:
        SpecError: as :func:`grade`.
    """
    frame, ranks, attempt = _load(spec)
    protocol = frame.protocol
    result = protocol.grade(reply, ranks, frame.rules, frame.rewards, frame.image)
    attempt += 1
    terminated = episode_over(result, attempt, frame.max_attempts)
    message = protocol.after_attempt(_prompt(frame, ranks), result, attempt, frame.max_attempts)[1]
    next_spec = None
    if not terminated:
        next_spec = {**load_spec(spec, GAME, MAX_SPEC_CHARS), "attempt": attempt}
    return SpecStep(result, terminated, message, next_spec)


def _prompt(frame: _Frame, ranks: tuple[str, ...]) -> str:
    return frame.protocol.prompt(frame.rules, None if frame.image else list(ranks))


def spec_prompt(spec: str | Mapping[str, Any]) -> str:
    """The task prompt the env shows at reset for the episode of ``spec`` (image mode: without the cards).

    Raises:
        SpecError: as :func:`grade`.
    """
    frame, ranks, _ = _load(spec)
    return _prompt(frame, ranks)


def expert_reply(spec: str | Mapping[str, Any]) -> str:
    """An expert's reply to the episode of ``spec`` in the answer format its prompt asks for: a JSON object with a
    witness ``formula`` from the solver (image mode: the ``cards`` seen first), or under the paper protocol the
    authors' SFT answer (:func:`gpoints_env.protocols.expert_reply`). For SFT demonstrations.

    Raises:
        SpecError: as :func:`grade`.
    """
    frame, ranks, _ = _load(spec)
    return frame.protocol.expert_reply(frame.rules, ranks, frame.image)
