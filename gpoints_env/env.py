"""The GeneralPoints environment: deal a solvable hand, grade free-text answers, give feedback, allow retries."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
from gymnasium import spaces

from .cards import Card, SUIT_SYMBOLS, deal_hand, hand_from_ranks
from .checker import CheckResult, RewardTable, check_answer, reward_table
from .prompts import MAX_OBSERVATION_CHARS, OBSERVATION_CHARSET, build_prompt, feedback_message
from .rules import OPERATORS, Rules
from .solver import find_solution

__all__ = ["GeneralPointsEnv", "REPLY_CHARSET", "MAX_SAMPLED_REPLY_CHARS"]

#: Characters of the action space (what ``action_space.sample()`` draws from). The env accepts any ``str``.
REPLY_CHARSET = "".join(chr(c) for c in range(32, 127)) + "\n\t\u00d7\u00f7\u2212"
#: Longest reply ``action_space.sample()`` draws. Longer replies are graded all the same.
MAX_SAMPLED_REPLY_CHARS = 4096

RuleTransform = Callable[[Rules], Rules]


class GeneralPointsEnv(gym.Env[str, str]):
    """Make the target number from four playing cards, answering in free text, with several attempts.

    ## Description
    The GeneralPoints game of *SFT Memorizes, RL Generalizes* (Chu et al., 2025). Four cards are dealt (only
    solvable hands); the agent must write a formula with ``+ - * / ( )`` that uses each card's value exactly
    once and equals the target (24 by default). Answers are graded exactly (rational arithmetic, never
    ``eval``), and a wrong answer earns feedback and another attempt.

    ## Observation
    ``spaces.Text`` (printable ASCII and newlines, at most 8,192 characters): a self-contained prompt with the
    task, the card values under the active rules (A, J, Q, K), the target, the cards and the answer format.
    After a failed attempt it also holds ``[Feedback]``: what was wrong and how many attempts remain.

    ## Action
    The model's raw reply, any ``str``: a JSON object with a ``formula`` field (strict or relaxed) or a bare
    expression; ``<think>...</think>`` is ignored, ``= 24`` and the signs ``× ÷ −`` are accepted. A
    non-string action raises ``TypeError``.

    ## Rewards
    One verdict per attempt (:class:`~gpoints_env.checker.Verdict`), rewarded by a
    :class:`~gpoints_env.checker.RewardTable`. The default (``rewards="paper"``): correct +5, wrong value -1,
    wrong numbers (a card missing, reused, or a number not on the cards) -2, illegal formula, division by zero
    or no formula -3. ``rewards="binary"`` gives 1 for correct and 0 otherwise.

    ## Episode end
    ``terminated`` is true after a correct answer or when ``max_attempts`` answers have been graded. The env
    never truncates (wrap it in ``TimeLimit`` if you want to). Stepping a finished episode raises
    ``RuntimeError``.

    ## Info
    ``cards`` (rank labels), ``suits``, ``numbers`` (values under the active rules), ``target``, ``verdict``
    (``None`` after reset), ``feedback``, ``formula`` (the graded formula, normalised, or ``None``), ``value``
    (its exact value as text, or ``None``), ``attempts_left``, ``is_success``, ``messages`` (the conversation as
    chat messages: the prompt, each reply and each feedback) and, only with ``reveal_solution=True``,
    ``solution``: one witness formula.

    ## Arguments
    ```python
    env = gym.make("GeneralPoints-v0", target=24, face_values=(10, 10, 10), ace_value=1, hand_size=4,
                   operators="+-*/", suit_colour="any", require_face_card=False, max_attempts=5,
                   rewards="paper", reveal_solution=False, render_mode=None)
    obs, info = env.reset(seed=0)                                # a random solvable hand
    obs, info = env.reset(options={"cards": ["8", "3", "8", "3"]})  # a fixed hand (rank labels)
    ```
    The rule arguments build the env's base :class:`~gpoints_env.rules.Rules` (``env.unwrapped.rules``);
    ``reset(options={"rules": Rules(...)})`` plays one episode under other rules.

    ## Variants
    ``GeneralPoints-RuleOOD-v0``: J/Q/K count 11/12/13 and every hand holds a face card. Rule-variant wrappers
    (:mod:`gpoints_env.wrappers`) transform the rules on each reset; the rules in force are
    ``env.unwrapped.active_rules``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

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
        render_mode: str | None = None,
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
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.max_attempts = max_attempts
        self.reward_table = reward_table(rewards)
        self.reveal_solution = bool(reveal_solution)
        self.render_mode = render_mode
        self.observation_space = spaces.Text(
            max_length=MAX_OBSERVATION_CHARS, min_length=0, charset=OBSERVATION_CHARSET
        )
        self.action_space = spaces.Text(max_length=MAX_SAMPLED_REPLY_CHARS, min_length=0, charset=REPLY_CHARSET)
        self._rule_transforms: list[RuleTransform] = []
        # Episode state, set by reset().
        self.active_rules: Rules | None = None
        self.hand: list[Card] = []
        self._numbers: list[int] = []
        self._prompt = ""
        self._observation = ""
        self._messages: list[dict[str, str]] = []
        self._attempts_used = 0
        self._last: CheckResult | None = None
        self._done = True

    # ---- rule variants -------------------------------------------------------------------------------------

    def add_rule_transform(self, transform: RuleTransform) -> None:
        """Apply ``transform`` to the rules on every reset, after those added before it.

        Rule-variant wrappers call this once when they are built (see :class:`~gpoints_env.wrappers.RuleWrapper`).
        """
        if not callable(transform):
            raise TypeError(f"a rule transform must be callable, got {transform!r}")
        self._rule_transforms.append(transform)

    def _resolve_rules(self, options: dict[str, Any]) -> Rules:
        rules = options.get("rules", self.rules)
        if not isinstance(rules, Rules):
            raise TypeError(f"options['rules'] must be a gpoints_env.Rules, got {type(rules).__name__}")
        for transform in self._rule_transforms:
            rules = transform(rules)
            if not isinstance(rules, Rules):
                raise TypeError(f"rule transform {transform!r} returned {type(rules).__name__}, expected Rules")
        return rules

    # ---- gymnasium API ---------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = {} if options is None else options
        unknown = set(options) - {"cards", "rules"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; known: 'cards', 'rules'")
        rules = self._resolve_rules(options)
        if "cards" in options:
            self.hand = hand_from_ranks(options["cards"], rules, self.np_random)
        else:
            self.hand = deal_hand(rules, self.np_random)
        self.active_rules = rules
        ranks = [card.rank for card in self.hand]
        self._numbers = rules.values(ranks)
        self._prompt = self._observation = build_prompt(rules, ranks)
        self._messages = [{"role": "user", "content": self._prompt}]
        self._attempts_used = 0
        self._last = None
        self._done = False
        return self._observation, self._get_info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"the action must be the model's reply as a str, got {type(action).__name__}")
        if self._done:
            raise RuntimeError(
                "this episode is over (it was never reset, or it ended with a correct answer or no attempts left); "
                "call reset() to start a new one"
            )
        rules = self.active_rules
        result = check_answer(action, self._numbers, rules.target, rules.operators, self.reward_table)
        self._attempts_used += 1
        self._last = result
        self._messages.append({"role": "assistant", "content": action})
        terminated = result.is_correct or self._attempts_used >= self.max_attempts
        feedback = feedback_message(result.feedback, self._attempts_used, self.max_attempts, result.is_correct)
        self._observation = f"{self._prompt}\n\n{feedback}"
        if not terminated:
            self._messages.append({"role": "user", "content": feedback})
        self._done = terminated
        return self._observation, result.reward, terminated, False, self._get_info()

    def render(self) -> str | None:
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

    def solution(self) -> str | None:
        """One witness formula for the current hand (for oracles and demonstrations), or ``None`` before reset."""
        if self.active_rules is None:
            return None
        rules = self.active_rules
        return find_solution(self._numbers, rules.target, rules.operators)

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
            "attempts_left": self.attempts_left,
            "is_success": last is not None and last.is_correct,
            "messages": [dict(m) for m in self._messages],
        }
        if self.reveal_solution:
            info["solution"] = self.solution()
        return info
