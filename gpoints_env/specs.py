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

Specs are plain JSON (lists, strings, numbers), so a dataset column can hold one as text; both functions
accept the dict or its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from sftrl_core.specs import SpecError, SpecStep, dump_spec, load_spec, spec_header, spec_object, spec_protocol

from .checker import CheckResult, RewardTable, reward_table
from .protocols import PROTOCOLS, Protocol, get_protocol
from .rules import RANKS, Rules

__all__ = ["GAME", "PRESENTATION_FIELDS", "episode_spec", "grade", "advance", "spec_prompt", "expert_reply"]

#: The ``"game"`` field of every GeneralPoints spec.
GAME = "GeneralPoints"
#: Spec fields that describe the episode but play no part in grading (two specs that differ only here grade alike).
PRESENTATION_FIELDS = ("env_id", "suits")
_PROTOCOLS = tuple(PROTOCOLS)


@dataclass(frozen=True)
class _Episode:
    """A validated spec, ready to grade with."""

    rules: Rules
    ranks: tuple[str, ...]
    image: bool
    rewards: RewardTable
    max_attempts: int
    attempt: int
    protocol: Protocol


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
    """
    base = env.unwrapped
    if base.active_rules is None:
        raise RuntimeError("call reset() before episode_spec(): there is no episode yet")
    if base._done:
        raise RuntimeError("this episode is over; episode_spec() describes an episode that still takes a reply")
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


def _field(spec: Mapping[str, Any], name: str) -> Any:
    if name not in spec:
        raise SpecError(f"GeneralPoints spec has no {name!r} field")
    return spec[name]


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"spec field {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _rules(fields: Any) -> Rules:
    """Rules from a spec's rule fields (JSON gives the face values as a list)."""
    fields = dict(fields)
    if "face_values" in fields:
        fields["face_values"] = tuple(fields["face_values"])
    return Rules(**fields)


@lru_cache(maxsize=4096)
def _episode(text: str) -> _Episode:
    spec = load_spec(text, GAME)
    protocol = spec_protocol(spec, _PROTOCOLS)
    mode = _field(spec, "observation_mode")
    if mode not in ("text", "image"):
        raise SpecError(f"spec field 'observation_mode' must be 'text' or 'image', got {mode!r}")
    rules = spec_object(spec, "rules", _rules)
    ranks = _field(spec, "cards")
    if not isinstance(ranks, list) or len(ranks) != rules.hand_size or any(r not in RANKS for r in ranks):
        raise SpecError(f"spec field 'cards' must list {rules.hand_size} rank labels from {RANKS}, got {ranks!r}")
    rewards = spec_object(spec, "rewards", reward_table)
    max_attempts = _count(_field(spec, "max_attempts"), "max_attempts", 1)
    attempt = _count(_field(spec, "attempt"), "attempt", 0)
    if attempt >= max_attempts:
        raise SpecError(f"spec attempt {attempt} leaves no attempt of {max_attempts}: the episode is over")
    return _Episode(rules, tuple(ranks), mode == "image", rewards, max_attempts, attempt, get_protocol(protocol))


def _load(spec: str | Mapping[str, Any]) -> _Episode:
    return _episode(spec if isinstance(spec, str) else dump_spec(load_spec(spec, GAME)))


def grade(reply: object, spec: str | Mapping[str, Any]) -> CheckResult:
    """Grade ``reply`` as ``env.step`` grades it at the point of the episode that ``spec`` describes.

    Args:
        reply: the model's raw reply. Any value gets a verdict (a non-string one, no formula).
        spec: the episode's spec (from :func:`episode_spec`, or its JSON text).

    Returns:
        The :class:`~gpoints_env.checker.CheckResult` ``env.step`` computes: ``verdict``, ``reward``, ``feedback``
        (``info["feedback"]``), ``success`` (``info["is_success"]``) and the formula details.

    Raises:
        SpecError: the spec is malformed, not a GeneralPoints spec, or of an episode that is over.
    """
    episode = _load(spec)
    return episode.protocol.grade(reply, episode.ranks, episode.rules, episode.rewards, episode.image)


def advance(reply: object, spec: str | Mapping[str, Any]) -> SpecStep:
    """Grade ``reply`` at ``spec`` and say what the env does next (for multi-turn loops).

    Returns:
        A :class:`~sftrl_core.specs.SpecStep`: the grade, whether the episode ended (a correct reply or the
        last attempt), the env's ``[Feedback]`` message (the user turn it adds to ``info["messages"]`` when the
        episode goes on) and the spec of the next attempt.

    Raises:
        SpecError: as :func:`grade`.
    """
    episode = _load(spec)
    result = grade(reply, spec)
    attempt = episode.attempt + 1
    terminated = result.success or attempt >= episode.max_attempts
    message = episode.protocol.after_attempt(spec_prompt(spec), result, attempt, episode.max_attempts)[1]
    next_spec = None
    if not terminated:
        next_spec = {**load_spec(spec, GAME), "attempt": attempt}
    return SpecStep(result, terminated, message, next_spec)


def spec_prompt(spec: str | Mapping[str, Any]) -> str:
    """The task prompt the env shows at reset for the episode of ``spec`` (image mode: without the cards)."""
    episode = _load(spec)
    return episode.protocol.prompt(episode.rules, None if episode.image else list(episode.ranks))


def expert_reply(spec: str | Mapping[str, Any]) -> str:
    """An expert's reply to the episode of ``spec`` in the answer format its prompt asks for: a JSON object with a
    witness ``formula`` from the solver (image mode: the ``cards`` seen first), or under the ``"paper"`` protocol
    the authors' SFT answer (:func:`gpoints_env.protocols.expert_reply`). For SFT demonstrations.

    Raises:
        SpecError: as :func:`grade`.
    """
    episode = _load(spec)
    return episode.protocol.expert_reply(episode.rules, episode.ranks, episode.image)
