"""The text the model reads, under both protocols: task description, instruction, action space, history, feedback,
answer format.

The suite's prompt follows the paper's text-mode prompt (Chu et al., 2025, Fig. 14); the authors' own templates and
messages (``Q_VIRL_L``, ``Q_VIRL_VL``, :data:`PAPER_FEEDBACK`...) are kept verbatim. Which text an episode shows is
its protocol's choice (:mod:`virl_env.protocols`). Every character the suite emits is in :data:`OBS_CHARSET` (ASCII
letters, digits, punctuation, space and newline); the paper protocol also shows released landmark names as written,
and its observation space adds their characters. A prompt never exceeds :data:`OBS_MAX_LENGTH` characters (routes,
rails and names are bounded; see the test suite).
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence

from virl_env.task.checker import MAX_REPLY_CHARS, action_arguments

__all__ = [
    "ACTION_CHARSET",
    "ACTION_MAX_LENGTH",
    "FINISHED_TEXT",
    "IMAGE_LAYOUT_TEXT",
    "TASK_DESCRIPTION_VL",
    "OBS_CHARSET",
    "OBS_MAX_LENGTH",
    "OUTPUT_FORMAT",
    "PAPER_FAILURE_PREFIX",
    "PAPER_FEEDBACK",
    "PAPER_NO_LANDMARK",
    "PAPER_NO_LANDMARKS",
    "Q_VIRL_L",
    "Q_VIRL_VL",
    "TASK_DESCRIPTION",
    "action_space_text",
    "ended_feedback",
    "expert_reply_text",
    "format_history",
    "image_observation_text",
    "moved_on_feedback",
    "paper_action_space",
    "paper_failure_feedback",
    "paper_header",
    "paper_history",
    "paper_image_observation",
    "paper_instruction",
    "paper_landmark_text",
    "paper_observation",
    "paper_prompt",
    "paper_prompt_end",
    "paper_sentences",
    "prompt_header",
    "prompt_text",
    "retry_feedback",
]

OBS_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"
"""Characters a prompt may contain (the paper protocol adds those of released landmark names)."""

OBS_MAX_LENGTH = 100_000
"""Upper bound on prompt length (the longest rails give well under half of it)."""

ACTION_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n\t"
"""Charset of the nominal action space (any string is accepted by ``step``)."""

ACTION_MAX_LENGTH = MAX_REPLY_CHARS

TASK_DESCRIPTION = (
    "You are an expert in navigation. You will receive a sequence of instructions to follow. "
    "You are also provided with your observation and action history in text. Your goal is to first "
    "analyze the instruction and identify the next sentence to be executed. Then, you need to provide "
    "the action to be taken based on the current observation and instruction."
)

TASK_DESCRIPTION_VL = (
    "You are an expert in navigation. You will receive a sequence of instructions to follow while "
    "observing your surrounding street views. You are also provided with your observation and action "
    "history in text. Your goal is to first analyze the instruction and identify the next sentence to be "
    "executed. Then, you need to provide the action to be taken based on the current observation and "
    "instruction."
)
"""Task description of the image mode (after the paper's vision-language prompt)."""

IMAGE_LAYOUT_TEXT = (
    "The image is a 2x2 grid of street views taken at your current position: top row front, right; "
    "bottom row back, left (front is the direction you are facing)."
)
"""How the prompt states the order of the four views (the order they are drawn in)."""

OUTPUT_FORMAT = (
    "Your response should be a valid json file in the following format:\n"
    "{\n"
    '  "current observation": latest observation from the observation sequence,\n'
    '  "current instruction": analyze the full instruction and identify the sentence to be executed,\n'
    '  "action": the action to be taken chosen from the action space\n'
    "}"
)


def action_space_text(mode: str) -> str:
    """The ``[Action space]`` lines for an action mode."""
    args = action_arguments(mode)
    if mode == "absolute":
        turn = f"indicates turning to face direction x, where x is one of {list(args)}"
    elif mode == "relative":
        turn = (f"indicates turning relative to your current heading, where x is one of {list(args)} "
                "(a turn of at most 45 degrees is slightly left or slightly right)")
    else:
        turn = (f"indicates turning to face the compass bearing x in degrees, where x is one of "
                f"{list(args)} (0 is north, 90 is east, 180 is south, 270 is west)")
    return (
        '- "forward()": indicates moving forward for one step;\n'
        f'- "turn_direction(x)": {turn};\n'
        '- "stop()": indicates the navigation is finished.'
    )


def prompt_header(instruction: str, mode: str, image: bool = False) -> str:
    """Everything before the observation history (fixed for an episode); ``image`` adds the
    image-mode task description and the layout of the street-view grid."""
    if image:
        return (
            f"[Task Description]\n{TASK_DESCRIPTION_VL}\n\n"
            f"[Instruction]\n{instruction}\n\n"
            f"[Action space]\n{action_space_text(mode)}\n\n"
            f"[Current observation]\n{IMAGE_LAYOUT_TEXT}\n\n"
            "[Observations and actions sequence]\n"
        )
    return (
        f"[Task Description]\n{TASK_DESCRIPTION}\n\n"
        f"[Instruction]\n{instruction}\n\n"
        f"[Action space]\n{action_space_text(mode)}\n\n"
        "[Observations and actions sequence]\n"
    )


def image_observation_text(at_intersection: bool) -> str:
    """The current-observation line in image mode: the views are in the image, the intersection
    flag is stated in text (as in the paper's image mode)."""
    text = "You observe an image of 4 views (front, right / back, left)"
    return text + "; You observe an intersection" if at_intersection else text


def format_history(steps: Sequence[tuple[str, str]]) -> str:
    """``O_i``/``A_i`` lines for past (observation, action) pairs."""
    return "".join(f"O_{i}: {obs}\nA_{i}: {act}\n" for i, (obs, act) in enumerate(steps, start=1))


FINISHED_TEXT = "The navigation episode has ended."


def prompt_text(header: str, history_text: str, step_number: int, observation: str,
                feedback: str | None, finished: bool = False) -> str:
    """The full prompt at one point; ``feedback`` (after a failed attempt) adds a section.

    When ``finished`` the prompt ends after the history with :data:`FINISHED_TEXT` (no new
    observation, no answer format).
    """
    if finished:
        parts = [header, history_text]
        if feedback:
            parts.append(f"\n[Feedback]\n{feedback}\n")
        parts.append(f"\n{FINISHED_TEXT}")
        return "".join(parts)
    parts = [header, history_text, f"O_{step_number}: {observation}\nA_{step_number}:\n"]
    if feedback:
        parts.append(f"\n[Feedback]\n{feedback}\n")
    parts.append(f"\n[Output]\n{OUTPUT_FORMAT}")
    return "".join(parts)


# ---- feedback after a graded reply (the checker's message, then what happens next) ----------------
def retry_feedback(message: str, attempts_left: int) -> str:
    """Feedback after a failed attempt with attempts left at the point."""
    return f"{message} Attempts left at this point: {attempts_left}."


def ended_feedback(message: str) -> str:
    """Feedback after the last failed attempt when the episode ends there."""
    return f"{message} No attempts left; the episode has ended."


def moved_on_feedback(message: str, expected: str) -> str:
    """Feedback after the last failed attempt when the agent is moved on to the next point."""
    return (f"{message} No attempts left at the previous point; the expected action there was {expected} "
            "and you have been moved on.")


def expert_reply_text(observation: str, sentence: str, action: str) -> str:
    """A full reply in the prompt's answer format (:data:`OUTPUT_FORMAT`), as an expert gives it."""
    return json.dumps({"current observation": observation, "current instruction": sentence, "action": action})


# ---- the paper protocol: the authors' texts, verbatim (docs/PAPER_PROTOCOL.md section 2) -------------------------
# Kept exactly as the authors' code emits them, typos, trailing spaces and literal "{{ }}" included:
# a model evaluated under protocol="paper" must read the same characters theirs did.
Q_VIRL_L = (
    "\n[Task Description]\n"
    "You are an expert in navigation. You will receive a sequence of instructions to follow. You\n"
    "are also provided with your observation and action history in text. Your goal is to first analyze "
    "the instruction and identify the next sentence to be executed. \n"
    "Then, you need to provide the action to be taken based on the current observation and instruction.\n"
    "\n[Instruction]\n<<instruction>>\n\n"
    "[Action space]\n<<action_space>>\n\n"
    "[Observations and actions sequence]\n<<obs_act_seq>>\n\n"
    "[Output]\n{\n"
    '  "current observation": latest observation from the observation sequence,\n'
    '  "current instruction": analyze the full instruction and identify the sentence to be executed,\n'
    '  "action": the action to be taken chosen from the action space,\n'
    "}\n"
)
"""The authors' text-mode prompt; ``<<instruction>>`` and ``<<obs_act_seq>>`` end in a newline."""

Q_VIRL_VL = (
    Q_VIRL_L
    .replace("instructions to follow. You\n",
             "instructions to follow while observing your surrounding stree tviews. You\n")
    .replace("[Action space]\n",
             "[Observation format]\nYou observe a 2x2 grid of streetview images with the following headings:\n"
             "[front, right\n back, left]\nYou need to identify if any of the landmarks in the instruction are "
             "visible in the street view grid.\n\n[Action space]\n")
    .replace("latest observation from the observation sequence,", "latest observation from the street view grid,")
)
"""The authors' image-mode prompt (``stree tviews`` sic)."""

_PAPER_TURN_ARGUMENTS = {
    "absolute": "8 directions ['north', 'northeast', 'east', 'southeast', 'south', 'southwest', 'west', "
                "'northwest']",
    "relative": "['left', 'right', 'slightly left', 'slightly right']",
}

PAPER_NO_LANDMARKS = "No landmarks nearby"
"""The landmark part of the observation at the start and at interpolated points."""

PAPER_NO_LANDMARK = "No landmark nearby"
"""The authors' default landmark text of a milestone (sic: singular, unlike :data:`PAPER_NO_LANDMARKS`)."""

_PAPER_INTERSECTION = "You observe an intersection"

_PAPER_FT = ('\n[Output]\n{{\n  "current observation": latest observation from the streetview grid,\n'
             '  "current instruction": analyze the full instruction and identify the sentence to be executed,\n'
             '  "action": the action to be taken chosen from the action space,\n}}')

PAPER_FEEDBACK: dict[str, str] = {
    "not_at_intersection": "you are not at any intersection. Please avoid this observation and try again in "
                           "the same format:" + _PAPER_FT + ".",
    "at_intersection": "you are at an intersection. Please avoid this observation and try again in the same "
                       "format:" + _PAPER_FT + ".",
    "wrong_action": "you make incorrect action. Please avoid this action and try again in the same format:"
                    + _PAPER_FT + ".",
}
"""The authors' three failure messages, each ending ``...}}.`` (their ``{{ }}`` are literal: the string is never
formatted)."""

PAPER_FAILURE_PREFIX = "You failed this trial because "


def paper_action_space(mode: str) -> str:
    """The authors' ``<<action_space>>`` block for ``absolute`` or ``relative`` actions.

    Raises:
        ValueError: For another action mode (the paper has only these two).
    """
    if mode not in _PAPER_TURN_ARGUMENTS:
        raise ValueError(f"the paper protocol has absolute and relative actions only, got action_mode={mode!r}")
    return ('"forward()": indicates moving forward one step\n'
            '"turn_direction(x)": indicates adjust the ego agent direction towards x direction. x could be any '
            f"following {_PAPER_TURN_ARGUMENTS[mode]}\n"
            '"stop()": indicates the navigation is finished.')


def paper_sentences(blocks: Sequence[tuple[str, str, str | None]]) -> tuple[str, ...]:
    """The authors' instruction sentences, two per leg. The turn of the first leg reads ``First, turn ...``
    unless that leg is also the last: their last block always reads ``Turn ...`` (``1. Turn ...`` on a route of
    one leg).

    Args:
        blocks: ``(relative turn, compass word, landmark text or None)`` of each leg; the landmark
            text is what the leg's end point shows (None: no landmark).
    """
    sentences: list[str] = []
    last = len(blocks) - 1
    for k, (relative, compass, landmarks) in enumerate(blocks):
        sentences.append(f"{'First, turn' if k == 0 and k < last else 'Turn'} {relative} to face {compass}.")
        if k < last:
            sentences.append(f"Move forward until you reach next intersection where {landmarks}." if landmarks
                             else "Move forward until you reach next intersection.")
        else:
            sentences.append(f"Move forward until you reach destination where {landmarks or PAPER_NO_LANDMARK}.")
    return tuple(sentences)


def paper_instruction(sentences: Sequence[str]) -> str:
    """``<<instruction>>``: ``1. ...\\n2. ...\\n`` (every line ends in a newline)."""
    return "".join(f"{i}. {s}\n" for i, s in enumerate(sentences, start=1))


def paper_observation(landmarks: str | None, kind: str) -> str:
    """The authors' observation at a rail point: ``<<landmark>>; <<intersection>>``.

    Args:
        landmarks: The landmark text of a milestone or the destination (None: no landmark).
        kind: ``start``, ``forward`` (interpolated), ``turn`` (a milestone) or ``destination``.
    """
    if kind in ("start", "forward"):
        return f"{PAPER_NO_LANDMARKS}; "
    text = landmarks or PAPER_NO_LANDMARK
    return f"{text}; {_PAPER_INTERSECTION}" if kind == "turn" else f"{text}; "


def paper_landmark_text(observation: str) -> str:
    """The landmark part of a :func:`paper_observation` (what the authors' -1.5 check reads)."""
    return observation.rsplit("; ", 1)[0]


def paper_image_observation(at_intersection: bool) -> str:
    """The current observation line in image mode."""
    return f"You observe an image of 4 views; {_PAPER_INTERSECTION if at_intersection else ''}"


def paper_history(steps: Sequence[tuple[str, str]], observation: str | None) -> str:
    """``<<obs_act_seq>>``: ``O_i``/``A_i`` lines of the points passed (with the expert's action), then
    ``O_n: <<obs>>\\nA_n: \\n`` for the current point (left out once the episode has ended, which
    closes the sequence with :data:`FINISHED_TEXT`)."""
    text = "".join(f"O_{i}: {obs}\nA_{i}: {act}\n" for i, (obs, act) in enumerate(steps, start=1))
    if observation is None:
        return text + FINISHED_TEXT + "\n"
    n = len(steps) + 1
    return text + f"O_{n}: {observation}\nA_{n}: \n"


def _template_parts(template: str) -> tuple[str, str, str, str]:
    head, rest = template.split("<<instruction>>")
    middle, rest = rest.split("<<action_space>>")
    before, after = rest.split("<<obs_act_seq>>")
    return head, middle, before, after


# The templates cut at their placeholders, which are filled one by one: braces or markers inside route text stay
# as they are.
_PAPER_PARTS = {False: _template_parts(Q_VIRL_L), True: _template_parts(Q_VIRL_VL)}


def paper_header(sentences: Sequence[str], mode: str, image: bool) -> str:
    """The authors' prompt (:data:`Q_VIRL_VL` in image mode, else :data:`Q_VIRL_L`) up to ``<<obs_act_seq>>``:
    the part fixed for an episode."""
    head, middle, before, _after = _PAPER_PARTS[bool(image)]
    return head + paper_instruction(sentences) + middle + paper_action_space(mode) + before


def paper_prompt_end(image: bool) -> str:
    """The authors' prompt after ``<<obs_act_seq>>`` (the ``[Output]`` block)."""
    return _PAPER_PARTS[bool(image)][3]


def paper_prompt(sentences: Sequence[str], mode: str, image: bool, obs_act_seq: str) -> str:
    """The authors' prompt (:data:`Q_VIRL_VL` in image mode, else :data:`Q_VIRL_L`) filled in."""
    return paper_header(sentences, mode, image) + obs_act_seq + paper_prompt_end(image)


def paper_failure_feedback(message: str) -> str:
    """What the authors append to the conversation after a failed reply."""
    return PAPER_FAILURE_PREFIX + message
