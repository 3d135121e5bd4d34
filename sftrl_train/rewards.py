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
{'score': 5.0, 'acc': 1.0, 'step_accuracy': 1.0, 'turns': 1.0}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sftrl_core.grading import Grade

# Absolute imports: verl and OpenRLHF may load this file by its path, as a top-level module.
from sftrl_train._games import specs_module
from sftrl_train.episodes import EpisodeSession

__all__ = [
    "reply_text",
    "grade",
    "play_turns",
    "play_episode",
    "trl_reward",
    "trl_success",
    "trl_step_accuracy",
    "VERL_SCORE_KEYS",
    "verl_compute_score",
    "episode_record",
    "episode_from_turn_scores",
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
    """Grade a multi-turn episode: each reply at the point and attempt the episode stands at, stopping where the env
    would (GeneralPoints: a correct reply or the last attempt; a V-IRL route: its end). Replies past the end are
    ignored.

    Returns:
        The grade of each reply the env would have graded.
    """
    return play_episode(replies, spec).grades


def play_episode(replies: Sequence[object], spec: str | Mapping[str, Any]) -> EpisodeSession:
    """The :class:`~sftrl_train.episodes.EpisodeSession` of ``spec`` after ``replies`` (those past the end ignored;
    a non-string reply is played as the empty reply, which no game accepts)."""
    episode = EpisodeSession(spec)
    for reply in replies:
        if episode.done:
            break
        episode.reply(reply if isinstance(reply, str) else "")
    return episode


def _sessions(completions: Sequence[Any], spec: Sequence[Any] | None,
              turn_replies: Sequence[Any] | None) -> list[EpisodeSession | Grade]:
    if spec is None:
        raise ValueError("the dataset needs a 'spec' column (sftrl_train.datasets rows have one); TRL passes it to "
                         "reward functions by name")
    if len(spec) != len(completions):
        raise ValueError(f"got {len(completions)} completions but {len(spec)} specs")
    if turn_replies is None:
        return [grade(reply_text(c), s) for c, s in zip(completions, spec)]
    return [play_episode(list(t), s) for t, s in zip(turn_replies, spec)]


def _figures(outcome: EpisodeSession | Grade) -> dict[str, float]:
    """``return``, ``success``, ``step_accuracy`` and ``turns`` of a played episode or of one graded reply."""
    if isinstance(outcome, EpisodeSession):
        return outcome.metrics()
    success = float(outcome.success)
    return {"return": float(outcome.reward), "success": success, "step_accuracy": success, "turns": 1.0}


def trl_reward(prompts: Any = None, completions: Sequence[Any] = (), spec: Sequence[Any] | None = None,
               turn_replies: Sequence[Sequence[str]] | None = None, log_metric: Callable | None = None,
               **kwargs: Any) -> list[float]:
    """TRL ``reward_funcs`` entry: the env's reward for each completion.

    Args:
        prompts: unused (TRL passes them).
        completions: strings or message lists.
        spec: the dataset's ``spec`` column (TRL passes every column by name).
        turn_replies: set by :func:`sftrl_train.trl.multi_turn_rollout`: each completion's raw replies, one per
            turn; the reward is then the episode's return (the per-turn rewards summed).
        log_metric: TRL's metric logger; when given, the batch means of the episodes' ``success``,
            ``step_accuracy``, ``return`` and ``turns`` are logged as ``sftrl/success``, ``sftrl/step_accuracy``,
            ``sftrl/return`` and ``sftrl/turns``, and the mean per-turn reward as ``sftrl/turn_reward``.

    Returns:
        One float per completion.
    """
    outcomes = _sessions(completions, spec, turn_replies)
    figures = [_figures(o) for o in outcomes]
    if log_metric is not None and figures:
        for name in ("success", "step_accuracy", "return", "turns"):
            log_metric(f"sftrl/{name}", sum(f[name] for f in figures) / len(figures))
        turn_rewards = [r for o in outcomes for r in (o.rewards if isinstance(o, EpisodeSession) else [o.reward])]
        if turn_rewards:
            log_metric("sftrl/turn_reward", sum(turn_rewards) / len(turn_rewards))
    return [f["return"] for f in figures]


def trl_success(prompts: Any = None, completions: Sequence[Any] = (), spec: Sequence[Any] | None = None,
                turn_replies: Sequence[Sequence[str]] | None = None, **kwargs: Any) -> list[float]:
    """TRL ``reward_funcs`` entry: 1.0 when the episode succeeded (GeneralPoints: a correct reply; a V-IRL route:
    every point solved; one reply: it was correct), else 0.0. Pass it with weight 0
    (``GRPOConfig(reward_weights=[1.0, 0.0])``) to log success apart from the shaped reward."""
    return [_figures(o)["success"] for o in _sessions(completions, spec, turn_replies)]


def trl_step_accuracy(prompts: Any = None, completions: Sequence[Any] = (), spec: Sequence[Any] | None = None,
                      turn_replies: Sequence[Sequence[str]] | None = None, **kwargs: Any) -> list[float]:
    """TRL ``reward_funcs`` entry: the episode's per-step accuracy (the share of its replies that were correct).
    Pass it with weight 0 to log it apart from the shaped reward."""
    return [_figures(o)["step_accuracy"] for o in _sessions(completions, spec, turn_replies)]


#: The keys of :func:`verl_compute_score`'s result, the same for every row (verl gathers them per key).
VERL_SCORE_KEYS = ("score", "acc", "step_accuracy", "turns")


def episode_record(episode: EpisodeSession) -> dict[str, float]:
    """What :func:`verl_compute_score` returns for a played episode: ``score`` (the return), ``acc`` (success),
    ``step_accuracy`` and ``turns``. The verl agent loop stores it with the rollout (``sftrl_episode``)."""
    figures = episode.metrics()
    return {"score": figures["return"], "acc": figures["success"], "step_accuracy": figures["step_accuracy"],
            "turns": figures["turns"]}


def episode_from_turn_scores(spec: str | Mapping[str, Any], scores: Sequence[float]) -> dict[str, float]:
    """The :func:`verl_compute_score` record of an episode known only by its per-turn rewards (older verl's
    interaction loop keeps those, not the replies): ``score`` is their sum; the episode is replayed with an expert
    reply for each turn that earned the table's ``correct`` reward and an empty reply for the others, which walks
    the same points and attempts, to tell ``acc`` (success) and ``step_accuracy``."""
    episode = EpisodeSession(spec)
    correct = float(episode_rewards(spec)["correct"])
    hits = [float(score) == correct for score in scores]
    for hit in hits:
        if episode.done:
            break
        episode.reply(episode.expert_reply() if hit else "")
    return {"score": float(sum(scores)), "acc": float(episode.success),
            "step_accuracy": sum(hits) / len(hits) if hits else 0.0, "turns": float(len(scores))}


def episode_rewards(spec: str | Mapping[str, Any]) -> Mapping[str, float]:
    """The reward table of a spec (its ``rewards`` field)."""
    from sftrl_core.specs import load_spec, spec_game

    return load_spec(spec, spec_game(spec))["rewards"]


def _turn_scores(extra_info: Mapping[str, Any]) -> list[float] | None:
    """The per-turn rewards older verl recorded for an interaction row: the agent loop's ``turn_scores``, or the
    SGLang rollout's ``rollout_reward_scores["user_turn_rewards"]``."""
    scores = extra_info.get("turn_scores")
    if scores is None or len(scores) == 0:
        rollout = extra_info.get("rollout_reward_scores") or {}
        scores = rollout.get("user_turn_rewards") if isinstance(rollout, Mapping) else None
    if scores is None or len(scores) == 0:
        return None
    return [float(s) for s in scores]


def verl_compute_score(data_source: str, solution_str: str, ground_truth: str,
                       extra_info: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, float]:
    """verl ``custom_reward_function`` entry (``reward.custom_reward_function.path=pkg://sftrl_train.rewards``, or this
    file's path, and ``reward.custom_reward_function.name=verl_compute_score``).

    A row the multi-turn agent loop played (:class:`sftrl_train.verl.EnvAgentLoop`) carries its episode's record
    (``sftrl_episode``, passed in ``extra_info`` with the rollout's fields), which is returned as it is: the episode's
    return and success, never a grade of the whole transcript. A row older verl's interaction loop played
    (:class:`sftrl_train.verl.SpecInteraction`) carries its per-turn rewards (``turn_scores``), summed into the
    return (:func:`episode_from_turn_scores`). Any other row is one reply, graded from the spec.

    Args:
        data_source: the row's ``data_source`` (unused: the spec names its game).
        solution_str: the decoded response.
        ground_truth: the row's ``reward_model.ground_truth``: the spec's JSON text.
        extra_info: the row's ``extra_info``, with the rollout's fields.

    Returns:
        :data:`VERL_SCORE_KEYS`: ``score`` (the reward, or the episode's return: verl trains on it), ``acc`` (1.0 or
        0.0: success), ``step_accuracy`` and ``turns``; the same keys for every row, so a dataset may mix
        multi-turn and single-turn rows.
    """
    extra = extra_info if isinstance(extra_info, Mapping) else {}
    record = extra.get("sftrl_episode")
    if isinstance(record, Mapping):
        return {key: float(record[key]) for key in VERL_SCORE_KEYS}
    scores = _turn_scores(extra)
    if scores is not None:
        return episode_from_turn_scores(ground_truth, scores)
    result = grade(solution_str, ground_truth)
    success = float(result.success)
    return {"score": float(result.reward), "acc": success, "step_accuracy": success, "turns": 1.0}


#: Special-token text a decoded OpenRLHF query ends with (the stop token, padding): ChatML and Qwen ``<|...|>``
#: markers, Llama/Mistral ``</s>``, Gemma ``<eos>``/``<end_of_turn>``, ``<pad>``.
_TRAILING_SPECIAL = re.compile(r"(?:\s*(?:<\|[A-Za-z0-9_.:-]{1,40}\|>|</s>|<eos>|<pad>|<end_of_turn>))+\s*\Z")


def response_of_query(query: str, prompt: str) -> str:
    """The response in an OpenRLHF query: the query is the templated prompt followed by the response, so the
    response is what follows the prompt (the whole query when it does not start with the prompt). OpenRLHF decodes
    the query with its special tokens, so the stop token (and any padding) the response ends with is dropped: the
    grader must see the reply, not ``turn_direction(northwest)<|im_end|>``."""
    response = query[len(prompt):] if query.startswith(prompt) else query
    return _TRAILING_SPECIAL.sub("", response)


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
