"""The text the model reads: task description, instruction, action space, history, feedback, format.

Follows the paper's text-mode prompt (Chu et al., 2025, Fig. 14). Every character emitted is in
:data:`OBS_CHARSET` (ASCII letters, digits, punctuation, space and newline), and a prompt never
exceeds :data:`OBS_MAX_LENGTH` characters (routes, rails and names are bounded; see the test suite).
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence

from virl_env.checker import MAX_REPLY_CHARS, action_arguments

__all__ = [
    "ACTION_CHARSET",
    "ACTION_MAX_LENGTH",
    "FINISHED_TEXT",
    "IMAGE_LAYOUT_TEXT",
    "TASK_DESCRIPTION_VL",
    "OBS_CHARSET",
    "OBS_MAX_LENGTH",
    "OUTPUT_FORMAT",
    "TASK_DESCRIPTION",
    "action_space_text",
    "ended_feedback",
    "expert_reply_text",
    "format_history",
    "image_observation_text",
    "moved_on_feedback",
    "prompt_header",
    "prompt_text",
    "retry_feedback",
]

OBS_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"
"""Characters a prompt may contain."""

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
