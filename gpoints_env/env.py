"""The GeneralPoints environment: deal a solvable hand, grade free-text answers, give feedback, allow retries."""

from __future__ import annotations

from typing import Any, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sftrl_core.registry import DEFAULT_PROTOCOL
from sftrl_core.variants import RULE_TRANSFORMS, STYLE_TRANSFORMS, apply_transforms, transforms_option

from .cards import SUIT_SYMBOLS, Card
from .checker import Grade, RewardTable, reward_table
from .prompts import MAX_OBSERVATION_CHARS, OBSERVATION_CHARSET
from .protocols import get_protocol
from .rules import OPERATORS, Rules, check_max_attempts, episode_over
from .solver import find_solution
from .style import CardStyle

__all__ = ["GeneralPointsEnv", "REPLY_CHARSET", "MAX_SAMPLED_REPLY_CHARS"]

#: Characters of the action space (what ``action_space.sample()`` draws from). The env accepts any ``str``.
REPLY_CHARSET = "".join(chr(c) for c in range(32, 127)) + "\n\t\u00d7\u00f7\u2212"
#: Longest reply ``action_space.sample()`` draws. Longer replies are graded all the same.
MAX_SAMPLED_REPLY_CHARS = 4096

Observation = Union[str, dict[str, Any]]
OBSERVATION_MODES = ("text", "image")
# "cards" and "rules" are for users; the others are passed down by the variant wrappers (gpoints_env.wrappers).
_RESET_OPTIONS = ("cards", "suits", "rules", RULE_TRANSFORMS, STYLE_TRANSFORMS, "resolution")


class GeneralPointsEnv(gym.Env[Observation, str]):
    """Make the target number from four playing cards, answering in free text, with several attempts.

    ## Description
    The GeneralPoints game of *SFT Memorizes, RL Generalizes* (Chu et al., 2025). Four cards are dealt (only
    solvable hands); the agent must write a formula with ``+ - * / ( )`` that uses each card's value exactly
    once and equals the target (24 by default). Answers are graded exactly (rational arithmetic, never
    ``eval``), and a wrong answer earns feedback and another attempt.

    ## Observation
    Text mode (``observation_mode="text"``): ``spaces.Text`` (printable ASCII and newlines, at most 8,192
    characters), a self-contained prompt with the task, the card values under the active rules (A, J, Q, K),
    the target, the cards and the answer format. After a failed attempt it also holds ``[Feedback]``: what
    was wrong and how many attempts remain.

    Image mode (``observation_mode="image"``): ``Dict(image=Box(0, 255, (R, R, 3), uint8), text=Text)``. The
    image shows the four cards in a row on a card table (``R = style.resolution``, 512 by default; 1,200 is
    the paper's size); it is drawn once per reset and returned unchanged on every step. The text is the same
    prompt without the card list, asking for the cards seen (``"cards"``) as well as the formula.

    ## Action
    The model's raw reply, any ``str``: a JSON object with a ``formula`` field (strict or relaxed) or a bare
    expression; ``<think>...</think>`` is ignored, ``= 24`` and the signs ``× ÷ −`` are accepted. A
    non-string action raises ``TypeError``.

    ## Rewards
    One verdict per attempt (:class:`~gpoints_env.checker.Verdict`), rewarded by a
    :class:`~gpoints_env.checker.RewardTable`. The default (``rewards="paper"``): correct +5, wrong value -1,
    wrong numbers (a card missing, reused, or a number not on the cards) -2, misread cards (image mode) -1.5,
    illegal formula, division by zero or no formula -3. ``rewards="binary"`` gives 1 for correct and 0
    otherwise.

    ## Episode end
    ``terminated`` is true after a correct answer or when ``max_attempts`` answers have been graded
    (:func:`gpoints_env.rules.episode_over`, which episode specs follow too). The env never truncates (wrap it in
    ``TimeLimit`` if you want to; an episode spec refuses a limit that would end an episode before its attempts
    do, which it cannot state). Stepping a finished episode raises
    ``RuntimeError``.

    ## Info
    ``cards`` (rank labels), ``suits``, ``numbers`` (values under the active rules), ``target``, ``verdict``
    (``None`` after reset), ``feedback``, ``formula`` (the graded formula, normalised, or ``None``), ``value``
    (its exact value as text, or ``None``), ``recognized`` (image mode: whether the reply's ``cards`` were the
    dealt ranks; ``None`` when it reported none, and always in text mode), ``attempts_left``, ``is_success``,
    ``messages`` (the conversation as chat messages: the prompt, each reply and each feedback) and, only with
    ``reveal_solution=True``, ``solution``: one witness formula.

    ## Arguments
    ```python
    env = gym.make("GeneralPoints-v0", target=24, face_values=(10, 10, 10), ace_value=1, hand_size=4,
                   operators="+-*/", suit_colour="any", require_face_card=False, max_attempts=5,
                   rewards="paper", reveal_solution=False, observation_mode="text", style=None,
                   resolution=None, render_mode=None, protocol="suite")
    obs, info = env.reset(seed=0)                                # a random solvable hand
    obs, info = env.reset(options={"cards": ["8", "3", "8", "3"]})  # a fixed hand (rank labels)
    obs, info = env.reset(options={"cards": ["8", "3", "8", "3"],   # ... with its suits
                                   "suits": ["spades", "hearts", "clubs", "clubs"]})
    ```
    The rule arguments build the env's base :class:`~gpoints_env.rules.Rules` (``env.unwrapped.rules``);
    ``reset(options={"rules": Rules(...)})`` plays one episode under other rules. ``style`` is a
    :class:`~gpoints_env.style.CardStyle` (``env.unwrapped.style``); ``resolution`` overrides its size.
    ``render_mode="rgb_array"`` returns the card picture (drawn on demand in text mode), ``"ansi"`` a summary.

    ## Protocols
    ``protocol="suite"`` (default) is the behaviour described above. ``protocol="paper"`` plays the evaluation of
    the paper authors' released code (:mod:`gpoints_env.protocols`): their prompt and feedback text verbatim (after
    a failure the observation is the new user turn ``You failed this trial because ...``, and ``info["messages"]``
    keeps the whole conversation with the prompt once), their reply parsing, their grading and summed rewards
    (``info["paper_label"]`` names the reward as their logs do), their dealing (ranks with replacement, forced face
    card in rule OOD, suits per card) from this env's generator, and their 1,200-pixel picture. It needs the
    paper's kind of rules (4 cards, A = 1, all operators) and ``rewards="paper"``. ``reset(options={"cards": [...],
    "suits": [...]})`` replays a hand exactly (:func:`gpoints_env.protocols.paper_eval_hands` lists the authors'
    evaluation hands).

    ## Variants
    ``GeneralPoints-RuleOOD-v0``: J/Q/K count 11/12/13 and every hand holds a face card.
    ``GeneralPoints-VL-v0`` / ``-VL-RuleOOD-v0``: image mode, black suits. ``GeneralPoints-VL-VisualOOD-v0``:
    image mode, red suits. Rule wrappers and style wrappers (:mod:`gpoints_env.wrappers`) pass their transforms
    down with each reset they forward (reset options ``"rule_transforms"`` and ``"style_transforms"``; the
    :class:`~gpoints_env.wrappers.Resolution` wrapper passes ``"resolution"``); the env applies them to that
    episode only and registers nothing. The rules and look in force are ``env.unwrapped.active_rules`` and
    ``active_style``.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 1}

    def __init__(
        self,
        *,
        target: int = 24,
        face_values: tuple[int, int, int] = (10, 10, 10),
        ace_value: int = 1,
        hand_size: int = 4,
        operators: str = OPERATORS,
        suit_colour: str = "any",
        require_face_card: bool = False,
        max_attempts: int = 5,
        rewards: str | RewardTable | dict[str, float] = "paper",
        reveal_solution: bool = False,
        observation_mode: str = "text",
        style: CardStyle | None = None,
        resolution: int | None = None,
        render_mode: str | None = None,
        protocol: str = DEFAULT_PROTOCOL,
    ):
        self.rules = Rules(
            face_values=tuple(face_values),
            ace_value=ace_value,
            target=target,
            hand_size=hand_size,
            operators=operators,
            suit_colour=suit_colour,
            require_face_card=require_face_card,
        )
        check_max_attempts(max_attempts)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, got {observation_mode!r}")
        if style is not None and not isinstance(style, CardStyle):
            raise TypeError(f"style must be a gpoints_env.CardStyle, got {type(style).__name__}")
        self.max_attempts = max_attempts
        self._protocol = get_protocol(protocol)
        #: The protocol's name, one of :data:`sftrl_core.registry.PROTOCOL_NAMES` (:mod:`gpoints_env.protocols`).
        self.protocol = self._protocol.name
        self.reward_table = reward_table(rewards)
        self.reveal_solution = bool(reveal_solution)
        self.render_mode = render_mode
        self.observation_mode = observation_mode
        self.action_space = spaces.Text(max_length=MAX_SAMPLED_REPLY_CHARS, min_length=0, charset=REPLY_CHARSET)
        style = self._protocol.default_style() if style is None else style
        self.set_style(style if resolution is None else style.replace(resolution=resolution))
        self._protocol.check(self.rules, self.style, self.reward_table)
        # Episode state, set by reset().
        self.active_rules: Rules | None = None
        self.active_style: CardStyle | None = None
        self.hand: list[Card] = []
        self._image: np.ndarray | None = None
        self._numbers: list[int] = []
        self._prompt = ""
        self._observation = ""
        self._messages: list[dict[str, str]] = []
        self._attempts_used = 0
        self._last: Grade | None = None
        self._done = True

    # ---- rule and style variants --------------------------------------------------------------------------

    def set_style(self, style: CardStyle) -> None:
        """Replace the base card style, rebuilding the observation space for its resolution."""
        if not isinstance(style, CardStyle):
            raise TypeError(f"style must be a gpoints_env.CardStyle, got {type(style).__name__}")
        self.style = style
        text = spaces.Text(max_length=MAX_OBSERVATION_CHARS, min_length=0, charset=OBSERVATION_CHARSET)
        if self.observation_mode == "text":
            self.observation_space = text
        else:
            size = style.resolution
            image = spaces.Box(0, 255, shape=(size, size, 3), dtype=np.uint8)
            self.observation_space = spaces.Dict({"image": image, "text": text})

    def _resolve_rules(self, options: dict[str, Any]) -> Rules:
        """The episode's rules: ``options["rules"]`` or the base rules, then the rule transforms passed down by
        rule wrappers with this reset (innermost first)."""
        rules = options.get("rules", self.rules)
        if not isinstance(rules, Rules):
            raise TypeError(f"options['rules'] must be a gpoints_env.Rules, got {type(rules).__name__}")
        return apply_transforms(rules, transforms_option(options, RULE_TRANSFORMS), Rules, "rule")

    def _resolve_style(self, options: dict[str, Any]) -> CardStyle:
        """The episode's card style: the base style at ``options["resolution"]`` (set by the
        :class:`~gpoints_env.wrappers.Resolution` wrapper) if given, then the style transforms passed down by
        style wrappers with this reset (innermost first), which must keep the resolution."""
        base = self.style
        if "resolution" in options and options["resolution"] != base.resolution:
            base = base.replace(resolution=options["resolution"])  # validates
        style = apply_transforms(base, transforms_option(options, STYLE_TRANSFORMS), CardStyle, "style")
        if style.resolution != base.resolution:
            raise ValueError(
                f"style transform changed the resolution from {base.resolution} to {style.resolution}; the "
                "observation space is fixed, so change it with the Resolution wrapper or the resolution argument"
            )
        return style

    # ---- gymnasium API ---------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = {} if options is None else options
        unknown = set(options).difference(_RESET_OPTIONS)
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; known: {', '.join(map(repr, _RESET_OPTIONS))}")
        rules = self._resolve_rules(options)
        style = self._resolve_style(options)
        protocol = self._protocol
        protocol.check(rules, style, self.reward_table)
        if "cards" in options:
            self.hand = protocol.fixed_hand(options["cards"], options.get("suits"), rules, self.np_random)
        elif "suits" in options:
            raise ValueError("options['suits'] gives the suits of options['cards']; pass both")
        else:
            self.hand = protocol.deal(rules, self.np_random)
        self.active_rules = rules
        self.active_style = style
        ranks = [card.rank for card in self.hand]
        self._numbers = rules.values(ranks)
        image_mode = self.observation_mode == "image"
        # Text mode never draws (render("rgb_array") draws on demand); image mode draws once per episode.
        self._image = protocol.render(self.hand, self.active_style, self.np_random) if image_mode else None
        self._prompt = self._observation = protocol.prompt(rules, None if image_mode else ranks)
        self._messages = [{"role": "user", "content": self._prompt}]
        self._attempts_used = 0
        self._last = None
        self._done = False
        return self._get_obs(), self._get_info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"the action must be the model's reply as a str, got {type(action).__name__}")
        if self._done:
            raise RuntimeError(
                "this episode is over (it was never reset, or it ended with a correct answer or no attempts left); "
                "call reset() to start a new one"
            )
        result = self._protocol.grade(action, [card.rank for card in self.hand], self.active_rules,
                                      self.reward_table, self.observation_mode == "image")
        self._attempts_used += 1
        self._last = result
        self._messages.append({"role": "assistant", "content": action})
        terminated = episode_over(result, self._attempts_used, self.max_attempts)
        self._observation, feedback = self._protocol.after_attempt(self._prompt, result, self._attempts_used,
                                                                   self.max_attempts)
        if not terminated:
            self._messages.append({"role": "user", "content": feedback})
        self._done = terminated
        return self._get_obs(), result.reward, terminated, False, self._get_info()

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "rgb_array":
            if self.active_rules is None:
                return None
            if self._image is None:  # text mode: draw only when asked
                self._image = self._protocol.render(self.hand, self.active_style, None)
            return self._image
        if self.render_mode != "ansi":
            return None
        if self.active_rules is None:
            return "GeneralPoints: call reset() first\n"
        rules = self.active_rules
        jack, queen, king = rules.face_values
        lines = [
            f"GeneralPoints | target {rules.target} | A={rules.ace_value} J={jack} Q={queen} K={king}",
            "cards:   " + "  ".join(f"{c.rank}{SUIT_SYMBOLS[c.suit]}" for c in self.hand),
            "numbers: " + "  ".join(str(n) for n in self._numbers),
            f"attempts: {self._attempts_used}/{self.max_attempts}",
        ]
        if self._last is not None:
            lines.append(f"last answer: {self._last.verdict.value} ({self._last.reward:+g}) {self._last.feedback}")
        return "\n".join(lines) + "\n"

    # ---- helpers ---------------------------------------------------------------------------------------------

    @property
    def attempts_left(self) -> int:
        return self.max_attempts - self._attempts_used

    @property
    def finished(self) -> bool:
        """Whether no answer can be graded now: before the first reset, or once the episode has ended."""
        return self._done

    def episode_spec(self) -> dict[str, Any]:
        """The current episode as plain data (see :func:`gpoints_env.specs.episode_spec`)."""
        from .specs import episode_spec  # lazy: the specs module builds on this one

        return episode_spec(self)

    def expert_reply(self) -> str:
        """A correct reply to the current hand in the answer format the prompt asks for (under ``"paper"`` the
        authors' SFT answer), for oracles and demonstrations.

        Raises:
            RuntimeError: before the first reset.
        """
        if self.active_rules is None:
            raise RuntimeError("call reset() before expert_reply(): there is no hand yet")
        ranks = [card.rank for card in self.hand]
        return self._protocol.expert_reply(self.active_rules, ranks, self.observation_mode == "image")

    def solution(self) -> str | None:
        """One witness formula for the current hand (for oracles and demonstrations), or ``None`` before reset."""
        if self.active_rules is None:
            return None
        rules = self.active_rules
        return find_solution(self._numbers, rules.target, rules.operators)

    def _get_obs(self) -> Observation:
        if self.observation_mode == "text":
            return self._observation
        # A copy each time: callers keep observations, and must not alter the episode's picture by editing one.
        return {"image": self._image.copy(), "text": self._observation}

    def _get_info(self) -> dict[str, Any]:
        last = self._last
        info: dict[str, Any] = {
            "cards": [card.rank for card in self.hand],
            "suits": [card.suit for card in self.hand],
            "numbers": list(self._numbers),
            "target": self.active_rules.target,
            "verdict": None if last is None else last.verdict,
            "feedback": None if last is None else last.feedback,
            "formula": None if last is None else last.formula,
            "value": None if last is None or last.value is None else str(last.value),
            "recognized": None if last is None else last.recognized,
            "attempts_left": self.attempts_left,
            "is_success": last is not None and last.success,
            "messages": [dict(m) for m in self._messages],
        }
        info.update(self._protocol.step_info(last))
        if self.reveal_solution:
            info["solution"] = self.solution()
        return info
