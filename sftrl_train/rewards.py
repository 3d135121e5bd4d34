"""Reward functions in the call shapes of TRL, verl and OpenRLHF, grading raw replies from episode specs.

Every function here grades with the game's own grader (``gpoints_env.grade`` / ``virl_env.grade``), so a reward is
exactly what ``env.step`` gives for that reply at that point. The shaped reward (the env's reward table) and
success (1 for a correct reply, else 0) are reported apart: with the paper's table a success on a retry scores
+3 (-2 then +5) where a first-try success scores +5, so the summed reward is no success rate.

>>> import json, gymnasium as gym, gpoints_env
>>> env = gym.make("GeneralPoints-v0"); _ = env.reset(options={"cards": ["8", "3", "8", "3"]})
>>> spec = json.dumps(env.unwrapped.episode_spec())
>>> trl_reward(None, ['{"formula": "8/(3-8/3)"}', [{"role": "assistant", "content": "8+8+3+3"}]], [spec, spec])
[5.0, -1.0]
>>> verl_compute_score("GeneralPoints-v0", "8/(3-8/3)", spec)
{'score': 5.0, 'acc': 1.0}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sftrl_core.grading import Grade

# Absolute imports: verl and OpenRLHF may load this file by its path, as a top-level module.
from sftrl_train._games import specs_module
from sftrl_train.episodes import SpecEpisode

__all__ = [
    "reply_text",
    "grade",
    "play_turns",
    "trl_reward",
    "trl_success",
    "verl_compute_score",
    "openrlhf_reward_func",
    "response_of_query",
]


def reply_text(completion: Any) -> str:
    """The raw reply in a completion as trainers pass it: a string, a chat message, or a list of messages (the
    last assistant message's text; content given as parts is joined from its text parts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        content = completion.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, Sequence):
            return "".join(part.get("text") or "" for part in content if isinstance(part, Mapping))
        return ""
    if isinstance(completion, Sequence):
        for message in reversed(completion):
            if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
                return reply_text(message)
        return ""
    return ""


def grade(reply: object, spec: str | Mapping[str, Any]) -> Grade:
    """Grade a raw reply against a spec of either game (the game's ``grade``)."""
    return specs_module(spec).grade(reply, spec)


def play_turns(replies: Sequence[object], spec: str | Mapping[str, Any]) -> list[Grade]:
    """Grade a multi-turn episode: each reply at the spec of its attempt, stopping where the env would (a correct
    reply, or the last attempt). Replies past that point are ignored.

    Returns:
        The grade of each reply the env would have graded.
    """
    episode = SpecEpisode(spec)
    for reply in replies:
        if episode.done:
            break
        episode.reply(reply)
    return episode.grades


def _episode_grades(completion: Any, spec: Any, turns: Sequence[object] | None) -> list[Grade]:
    if turns is not None:
        return play_turns(list(turns), spec)
    return [grade(reply_text(completion), spec)]


def _scores(prompts: Any, completions: Sequence[Any], spec: Sequence[Any], turn_replies: Sequence[Any] | None,
            score: Callable[[list[Grade]], float]) -> list[float]:
    if spec is None:
        raise ValueError("the dataset needs a 'spec' column (sftrl_train.datasets rows have one); TRL passes it to "
                         "reward functions by name")
    if len(spec) != len(completions):
        raise ValueError(f"got {len(completions)} completions but {len(spec)} specs")
    turns = [None] * len(completions) if turn_replies is None else turn_replies
    return [score(_episode_grades(c, s, t)) for c, s, t in zip(completions, spec, turns)]


def trl_reward(prompts: Any = None, completions: Sequence[Any] = (), spec: Sequence[Any] | None = None,
               turn_replies: Sequence[Sequence[str]] | None = None, log_metric: Callable | None = None,
               **kwargs: Any) -> list[float]:
    """TRL ``reward_funcs`` entry: the env's reward for each completion.

    Args:
        prompts: unused (TRL passes them).
        completions: strings or message lists.
        spec: the dataset's ``spec`` column (TRL passes every column by name).
        turn_replies: set by :func:`sftrl_train.trl.multi_turn_rollout`: each completion's raw replies, one per
            attempt; the reward is then the episode's return (the rewards of the graded attempts, summed).
        log_metric: TRL's metric logger; when given, the success rate is logged as ``sftrl/success``.

    Returns:
        One float per completion.
    """
    grades = []
    rewards = _scores(prompts, completions, spec, turn_replies,
                      lambda gs: grades.append(gs) or sum(g.reward for g in gs))
    if log_metric is not None and grades:
        log_metric("sftrl/success", sum(any(g.success for g in gs) for gs in grades) / len(grades))
    return rewards


def trl_success(prompts: Any = None, completions: Sequence[Any] = (), spec: Sequence[Any] | None = None,
                turn_replies: Sequence[Sequence[str]] | None = None, **kwargs: Any) -> list[float]:
    """TRL ``reward_funcs`` entry: 1.0 when the episode succeeded (some graded attempt was correct), else 0.0.
    Pass it with weight 0 (``GRPOConfig(reward_weights=[1.0, 0.0])``) to log success apart from the reward."""
    return _scores(prompts, completions, spec, turn_replies, lambda gs: float(any(g.success for g in gs)))


def verl_compute_score(data_source: str, solution_str: str, ground_truth: str,
                       extra_info: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, float]:
    """verl ``custom_reward_function`` entry (``reward.custom_reward_function.path=pkg://sftrl_train.rewards``, or this
    file's path, and ``reward.custom_reward_function.name=verl_compute_score``).

    Args:
        data_source: the row's ``data_source`` (unused: the spec names its game).
        solution_str: the decoded response.
        ground_truth: the row's ``reward_model.ground_truth``: the spec's JSON text.
        extra_info: unused.

    Returns:
        ``{"score": reward, "acc": 1.0 or 0.0}``: verl trains on ``score`` and logs ``acc``.
    """
    result = grade(solution_str, ground_truth)
    return {"score": float(result.reward), "acc": float(result.success)}


def response_of_query(query: str, prompt: str) -> str:
    """The response in an OpenRLHF query: the query is the templated prompt followed by the response, so the
    response is what follows the prompt (the whole query when it does not start with the prompt)."""
    return query[len(prompt):] if query.startswith(prompt) else query


def openrlhf_reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[str],
                         **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF ``reward_func`` (``--reward.remote_url`` the file of :mod:`sftrl_train.openrlhf`, which exports it).

    Args:
        queries: templated prompt + response, one per sample.
        prompts: the templated prompts.
        labels: the ``label`` column: the spec's JSON text.

    Returns:
        ``{"rewards": tensor, "scores": tensor, "extra_logs": {"success": tensor}}``: ``rewards`` is the env's
        reward, ``scores`` the success (0/1) OpenRLHF's dynamic filtering reads.
    """
    import torch

    results = [grade(response_of_query(q, p), label) for q, p, label in zip(queries, prompts, labels)]
    rewards = torch.tensor([r.reward for r in results], dtype=torch.float32)
    success = torch.tensor([float(r.success) for r in results], dtype=torch.float32)
    return {"rewards": rewards, "scores": success, "extra_logs": {"success": success}}
