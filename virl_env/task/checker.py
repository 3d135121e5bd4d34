"""Reading a model's reply and grading it against the expected action: the suite's checker.

(The paper authors' exact reading and grading is :func:`virl_env.protocols.paper.paper_grade`.)

The reply is untrusted text. It is never evaluated: it is scanned with bounded regular expressions
and, when it holds a JSON object, parsed with :func:`json.loads` (errors, including deep nesting,
become a verdict). Replies longer than :data:`MAX_REPLY_CHARS` are rejected without scanning, and a
reply that is not a string at all gets the ``invalid`` verdict too.

Accepted forms (case, spacing, quotes, hyphens and underscores are normalised):

* a JSON object with an ``"action"`` key, strict or relaxed (single quotes, trailing commas, code
  fences), optionally with ``"current observation"`` and ``"current instruction"``;
* a bare action: ``forward()``, ``stop()``, ``turn_direction(north east)``, ``Forward``, ``STOP``;
* a final answer line: the last non-empty line is an action, ``Action: <action>``, or a sentence
  that ends with its one action ("... so I turn_direction(west).").

The answer is read only where the prompt asks for it: an ``"action"`` nested deeper than the answer
object, an action inside a list item or somewhere in a ramble is no answer (``invalid``).

``<think>...</think>`` blocks are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sftrl_core.grading import Grade as CoreGrade
from sftrl_core.replies import find_json_object, strip_code_fence, strip_thinking

from virl_env.world.instructions import COMPASS_DIRECTIONS, RELATIVE_DIRECTIONS, compass_index
from virl_env.world.routes import RailPoint
from virl_env.task.rules import NavigationRules, RewardTable, Verdict

__all__ = [
    "MAX_REPLY_CHARS",
    "Grade",
    "ParsedReply",
    "action_arguments",
    "expected_action",
    "grade_reply",
    "normalize_action",
    "observation_problem",
    "parse_reply",
]

MAX_REPLY_CHARS = 65_536
"""Longer replies get the ``invalid`` verdict without being scanned."""

_BEARINGS = tuple(str(45 * i) for i in range(8))
_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ()_-.,'")

_ACTION_RE = re.compile(r"^(?:(forward|stop)\s*(?:\(\s*\))?|turn[\s_-]*direction\s*\(\s*(.{0,60}?)\s*\))$",
                        re.IGNORECASE | re.DOTALL)
_ACTION_IN_TEXT_RE = re.compile(r"\b(?:forward\s*\(\s*\)|stop\s*\(\s*\)|turn[ _-]?direction\s*\([^()\n]{0,60}\))",
                                re.IGNORECASE)
_ACTION_KEY_RE = re.compile(r"""(?:^|[{,\s])["']?action["']?\s*:\s*(["'])(.{0,200}?)\1""", re.IGNORECASE)
_OBS_KEY_RE = re.compile(r"""["']?current[ _]?observation["']?\s*:\s*(["'])(.{0,2000}?)\1""", re.IGNORECASE)
_STRUCTURE_RE = re.compile(r'\\.|["{}]', re.DOTALL)
_LIST_ITEM_RE = re.compile(r"(?:\d{1,3}[.)]|[-*+\u2022])\s")
_ANSWER_LABEL_RE = re.compile(r"[\s*_`#>]*(?:final\s+)?(?:action|answer)[\s*_`]*[:=]\s*(.{1,80})$", re.IGNORECASE)
_NEGATION_RE = re.compile(r"\b(?:no|not|never|without|none|nor)\b|n't\b")


def action_arguments(mode: str) -> tuple[str, ...]:
    """Valid ``x`` of ``turn_direction(x)`` in an action mode."""
    if mode == "absolute":
        return COMPASS_DIRECTIONS
    if mode == "relative":
        return RELATIVE_DIRECTIONS
    if mode == "bearing":
        return _BEARINGS
    raise ValueError(f"unknown action mode {mode!r}")


def expected_action(point: RailPoint, mode: str) -> str:
    """The expert's action at a rail point, in canonical form for ``mode``."""
    if point.kind == "destination":
        return "stop()"
    if point.turn_to is None:
        return "forward()"
    if mode == "absolute":
        return f"turn_direction({COMPASS_DIRECTIONS[compass_index(point.turn_to)]})"
    if mode == "relative":
        return f"turn_direction({point.turn_relative})"
    if mode == "bearing":
        return f"turn_direction({_BEARINGS[compass_index(point.turn_to)]})"
    raise ValueError(f"unknown action mode {mode!r}")


def _normalize_argument(arg: str) -> str:
    arg = arg.strip().strip("\"'`").strip().lower()
    arg = re.sub(r"[\s_-]+", " ", arg).strip()
    if arg.replace(" ", "") in COMPASS_DIRECTIONS:
        return arg.replace(" ", "")
    number = re.fullmatch(r"(\d{1,3})(?:\.0+)?\s*(?:deg|degs|degree|degrees|\u00b0)?", arg)
    if number:
        return str(int(number.group(1)) % 360)
    return arg


def normalize_action(text: str) -> str | None:
    """Canonical form of one action (``forward()``, ``stop()``, ``turn_direction(x)``) or None.

    The argument is lower-cased with spaces, hyphens and underscores collapsed (``North-East`` ->
    ``northeast``, ``slightly_left`` -> ``slightly left``, ``90 degrees`` -> ``90``); it is *not*
    checked against an action space here.
    """
    t = text.strip().strip("`\"'").strip().rstrip(".;").strip()
    m = _ACTION_RE.match(t)
    if m is None:
        return None
    if m.group(1):
        return f"{m.group(1).lower()}()"
    arg = _normalize_argument(m.group(2))
    if not arg:
        return None
    return f"turn_direction({arg})"


@dataclass(frozen=True)
class ParsedReply:
    """What was read from a reply.

    Attributes:
        action: Canonical action, or None.
        observation: The reported ``current observation``, or None.
        error: Why no action could be read (None if one was).
    """

    action: str | None
    observation: str | None
    error: str | None


def _find_key(obj: dict, *names: str) -> tuple[bool, object]:
    wanted = set(names)
    for key, value in obj.items():
        if isinstance(key, str) and re.sub(r"[\s_]+", " ", key.strip().lower()) in wanted:
            return True, value
    return False, None


def parse_reply(reply: object) -> ParsedReply:
    """Read the action (and the reported observation, if any) from a reply; never raises.

    A reply that is not a string, or is longer than :data:`MAX_REPLY_CHARS`, gives no action and says why.
    """
    if not isinstance(reply, str):
        return ParsedReply(None, None, f"the reply must be text, not {type(reply).__name__}")
    if len(reply) > MAX_REPLY_CHARS:
        return ParsedReply(None, None, f"the reply is too long ({len(reply)} characters; the limit is "
                                       f"{MAX_REPLY_CHARS})")
    text = strip_code_fence(strip_thinking(reply))
    observation: str | None = None
    obj = find_json_object(text)
    if obj is not None:
        found, obs = _find_key(obj, "current observation", "observation")
        if found and isinstance(obs, str):
            observation = obs
        found, value = _find_key(obj, "action")
        if found:
            if not isinstance(value, str):
                return ParsedReply(None, observation, 'the "action" value must be a string such as "forward()"')
            action = normalize_action(value)
            if action is None:
                return ParsedReply(None, observation, 'the "action" value is not an action of the action space')
            return ParsedReply(action, observation, None)
    # Relaxed JSON (single quotes, unquoted keys, cut off...): read the key-value pairs directly, but
    # only an "action" key of the answer object itself, not one nested deeper in made-up structure.
    if observation is None:
        obs_match = _OBS_KEY_RE.search(text)
        observation = obs_match.group(2) if obs_match else None
    keyed = list(_ACTION_KEY_RE.finditer(text))
    top = [m.group(2) for m, depth in zip(keyed, _brace_depths(text, [m.start() for m in keyed]))
           if depth + (m.group(0)[0] == "{") <= 1]
    if top:
        action = normalize_action(top[-1])
        if action is None:
            return ParsedReply(None, observation, 'the "action" value is not an action of the action space')
        return ParsedReply(action, observation, None)
    if keyed:
        return ParsedReply(None, observation, 'the "action" field is nested inside another object; give it at '
                                              "the top level of the JSON answer")
    whole = normalize_action(text)
    if whole is not None:
        return ParsedReply(whole, observation, None)
    action, several = _final_line_action(text)
    if action is not None:
        return ParsedReply(action, observation, None)
    if several:
        return ParsedReply(None, observation, "the reply names several different actions; give exactly one")
    return ParsedReply(None, observation, 'no action found where the answer goes; reply with a JSON object '
                                          'whose "action" is one action of the action space (or the action '
                                          "alone on the last line)")


def _brace_depths(text: str, positions: list[int]) -> list[int]:
    """How many ``{`` are open (outside double-quoted strings) at each of the ascending ``positions``."""
    depths: list[int] = []
    if not positions:
        return depths
    depth, in_string, k = 0, False, 0
    for token in _STRUCTURE_RE.finditer(text):
        while k < len(positions) and positions[k] <= token.start():
            depths.append(depth)
            k += 1
        if k == len(positions):
            break
        t = token.group(0)
        if t == '"':
            in_string = not in_string
        elif not in_string and t == "{":
            depth += 1
        elif not in_string and t == "}":
            depth = max(0, depth - 1)
    depths += [depth] * (len(positions) - k)
    return depths


def _final_line_action(text: str) -> tuple[str | None, bool]:
    """The action of a final answer line (``forward()``, ``Action: stop()``, ``... so I turn_direction(east).``)
    and whether that line names several different actions.

    Only the last non-empty line counts, and not when it is a list item or holds JSON braces: an action
    somewhere in a ramble, a made-up numbered list or a cut-off JSON is no answer.
    """
    line = text.rstrip().rsplit("\n", 1)[-1].strip()
    if not line or "{" in line or "}" in line or _LIST_ITEM_RE.match(line):
        return None, False
    alone = normalize_action(line.strip("*_ "))
    if alone is not None:
        return alone, False
    label = _ANSWER_LABEL_RE.match(line)
    if label is not None:
        labelled = normalize_action(label.group(1).strip("*_ "))
        if labelled is not None:
            return labelled, False
    core = line.rstrip(" \t.!*_`'\"")
    found = list(_ACTION_IN_TEXT_RE.finditer(core))
    actions = {normalize_action(m.group(0)) for m in found} - {None}
    if len(actions) > 1:
        return None, True
    if actions and found[-1].end() == len(core):
        return actions.pop(), False
    return None, False


def observation_problem(reported: str, point: RailPoint) -> str | None:
    """What is wrong with a reported observation at ``point``, or None if it is consistent.

    Checks two things: whether the report claims an intersection (an occurrence of "intersection"
    not negated in its clause, e.g. "no intersection" is a negative claim) when there is one or not,
    and whether every landmark in view is named. It does not check sides, nor flag landmarks that
    are named but not in view.
    """
    text = re.sub(r"\s+", " ", reported.lower())[:4000]
    claims = False
    for m in re.finditer("intersection", text):
        clause = re.split(r"[;,.!?]", text[max(0, m.start() - 60):m.start()])[-1]
        if not _NEGATION_RE.search(clause):
            claims = True
            break
    if claims and not point.at_intersection:
        return "you are not at an intersection"
    if point.at_intersection and not claims:
        return "you are at an intersection"
    missing = [name for name in point.landmarks if name.lower() not in text]
    if missing:
        return f"you did not report {missing[0]}, which is in view"
    return None


def _safe(text: str, limit: int = 60) -> str:
    clean = "".join(c if c in _SAFE_CHARS else "?" for c in text[:limit])
    return clean + ("..." if len(text) > limit else "")


@dataclass(frozen=True)
class Grade(CoreGrade):
    """Result of grading one reply: the verdict, its reward, ``feedback`` a model can act on, ``success``, and
    the canonical action read (or None)."""

    action: str | None = None

    def with_feedback(self, feedback: str) -> Grade:
        """This grade with ``feedback`` as its message: as a step reports it in ``info["feedback"]`` (the grader's
        message and what happens next). (Built directly: ``dataclasses.replace`` costs a tenth of grading a point
        spec.)"""
        return self if self.feedback == feedback else Grade(self.verdict, self.reward, feedback, self.action)


def grade_reply(reply: object, point: RailPoint, rules: NavigationRules, rewards: RewardTable,
                expected: str | None = None) -> Grade:
    """Grade a reply at a rail point under the active rules.

    The action decides: the expected action is ``correct``. A wrong action is ``wrong_observation``
    when ``rules.grade_observation`` is on and the reply reports a ``current observation`` that
    :func:`observation_problem` finds wrong, else ``wrong_action``. A reply with no readable action,
    several actions, or an action outside the active action space is ``invalid``; so is a reply that is not a
    string (never an exception).

    Args:
        reply: The model's raw reply.
        point: The rail point the reply answers.
        rules: The active rules (action mode, observation grading).
        rewards: The reward table.
        expected: The expected action at ``point`` in the rules' action mode, when the caller has
            it already (the environment works it out once per point); computed when None.
    """
    parsed = parse_reply(reply)
    if parsed.action is None:
        return Grade(Verdict.INVALID, rewards.reward(Verdict.INVALID),
                     f"Invalid reply: {parsed.error}.", None)
    action = parsed.action
    if action.startswith("turn_direction("):
        arg = action[len("turn_direction("):-1]
        allowed = action_arguments(rules.action_mode)
        if arg not in allowed:
            return Grade(Verdict.INVALID, rewards.reward(Verdict.INVALID),
                         f"Invalid action: turn_direction({_safe(arg)}) is not in the action space; x must "
                         f"be one of {list(allowed)}.", None)
    if expected is None:
        expected = expected_action(point, rules.action_mode)
    if action == expected:
        return Grade(Verdict.CORRECT, rewards.reward(Verdict.CORRECT), "Correct action.", action)
    if rules.grade_observation and parsed.observation is not None:
        problem = observation_problem(parsed.observation, point)
        if problem is not None:
            return Grade(Verdict.WRONG_OBSERVATION, rewards.reward(Verdict.WRONG_OBSERVATION),
                         f"Wrong action {action}, and your observation is wrong: {problem}.", action)
    return Grade(Verdict.WRONG_ACTION, rewards.reward(Verdict.WRONG_ACTION),
                 f"Wrong action: {action} is not the right action here.", action)
