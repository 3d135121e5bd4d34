"""The text a model reads: the task prompt for a hand and the feedback after a failed attempt, the suite's and
(``protocol="paper"``) the paper authors' verbatim templates.

Every string built here is printable ASCII plus newlines (:data:`OBSERVATION_CHARSET`), so observations always
lie in the environment's ``spaces.Text``; anything a model wrote is echoed only in escaped or whitelisted form
(see :mod:`gpoints_env.checker`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from .rules import OPERATORS, Rules

__all__ = [
    "OBSERVATION_CHARSET",
    "MAX_OBSERVATION_CHARS",
    "ANSWER_EXAMPLE",
    "IMAGE_ANSWER_EXAMPLE",
    "build_prompt",
    "feedback_message",
    "PAPER_TEXT_TEMPLATE",
    "PAPER_IMAGE_TEMPLATE",
    "PAPER_RESPONSE_TEMPLATE",
    "PAPER_FEEDBACK_TEMPLATE",
    "paper_face_card_msg",
    "paper_prompt",
]

#: Characters an observation may contain: printable ASCII and newline.
OBSERVATION_CHARSET = "".join(chr(c) for c in range(32, 127)) + "\n"
#: Upper bound on an observation's length (a prompt is about 1,000 characters, feedback at most about 1,500).
MAX_OBSERVATION_CHARS = 8192
#: The answer format's example. Its formula is a placeholder, not a formula over other numbers: weak models
#: copied the earlier example ``(1+2)*3-4`` verbatim on every attempt (as the paper's prompt, it shows the form).
ANSWER_EXAMPLE = '{"formula": "<your formula>"}'
IMAGE_ANSWER_EXAMPLE = '{"cards": ["A", "7", "10", "K"], "formula": "<your formula>"}'

def _count_word(n: int) -> str:
    return ("one", "two", "three", "four", "five")[n - 1] if 1 <= n <= 5 else str(n)


@lru_cache(maxsize=256)
def _prompt_parts(rules: Rules, image: bool) -> tuple[str, str]:
    """The parts of the prompt before and after the card list; they depend on the rules and mode only."""
    jack, queen, king = rules.face_values
    n = rules.hand_size
    ops = " ".join(rules.operators)
    game = "24 Points" if rules.target == 24 else f"{rules.target} Points"
    division = " Division is exact: fractions are allowed along the way." if "/" in rules.operators else ""
    head = (
        f"You are an expert player of the card game {game}.\n"
        "\n"
        "[Task]\n"
        f"Write a formula that uses the numbers on the {_count_word(n)} cards "
        f"{'in the image' if image else 'below'} and evaluates to exactly "
        f"{rules.target}. Each card must be used exactly once and no other numbers may appear. "
        f"Allowed operators: {ops} and parentheses ( ).{division} "
        "No powers, no unary minus, no joining digits together.\n"
        "\n"
        "[Card values]\n"
        f"A counts as {rules.ace_value}. Number cards 2 to 10 count their number. "
        f"J counts as {jack}, Q counts as {queen}, K counts as {king}.\n"
        "\n"
        "[Cards]\n"
    )
    if image:
        answer = (
            'Reply with a JSON object whose "cards" field lists the rank of each card you see, from left to right '
            '(A, 2 to 10, J, Q, K), and whose "formula" field holds your formula, for example:\n'
            f"{IMAGE_ANSWER_EXAMPLE}"
        )
    else:
        answer = f'Reply with a JSON object whose "formula" field holds your formula, for example:\n{ANSWER_EXAMPLE}'
    return head, f"\n\n[Answer format]\n{answer}"


def build_prompt(rules: Rules, cards: Sequence[str] | None) -> str:
    """The task prompt for a hand.

    Args:
        rules: the active rules.
        cards: the rank labels to list, or ``None`` when the cards are shown in an image instead.
    """
    head, tail = _prompt_parts(rules, cards is None)
    if cards is None:
        listing = f"The {_count_word(rules.hand_size)} cards are shown in the image."
    else:
        listing = ", ".join(cards)
    return head + listing + tail


def feedback_message(feedback: str, attempt: int, max_attempts: int, correct: bool = False) -> str:
    """The message after a graded attempt: what was wrong and how many attempts remain (or that it was right)."""
    if correct:
        return f"[Feedback]\nAttempt {attempt} of {max_attempts} was correct. {feedback}"
    left = max_attempts - attempt
    plural = "attempt" if left == 1 else "attempts"
    return f"[Feedback]\nAttempt {attempt} of {max_attempts} was not correct. {feedback}\nYou have {left} {plural} left."


# --------------------------------------------------------------------------------------------------------------
# The authors' text, verbatim (prompt_lib/prompts.py and utils_rl.py); formatted with str.format as theirs is.
# --------------------------------------------------------------------------------------------------------------

#: ``Q_GeneralPoint_EQN_L``: the text-mode prompt (placeholders ``target_number``, ``face_card_msg``, ``cards``).
PAPER_TEXT_TEMPLATE = """
[Task Description]
You are an expert {target_number} points card game player. You will receive a set of 4 cards.
Note that {face_card_msg}, and each card must be used once.
Your goal is to output a formula that evaluates to {target_number} using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Input]
Cards: {cards}

[Output]
{{
  "cards": [x, y, z, w], where {face_card_msg},
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals {target_number}',
}}

"""

#: ``Q_GeneralPoint_EQN_VL``: the image-mode prompt (the image comes first in the same user turn).
PAPER_IMAGE_TEMPLATE = """
[Task Description]
You are an expert {target_number} points card game player. You are observing these four cards in the image.
Note that {face_card_msg}, and each card must be used once.
Your goal is to output a formula that evaluates to {target_number} using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Output]
Your response should be a valid json file in the following format:
{{
  "cards": [x, y, z, w], where {face_card_msg},
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals {target_number}',
}}

"""

#: ``ResponseEqn``: the authors' answer template (defined in their code for SFT targets).
PAPER_RESPONSE_TEMPLATE = """
{{
  "cards": {cards},
  "number": {numbers},
  "formula": "{formula}",
}}"""

#: The user turn after a failed attempt (their evaluator's ``f"You failed this trial because {info['Verify Info']}"``).
PAPER_FEEDBACK_TEMPLATE = "You failed this trial because {message}"


def _check_paper_rules(rules: Rules) -> None:
    if rules.hand_size != 4 or rules.ace_value != 1 or rules.operators != OPERATORS:
        raise ValueError(
            "protocol='paper' plays the paper's game only: 4 cards, A = 1 and the operators + - * / (its prompt "
            f"states nothing else), got hand_size={rules.hand_size}, ace_value={rules.ace_value}, "
            f"operators={rules.operators!r}"
        )


def paper_face_card_msg(rules: Rules) -> str:
    """The prompt's ``face_card_msg``: theirs for J/Q/K = 10 and 11/12/13, the same wording for other values."""
    jack, queen, king = rules.face_values
    if jack == queen == king:
        return f"'J', 'Q', and 'K' count as '{jack}'."
    return f"'J', 'Q', and 'K' count as '{jack}', '{queen}', and '{king}' respectively."


def paper_prompt(rules: Rules, ranks: Sequence[str] | None) -> str:
    """The authors' prompt for a hand: the text template with the ranks, or (``ranks=None``) the image template.

    Raises:
        ValueError: rules the paper's prompt cannot state (other than 4 cards, A = 1, all four operators).
    """
    _check_paper_rules(rules)
    arguments = {"target_number": str(rules.target), "face_card_msg": paper_face_card_msg(rules)}
    if ranks is None:
        return PAPER_IMAGE_TEMPLATE.format(**arguments)
    return PAPER_TEXT_TEMPLATE.format(cards=repr(list(ranks)), **arguments)
