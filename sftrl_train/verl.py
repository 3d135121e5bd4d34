"""verl glue: parquet rows in verl's layout, a reward function, a multi-turn agent loop and an interaction.

* :func:`verl_rows` turns :mod:`sftrl_train.datasets` rows into verl's layout (``data_source``, ``prompt`` with
  ``<image>`` placeholders, ``reward_model.ground_truth`` = the spec's JSON text, ``extra_info``, ``agent_name``,
  ``images``); write them with :func:`sftrl_train.datasets.write_parquet`.
* Single turn: ``reward.custom_reward_function.path=<sftrl_train/rewards.py>`` and
  ``reward.custom_reward_function.name=verl_compute_score`` (:func:`sftrl_train.rewards.verl_compute_score`).
* Multi-turn, verl >= 0.9 (agent loops): ``actor_rollout_ref.rollout.agent.agent_loop_config_path=`` the path
  :func:`agent_loop_config_path` returns; rows name the loop in their ``agent_name`` column (``"sftrl_env"``).
  :class:`EnvAgentLoop` plays the row's whole episode on-policy (a GeneralPoints hand; a whole V-IRL route from
  ``rl_rows(..., whole_routes=True)``, text or street views): it generates, grades each raw reply with an
  :class:`~sftrl_train.episodes.EpisodeSession`, and merges the next user turn through verl's own token builder.
  The per-turn rewards go in ``turn_scores``; the episode's record (return, success as ``acc``, per-step accuracy,
  turns) goes with the rollout and :func:`~sftrl_train.rewards.verl_compute_score` returns it, with the keys of a
  single-turn row, so one dataset may mix ``sftrl_env`` and ``single_turn_agent`` rows.
* Multi-turn, older verl (interactions, e.g. 0.6): ``interaction_config_path=`` the path
  :func:`interaction_config_path` returns; :class:`SpecInteraction` reads ``extra_info.interaction_kwargs`` (set by
  :func:`verl_rows`); :func:`~sftrl_train.rewards.verl_compute_score` sums the per-turn rewards that verl records.

``EnvAgentLoop`` and ``SpecInteraction`` subclass verl's own classes, so they are built on first access and need
verl installed (``pip install "sft-rl-generalization-envs[verl]"``); everything else imports without verl.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import uuid4

from .chat import closing_text, reply_is_closed
from .datasets import image_to_png, require
from .episodes import EpisodeSession, message_text
from .rewards import episode_record

# EnvAgentLoop and SpecInteraction are public too, but built on first access (they need verl), so they stay out of
# __all__: a star import must not need verl.
__all__ = ["AGENT_NAME", "verl_rows", "agent_loop_config_path", "interaction_config_path"]

#: The name of the agent loop and of the interaction, as rows and config files give it.
AGENT_NAME = "sftrl_env"


def _verl_content(content: Any) -> str:
    """verl's message content: a string, with ``<image>`` where a picture goes."""
    if isinstance(content, str):
        return content
    return "".join("<image>" if part.get("type") == "image" else (part.get("text") or "") for part in content)


def verl_rows(rows: Iterable[Mapping[str, Any]], *, data_source: str | None = None,
              agent_name: str = AGENT_NAME) -> list[dict[str, Any]]:
    """Rows in verl's dataset layout.

    Args:
        rows: rows from :func:`~sftrl_train.datasets.rl_rows`.
        data_source: the ``data_source`` column (default: each row's env id).
        agent_name: the agent loop each row runs: ``"sftrl_env"`` (:class:`EnvAgentLoop`, verl >= 0.9),
            ``"single_turn_agent"`` for one reply, ``"tool_agent"`` for older verl's interaction loop.

    Returns:
        Row dicts with ``data_source``, ``prompt``, ``ability``, ``reward_model`` (``{"style": "rule",
        "ground_truth": spec}``, one string type in every row), ``extra_info`` (``spec``, ``env_id``, ``seed``,
        ``point``, ``index``, ``interaction_kwargs``; for a whole image route ``point_images``, every rail point's
        street views as PNG bytes), ``agent_name`` and, in image mode, ``images`` (the prompt's picture).
    """
    converted = []
    for index, row in enumerate(rows):
        spec = row["spec"]
        item = {
            "data_source": data_source or row["env_id"],
            "prompt": [{"role": m["role"], "content": _verl_content(m["content"])} for m in row["prompt"]],
            "ability": "game",
            "reward_model": {"style": "rule", "ground_truth": spec},
            "extra_info": {"spec": spec, "env_id": row["env_id"], "seed": row["seed"], "point": row["point"],
                           "index": index, "interaction_kwargs": {"name": AGENT_NAME, "spec": spec}},
            "agent_name": agent_name,
        }
        if "images" in row:
            item["images"] = list(row["images"])
        if row.get("point_images"):  # a whole image route: the later points' street views, for EnvAgentLoop
            item["extra_info"]["point_images"] = [image_to_png(image) for image in row["point_images"]]
        converted.append(item)
    return converted


def _config_file(name: str) -> Path:
    return Path(str(resources.files("sftrl_train") / "data" / name))


def agent_loop_config_path() -> Path:
    """The YAML file that names :class:`EnvAgentLoop` for ``rollout.agent.agent_loop_config_path``."""
    return _config_file("verl_agent_loop.yaml")


def interaction_config_path() -> Path:
    """The YAML file that names :class:`SpecInteraction` for ``multi_turn.interaction_config_path``."""
    return _config_file("verl_interaction.yaml")


def _row_spec(kwargs: Mapping[str, Any]) -> Any:
    extra = kwargs.get("extra_info") or {}
    if "spec" in extra:
        return extra["spec"]
    reward_model = kwargs.get("reward_model") or {}
    if "ground_truth" in reward_model:
        return reward_model["ground_truth"]
    raise ValueError("a row for the sftrl_env agent loop needs extra_info.spec or reward_model.ground_truth "
                     "(build rows with sftrl_train.verl.verl_rows)")


def _public(cls: type) -> type:
    """Name a class built in a function as this module's attribute, so pickling and verl's config loader find it
    by ``sftrl_train.verl.<name>``."""
    cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return cls


def _point_images(extra_info: Mapping[str, Any]) -> list[Any] | None:
    """The rail points' pictures a whole-route image row carries in ``extra_info["point_images"]`` (PNG bytes, or
    ``{"bytes": ...}`` as parquet gives them back), as ``PIL`` images; ``None`` for other rows."""
    stored = extra_info.get("point_images") if isinstance(extra_info, Mapping) else None
    if stored is None or len(stored) == 0:
        return None
    import io

    from PIL import Image

    pictures = []
    for item in stored:
        data = item.get("bytes") if isinstance(item, Mapping) else item
        pictures.append(Image.open(io.BytesIO(data)).convert("RGB"))
    return pictures


def _verl_turn(message: Mapping[str, Any]) -> dict[str, Any]:
    """A next-turn message in the form verl's token builders take: string content, or content parts with the
    picture as a ``PIL`` image when the turn shows one."""
    content = message["content"]
    if isinstance(content, str) or not any(part.get("type") == "image" for part in content):
        return {"role": message["role"], "content": message_text(message)}
    return {"role": message["role"], "content": [dict(part) for part in content]}


def _turn_pictures(messages: list[dict[str, Any]]) -> list[Any]:
    return [part["image"] for m in messages if isinstance(m["content"], list)
            for part in m["content"] if part.get("type") == "image" and part.get("image") is not None]


def _build_agent_loop() -> type:
    agent_loop = require("verl.experimental.agent_loop.agent_loop", "verl", "EnvAgentLoop")

    class EnvAgentLoop(agent_loop.AgentLoopBase):
        """verl agent loop that plays the row's whole episode (a GeneralPoints hand, a whole V-IRL route) on-policy.

        Each reply is graded from the row's spec by an :class:`~sftrl_train.episodes.EpisodeSession`; the next user
        turn (the env's feedback, or a route's next prompt with its street views) is merged through verl's own
        token builder; a reply cut by the length limit is closed first (the template's end of turn, masked out).
        The reward is left to the reward function: the rollout's ``sftrl_episode`` field records the episode
        (return, success, per-step accuracy, turns), which :func:`sftrl_train.rewards.verl_compute_score` returns as
        the row's score with the same keys as a single-turn row's, and ``turn_scores`` holds the per-turn rewards.
        """

        async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
            messages = list(kwargs["raw_prompt"])
            episode = EpisodeSession(_row_spec(kwargs), images=_point_images(kwargs.get("extra_info") or {}))
            multi_modal_data = await self.process_multi_modal_info(messages)
            images = list(multi_modal_data.get("images") or [])
            self._assert_mm_supported(bool(multi_modal_data))
            runtime_ids = await self.ct_build_initial_tokens(messages, images=images or None)
            templater = self.processor if self.processor is not None else self.tokenizer
            template_kwargs = dict(self.apply_chat_template_kwargs or {})
            response_limit = self.rollout_config.response_length
            mask: list[int] = []
            logprobs: list[float] = []  # stays empty when the server reports none
            metrics: dict[str, Any] = {}
            while True:
                output = await self.server_manager.generate(request_id=uuid4().hex, prompt_ids=runtime_ids,
                                                            sampling_params=sampling_params,
                                                            image_data=images or None)
                merged, mask, merged_logprobs = await self.ct_merge_assistant_token(
                    runtime_ids, output.token_ids, mask, logprobs if (logprobs or output.log_probs) else None,
                    assistant_logprobs=output.log_probs or None)
                runtime_ids, logprobs = merged.token_ids, merged_logprobs or []
                reply = self.tokenizer.decode(output.token_ids, skip_special_tokens=True)
                turn = episode.reply(reply)
                if turn.done or len(mask) >= response_limit:
                    break
                if not reply_is_closed(templater, output.token_ids, **template_kwargs):
                    # Cut by the length limit: close the turn as the template does before the next one starts
                    # (verl's builder appends the next turn after the runtime tokens as they are).
                    closing = self.tokenizer.encode(closing_text(templater, **template_kwargs),
                                                    add_special_tokens=False)
                    runtime_ids = [*runtime_ids, *closing]
                    mask = [*mask, *[0] * len(closing)]
                    if logprobs:
                        logprobs = [*logprobs, *[0.0] * len(closing)]
                # As verl's tool loop does: the reply is already in the runtime tokens, so it belongs to the
                # messages the builder compares against; only the next turn is new context.
                messages.append({"role": "assistant", "content": reply})
                previous = list(messages)
                added = [_verl_turn(m) for m in turn.next_messages]
                messages.extend(added)
                merged, new_mask, merged_logprobs = await self.ct_merge_context_msg(
                    previous, messages, runtime_ids, mask, logprobs or None)
                if len(new_mask) >= response_limit:
                    break
                images += _turn_pictures(added)
                runtime_ids, mask = merged.token_ids, new_mask
                if logprobs:
                    logprobs = merged_logprobs or []
            response_ids = runtime_ids[len(runtime_ids) - len(mask):]
            prompt_ids = runtime_ids[:len(runtime_ids) - len(mask)]
            return agent_loop.AgentLoopOutput(
                prompt_ids=prompt_ids,
                response_ids=response_ids[:response_limit],
                response_mask=mask[:response_limit],
                response_logprobs=logprobs[:response_limit] if logprobs else None,
                multi_modal_data={**multi_modal_data, "images": images} if images else multi_modal_data,
                num_turns=2 * len(episode.turns),
                metrics=metrics,
                extra_fields={"turn_scores": episode.rewards, "tool_rewards": [],
                              "sftrl_episode": episode_record(episode)},
            )

    return agent_loop.register(AGENT_NAME)(_public(EnvAgentLoop))


def _build_interaction() -> type:
    base = require("verl.interactions.base", "verl", "SpecInteraction")

    class SpecInteraction(base.BaseInteraction):
        """verl interaction (verl before agent loops, e.g. 0.6): each assistant turn is graded by an
        :class:`~sftrl_train.episodes.EpisodeSession` of the spec in ``interaction_kwargs``; the next user turn (the
        env's feedback, a route's next prompt) follows until the episode ends, then the last feedback.

        The per-turn rewards it returns are what that verl records (``turn_scores``, or the SGLang rollout's
        ``user_turn_rewards``); :func:`sftrl_train.rewards.verl_compute_score` sums them into the episode's return
        instead of grading the whole transcript. That verl never calls :meth:`finalize_interaction`, so an episode
        is freed when it ends, and at most :attr:`MAX_OPEN` unfinished ones are kept (the oldest go first).
        """

        #: Episodes kept open at most (those a turn limit stopped before their end are never told so).
        MAX_OPEN = 10_000

        def __init__(self, config: dict[str, Any]):
            super().__init__(config)
            self._episodes: OrderedDict[str, EpisodeSession] = OrderedDict()

        async def start_interaction(self, instance_id: str | None = None, spec: Any = None, **kwargs: Any) -> str:
            if spec is None:
                raise ValueError("interaction_kwargs must carry the row's 'spec' (build rows with verl_rows)")
            instance_id = instance_id or uuid4().hex
            self._episodes[instance_id] = EpisodeSession(spec)
            while len(self._episodes) > self.MAX_OPEN:
                self._episodes.popitem(last=False)
            return instance_id

        async def generate_response(self, instance_id: str, messages: list[dict[str, Any]],
                                    **kwargs: Any) -> tuple[bool, str, float, dict[str, Any]]:
            episode = self._episodes.get(instance_id)
            if episode is None:
                raise KeyError(f"no open episode {instance_id!r}: it ended, or start_interaction was not called")
            reply = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "assistant"), "")
            turn = episode.reply(_verl_content(reply))
            if _turn_pictures(list(turn.next_messages)):
                raise NotImplementedError("an interaction answers in text; a V-IRL image route's next point has "
                                          "street views: use the sftrl_env agent loop (verl >= 0.9)")
            if turn.done:
                self._episodes.pop(instance_id, None)
            details = {"verdict": str(turn.verdict), "success": turn.success, **episode.metrics()}
            return turn.done, turn.message, float(turn.reward), details

        async def calculate_score(self, instance_id: str | None = None, **kwargs: Any) -> float:
            episode = self._episodes.get(instance_id) if instance_id is not None else None
            return episode.total_reward if episode is not None else 0.0

        async def finalize_interaction(self, instance_id: str | None = None, **kwargs: Any) -> None:
            if instance_id is not None:
                self._episodes.pop(instance_id, None)

        def open_episodes(self) -> int:
            """How many episodes are open (started and not ended)."""
            return len(self._episodes)

    return _public(SpecInteraction)


_BUILDERS = {"EnvAgentLoop": _build_agent_loop, "SpecInteraction": _build_interaction}
_BUILT: dict[str, type] = {}


def __getattr__(name: str) -> type:
    # Built on first access (verl's config loader does ``getattr(module, "EnvAgentLoop")``), so that this module
    # imports without verl.
    if name not in _BUILDERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _BUILT:
        _BUILT[name] = _BUILDERS[name]()
    return _BUILT[name]
