"""GeneralPoints as a numeric game for classic RL: build the formula token by token.

Free-text replies suit language models; a small MLP trained by PPO (stable-baselines3) or by supervised
learning needs numbers in and a ``Discrete`` choice out. :class:`FormulaTokens` wraps any GeneralPoints text
environment so that

* the observation is a flat ``float32`` vector: the card values (normalised), the target, which cards are
  used, the formula built so far (one-hot tokens by position), the depth of open parentheses, which tokens
  are legal next, and how many answer attempts are used;
* the action picks one token: a *card slot* (so a card is played by position and its value is never typed),
  ``+ - * /``, ``(`` or ``)``.

A small grammar (:class:`FormulaBuilder`) decides which tokens are legal, so every formula the wrapper
submits is syntactically legal and uses each card exactly once: the only possible verdicts are correct, wrong
value and division by zero. An illegal token is a no-op with a fixed penalty (see :class:`FormulaTokens`);
the legal tokens are also in the observation and in :meth:`FormulaTokens.action_masks` (the method
``sb3_contrib.MaskablePPO`` looks for). When the last card is played and every parenthesis is closed the
formula is complete and is submitted as the raw reply to the wrapped environment's ``step``; its reward,
verdict and attempt budget apply unchanged.

:func:`formula_to_tokens` converts a formula (e.g. a solver witness from
:func:`gpoints_env.solver.find_solution`) to the token ids that build it, for supervised demonstrations;
:class:`FormulaBuilder` alone lets an agent adapter rebuild the same observation from ``info["numbers"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .checker import tokenize_formula
from .rules import MAX_ABS_TARGET, MAX_CARD_VALUE, OPERATORS

__all__ = [
    "FormulaBuilder",
    "FormulaTokens",
    "formula_to_tokens",
    "token_names",
    "max_formula_tokens",
    "observation_size",
    "DEFAULT_VALUE_SCALE",
    "DEFAULT_TARGET_SCALE",
    "DEFAULT_INVALID_PENALTY",
]

#: Card values are divided by this (13: the largest value of the paper's rule-OOD cards maps to 1).
DEFAULT_VALUE_SCALE = 13.0
#: The target is divided by this (the paper's target 24 maps to 1).
DEFAULT_TARGET_SCALE = 24.0
#: Reward of an illegal token (a no-op). As bad as a wrong answer, so stalling never pays.
DEFAULT_INVALID_PENALTY = -1.0

def token_names(hand_size: int) -> tuple[str, ...]:
    """Names of the token ids for a hand size: ``card0..card{n-1}``, ``+ - * /``, ``(``, ``)``."""
    return (*(f"card{i}" for i in range(hand_size)), *OPERATORS, "(", ")")


def max_formula_tokens(hand_size: int) -> int:
    """Longest formula the grammar allows: n cards, n-1 operators, at most n-1 parenthesised groups."""
    return hand_size + (hand_size - 1) + 2 * (hand_size - 1)


def observation_size(hand_size: int) -> int:
    """Length of the observation vector built by :meth:`FormulaBuilder.observation`."""
    n_tokens = hand_size + len(OPERATORS) + 2
    length = max_formula_tokens(hand_size)
    # values, target, used, token history, last token (+start), depth, progress, legal tokens, attempts used
    return hand_size + 1 + hand_size + length * n_tokens + (n_tokens + 1) + hand_size + 1 + n_tokens + 1


class FormulaBuilder:
    """A formula under construction, one token at a time, with the grammar that keeps it legal and completable.

    Tokens are ids: ``0..n-1`` play the card in that slot, ``n..n+3`` are ``+ - * /``, ``n+4`` is ``(`` and
    ``n+5`` is ``)``. A token is legal when it fits infix syntax (an operand after an operator or ``(``, an
    operator or ``)`` after an operand), plays an unused card, uses an allowed operator, closes only a group
    that holds an operator at its own level (no ``(3)``), and leaves enough unused cards to finish the formula.
    So a legal sequence never dead-ends, and it is complete exactly when every card is played and every
    parenthesis closed.

    Pure logic with no randomness: :class:`FormulaTokens` and agent adapters share it, so a policy sees the
    same observation in training and in evaluation.

    Args:
        numbers: the card values, by slot (``info["numbers"]``).
        target: the number to make (``info["target"]``); part of the observation only.
        operators: the allowed operators, a subset of ``"+-*/"``.
        hand_size: slots in the encoding (default ``len(numbers)``); must equal ``len(numbers)``.

    Raises:
        ValueError: an empty hand, a hand whose size differs from ``hand_size``, or unknown operators.
        TypeError: a card value or the target is not an int.
    """

    def __init__(self, numbers: Sequence[int], target: int = 24, operators: str = OPERATORS,
                 hand_size: int | None = None):
        numbers = list(numbers)
        if not numbers:
            raise ValueError("numbers must hold at least one card value, got []")
        for value in numbers:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"card values must be ints, got {value!r}")
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
            raise TypeError(f"target must be an int, got {target!r}")
        if hand_size is not None and hand_size != len(numbers):
            raise ValueError(f"the hand has {len(numbers)} cards but the encoding has {hand_size} slots")
        if not isinstance(operators, str) or any(op not in OPERATORS for op in operators):
            raise ValueError(f"operators must be characters from {OPERATORS!r}, got {operators!r}")
        self.numbers = [int(v) for v in numbers]
        self.target = int(target)
        self.operators = operators
        self.hand_size = len(self.numbers)
        self.n_tokens = self.hand_size + len(OPERATORS) + 2
        self.open_token = self.hand_size + len(OPERATORS)
        self.close_token = self.open_token + 1
        self.max_tokens = max_formula_tokens(self.hand_size)
        self.reset()

    def reset(self) -> None:
        """Start an empty formula (same hand)."""
        self.tokens: list[int] = []
        self.used = [False] * self.hand_size
        self._groups: list[bool] = []  # per open parenthesis: has an operator at its own level
        self._expect_operand = True

    # ---- grammar -------------------------------------------------------------------------------------------

    def _needed(self, expect_operand: bool, groups: list[bool]) -> int:
        # Cards still required: the pending operand, plus one more operand per open group without an operator.
        return int(expect_operand) + sum(1 for has_op in groups if not has_op)

    def is_legal(self, token: int) -> bool:
        """Whether ``token`` may come next."""
        if isinstance(token, bool) or not isinstance(token, (int, np.integer)) or not 0 <= token < self.n_tokens:
            return False
        token = int(token)
        unused = self.used.count(False)
        n = self.hand_size
        if token < n:  # a card
            if not self._expect_operand or self.used[token]:
                return False
            return self._needed(False, self._groups) <= unused - 1
        if token < self.open_token:  # an operator
            if self._expect_operand or OPERATORS[token - n] not in self.operators or unused == 0:
                return False
            groups = self._groups[:-1] + [True] if self._groups else []
            return self._needed(True, groups) <= unused
        if token == self.open_token:
            return self._expect_operand and self._needed(True, [*self._groups, False]) <= unused
        return not self._expect_operand and bool(self._groups) and self._groups[-1]

    def legal_mask(self) -> np.ndarray:
        """Boolean mask over token ids: which may come next (all false once the formula is complete)."""
        return np.array([self.is_legal(t) for t in range(self.n_tokens)], dtype=bool)

    def push(self, token: int) -> None:
        """Append a legal token.

        Raises:
            ValueError: the token is not legal here (the message names it).
        """
        if not self.is_legal(token):
            raise ValueError(f"token {token!r} ({self.token_name(token)}) is not legal after {self.formula!r}")
        token = int(token)
        n = self.hand_size
        if token < n:
            self.used[token] = True
            self._expect_operand = False
        elif token < self.open_token:
            if self._groups:
                self._groups[-1] = True
            self._expect_operand = True
        elif token == self.open_token:
            self._groups.append(False)
        else:
            self._groups.pop()
        self.tokens.append(token)

    @property
    def complete(self) -> bool:
        """Every card played, every parenthesis closed: the formula can be submitted."""
        return not self._expect_operand and not self._groups and all(self.used)

    @property
    def depth(self) -> int:
        """Parentheses open now."""
        return len(self._groups)

    def token_name(self, token: int) -> str:
        """Readable name of a token id (``card2``, ``*``, ``(``), or ``?`` for an id outside the vocabulary."""
        names = token_names(self.hand_size)
        return names[token] if isinstance(token, (int, np.integer)) and 0 <= token < len(names) else "?"

    def token_text(self, token: int) -> str:
        """What a token writes into the formula: a card's value, an operator or a parenthesis."""
        if token < self.hand_size:
            return str(self.numbers[token])
        if token < self.open_token:
            return OPERATORS[token - self.hand_size]
        return "(" if token == self.open_token else ")"

    @property
    def formula(self) -> str:
        """The formula so far as text, e.g. ``"8/(3-8/3)"``."""
        return "".join(self.token_text(t) for t in self.tokens)

    # ---- observation ---------------------------------------------------------------------------------------

    def observation(self, attempts_used: int = 0, max_attempts: int = 1,
                    value_scale: float = DEFAULT_VALUE_SCALE,
                    target_scale: float = DEFAULT_TARGET_SCALE) -> np.ndarray:
        """The flat ``float32`` observation of :class:`FormulaTokens` for this state.

        Layout: card values / ``value_scale`` (n), target / ``target_scale`` (1), card used flags (n), the
        tokens so far one-hot by position (``max_tokens x n_tokens``), the last token one-hot with a "start"
        entry (``n_tokens + 1``), open parentheses one-hot (n: depth 0..n-1), tokens so far / ``max_tokens``
        (1), legal next tokens (``n_tokens``), attempts used / ``max_attempts`` (1).
        """
        n, k = self.hand_size, self.n_tokens
        parts: list[np.ndarray] = [
            np.asarray(self.numbers, dtype=np.float32) / np.float32(value_scale),
            np.asarray([self.target / target_scale], dtype=np.float32),
            np.asarray(self.used, dtype=np.float32),
        ]
        history = np.zeros((self.max_tokens, k), dtype=np.float32)
        for position, token in enumerate(self.tokens):
            history[position, token] = 1.0
        parts.append(history.ravel())
        last = np.zeros(k + 1, dtype=np.float32)
        last[self.tokens[-1] if self.tokens else k] = 1.0
        parts.append(last)
        depth = np.zeros(n, dtype=np.float32)
        depth[min(self.depth, n - 1)] = 1.0
        parts.append(depth)
        parts.append(np.asarray([len(self.tokens) / self.max_tokens], dtype=np.float32))
        parts.append(self.legal_mask().astype(np.float32))
        parts.append(np.asarray([min(attempts_used / max(max_attempts, 1), 1.0)], dtype=np.float32))
        return np.concatenate(parts)


def formula_to_tokens(formula: str, numbers: Sequence[int], operators: str = OPERATORS) -> list[int]:
    """Token ids that build ``formula`` on a hand, playing each number from the leftmost unused slot holding it.

    Used to turn solver witnesses into supervised demonstrations.

    Args:
        formula: a formula over the hand's values, e.g. ``"(10-4)*(3+1)"`` (spaces allowed).
        numbers: the card values, by slot.
        operators: the allowed operators.

    Returns:
        The token ids; replaying them with :meth:`FormulaBuilder.push` gives a complete formula equal to
        ``formula`` without spaces.

    Raises:
        ValueError: the formula holds a character outside digits, operators and parentheses (a
            :class:`~gpoints_env.checker.FormulaError`), a number that is not on an unused card, or a construct
            the grammar excludes (e.g. ``(3)``), or it is incomplete.
        TypeError: ``formula`` is not a str.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a str, got {type(formula).__name__}")
    builder = FormulaBuilder(numbers, operators=operators)
    pieces = tokenize_formula(formula, operators)  # the checker's tokenizer: one place for what a token is
    for piece in pieces:
        if piece.isdigit():
            value = int(piece)
            slots = [i for i, v in enumerate(builder.numbers) if v == value and not builder.used[i]]
            if not slots:
                raise ValueError(f"formula {formula!r} uses {value}, which is not on an unused card of {numbers}")
            token = slots[0]
        elif piece in OPERATORS:
            token = builder.hand_size + OPERATORS.index(piece)
        else:
            token = builder.open_token if piece == "(" else builder.close_token
        builder.push(token)  # raises ValueError for constructs the grammar excludes
    if not builder.complete:
        raise ValueError(f"formula {formula!r} is incomplete for the hand {numbers}")
    return builder.tokens


class FormulaTokens(gym.Wrapper):
    """GeneralPoints with a numeric observation and one ``Discrete`` token per step, for classic RL.

    What it changes:

    * **Observation**: ``Box(float32)`` of :func:`observation_size` (``hand_size``) entries, see
      :meth:`FormulaBuilder.observation` (card values / ``value_scale``, target / ``target_scale``, used
      cards, formula tokens by position, last token, open parentheses, legal next tokens, attempts used).
      The text prompt is dropped; ``info`` of the wrapped env is passed through and extended.
    * **Action**: ``Discrete(hand_size + 6)``: a card slot, ``+ - * /``, ``(`` or ``)``. Cards are played by
      slot, so a policy can never write a number that is not on the table.
    * **Illegal tokens** (out of syntax, a used card, a disallowed operator, a formula that could no longer be
      finished): nothing happens and the reward is ``invalid_penalty``; ``info["invalid_action"]`` is true.
      :meth:`action_masks` gives the legal tokens (for ``sb3_contrib.MaskablePPO`` or custom samplers).
    * **Submission**: a token that completes the formula submits it as the raw reply to the wrapped env's
      ``step``. Its reward, ``terminated`` and ``info`` (verdict, feedback, attempts left, success) are
      returned. A wrong answer with attempts left starts a new empty formula on the same hand.
    * **Rewards**: 0 for a legal token that does not complete the formula; the wrapped env's reward on a
      submission (paper table: +5 correct, -1 wrong value, -3 division by zero); ``invalid_penalty`` for an
      illegal token.
    * **Episode end**: as the wrapped env (a correct answer, or its ``max_attempts`` used), and truncated
      after ``max_steps`` tokens (default: ``4 * max_attempts * max_tokens``) so an agent choosing only
      illegal tokens still ends.

    ```python
    import gymnasium as gym
    from gpoints_env.numeric import FormulaTokens
    env = FormulaTokens(gym.make("GeneralPoints-v0"))
    obs, info = env.reset(seed=0)
    from stable_baselines3 import PPO
    PPO("MlpPolicy", env, seed=0).learn(10_000)
    ```

    Args:
        env: a GeneralPoints text environment (``observation_mode="text"``), possibly wrapped.
        invalid_penalty: reward of an illegal token (a finite number <= 0).
        max_steps: token steps before truncation (int >= the longest formula), or ``None`` for the default.
        value_scale: card values are divided by this (> 0); 13 maps the rule-OOD king to 1.
        target_scale: the target is divided by this (> 0).

    Raises:
        TypeError: ``env`` is not a GeneralPoints env, or an argument has the wrong type.
        ValueError: an argument is out of range, or the env is in image mode.
    """

    def __init__(self, env: gym.Env, invalid_penalty: float = DEFAULT_INVALID_PENALTY, max_steps: int | None = None,
                 value_scale: float = DEFAULT_VALUE_SCALE, target_scale: float = DEFAULT_TARGET_SCALE):
        super().__init__(env)
        base = env.unwrapped
        rules = getattr(base, "rules", None)
        if rules is None or not hasattr(base, "max_attempts") or not hasattr(rules, "hand_size"):
            raise TypeError(f"FormulaTokens wraps GeneralPoints environments, got {type(base).__name__}")
        if getattr(base, "observation_mode", "text") != "text":
            raise ValueError(f"FormulaTokens needs observation_mode='text', got {base.observation_mode!r}")
        for name, value in (("invalid_penalty", invalid_penalty), ("value_scale", value_scale),
                            ("target_scale", target_scale)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise TypeError(f"{name} must be a finite number, got {value!r}")
        if invalid_penalty > 0:
            raise ValueError(f"invalid_penalty must be <= 0 (an illegal token must not pay), got {invalid_penalty!r}")
        if value_scale <= 0:
            raise ValueError(f"value_scale must be > 0, got {value_scale!r}")
        if target_scale <= 0:
            raise ValueError(f"target_scale must be > 0, got {target_scale!r}")
        self.hand_size = int(rules.hand_size)
        self.max_attempts = int(base.max_attempts)
        self.max_tokens = max_formula_tokens(self.hand_size)
        if max_steps is None:
            max_steps = 4 * self.max_attempts * self.max_tokens
        if isinstance(max_steps, bool) or not isinstance(max_steps, int):
            raise TypeError(f"max_steps must be an int or None, got {max_steps!r}")
        if max_steps < self.max_tokens:
            raise ValueError(f"max_steps must be >= {self.max_tokens} (the longest formula), got {max_steps}")
        self.invalid_penalty = float(invalid_penalty)
        self.max_steps = max_steps
        self.value_scale = float(value_scale)
        self.target_scale = float(target_scale)
        self.tokens = token_names(self.hand_size)
        self.action_space = spaces.Discrete(len(self.tokens))
        size = observation_size(self.hand_size)
        low = np.zeros(size, dtype=np.float32)
        high = np.ones(size, dtype=np.float32)
        high[: self.hand_size] = MAX_CARD_VALUE / self.value_scale
        low[self.hand_size] = -MAX_ABS_TARGET / self.target_scale
        high[self.hand_size] = MAX_ABS_TARGET / self.target_scale
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self._builder: FormulaBuilder | None = None
        self._attempts_used = 0
        self._steps = 0
        self._info: dict[str, Any] = {}

    def _obs(self) -> np.ndarray:
        assert self._builder is not None
        return self._builder.observation(self._attempts_used, self.max_attempts, self.value_scale, self.target_scale)

    def _extend(self, info: dict[str, Any], invalid: bool, submitted: bool) -> dict[str, Any]:
        assert self._builder is not None
        info = dict(info)
        info["formula_so_far"] = self._builder.formula
        info["invalid_action"] = invalid
        info["submitted"] = submitted
        info["action_mask"] = self._builder.legal_mask()
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        _, info = self.env.reset(seed=seed, options=options)
        rules = getattr(self.env.unwrapped, "active_rules", None)
        operators = rules.operators if rules is not None else OPERATORS
        self._builder = FormulaBuilder(info["numbers"], info["target"], operators, hand_size=self.hand_size)
        self._attempts_used = 0
        self._steps = 0
        self._info = info
        return self._obs(), self._extend(info, False, False)

    def step(self, action: int):
        if self._builder is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be a token id in 0..{self.action_space.n - 1}, got {action!r}")
        action = int(action)
        self._steps += 1
        truncated = self._steps >= self.max_steps
        if not self._builder.is_legal(action):
            info = self._extend(self._info, True, False)
            return self._obs(), self.invalid_penalty, False, truncated, info
        self._builder.push(action)
        if not self._builder.complete:
            return self._obs(), 0.0, False, truncated, self._extend(self._info, False, False)
        formula = self._builder.formula
        _, reward, terminated, env_truncated, info = self.env.step(formula)
        self._info = info
        self._attempts_used = self.max_attempts - int(info["attempts_left"])
        self._builder.reset()  # the next attempt (if any) starts an empty formula on the same hand
        extended = self._extend(info, False, True)
        extended["submitted_formula"] = formula
        return self._obs(), float(reward), bool(terminated), bool(truncated or env_truncated), extended

    def action_masks(self) -> np.ndarray:
        """Legal tokens now (boolean, one per action): the hook ``sb3_contrib.MaskablePPO`` calls."""
        if self._builder is None:
            return np.ones(self.action_space.n, dtype=bool)
        return self._builder.legal_mask()
