"""verl glue: parquet rows in verl's layout, a reward function, a multi-turn agent loop and an interaction.

* :func:`verl_rows` turns :mod:`sftrl_train.datasets` rows into verl's layout (``data_source``, ``prompt`` with
  ``<image>`` placeholders, ``reward_model.ground_truth`` = the spec's JSON text, ``extra_info``, ``agent_name``,
  ``images``); write them with :func:`sftrl_train.datasets.write_parquet`.
* Single turn: ``reward.custom_reward_function.path=<sftrl_train/rewards.py>`` and
  ``reward.custom_reward_function.name=verl_compute_score`` (:func:`sftrl_train.rewards.verl_compute_score`).
* Multi-turn, verl >= 0.9 (agent loops): ``actor_rollout_ref.rollout.agent.agent_loop_config_path=`` the path
  :func:`agent_loop_config_path` returns; rows name the loop in their ``agent_name`` column (``"sftrl_env"``).
  :class:`EnvAgentLoop` generates, grades each raw reply from the row's spec, splices the env's feedback in as a
  user turn through verl's own token builder, and returns the episode's return as ``reward_score`` (and success
  as ``acc`` in ``reward_extra_info``).
* Multi-turn, older verl (interactions): ``interaction_config_path=`` the path :func:`interaction_config_path`
  returns; :class:`SpecInteraction` reads ``extra_info.interaction_kwargs`` (set by :func:`verl_rows`).

``EnvAgentLoop`` and ``SpecInteraction`` subclass verl's own classes, so they are built on first access and need
verl installed (``pip install "sft-rl-generalization-envs[verl]"``); everything else imports without verl.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import uuid4

from .datasets import require
from .episodes import SpecEpisode

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
        ``point``, ``index``, ``interaction_kwargs``), ``agent_name`` and, in image mode, ``images``.
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


def _build_agent_loop() -> type:
    agent_loop = require("verl.experimental.agent_loop.agent_loop", "verl", "EnvAgentLoop")

    class EnvAgentLoop(agent_loop.AgentLoopBase):
        """verl agent loop that plays the row's episode through the env's attempts and feedback."""

        async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
            messages = list(kwargs["raw_prompt"])
            episode = SpecEpisode(_row_spec(kwargs))
            multi_modal_data = await self.process_multi_modal_info(messages)
            images = multi_modal_data.get("images")
            self._assert_mm_supported(bool(multi_modal_data))
            runtime_ids = await self.ct_build_initial_tokens(messages, images=images)
            response_limit = self.rollout_config.response_length
            mask: list[int] = []
            logprobs: list[float] = []  # stays empty when the server reports none
            metrics: dict[str, Any] = {}
            while True:
                output = await self.server_manager.generate(request_id=uuid4().hex, prompt_ids=runtime_ids,
                                                            sampling_params=sampling_params, image_data=images)
                merged, mask, merged_logprobs = await self.ct_merge_assistant_token(
                    runtime_ids, output.token_ids, mask, logprobs if (logprobs or output.log_probs) else None,
                    assistant_logprobs=output.log_probs or None)
                runtime_ids, logprobs = merged.token_ids, merged_logprobs or []
                reply = self.tokenizer.decode(output.token_ids, skip_special_tokens=True)
                step = episode.reply(reply)
                if step.terminated or len(mask) >= response_limit:
                    break
                # As verl's tool loop does: the reply is already in the runtime tokens, so it belongs to the
                # messages the builder compares against; only the feedback turn is new context.
                messages.append({"role": "assistant", "content": reply})
                previous = list(messages)
                messages.append({"role": "user", "content": step.message})
                merged, new_mask, merged_logprobs = await self.ct_merge_context_msg(
                    previous, messages, runtime_ids, mask, logprobs or None)
                if len(new_mask) >= response_limit:
                    break
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
                multi_modal_data=multi_modal_data,
                reward_score=episode.total_reward,
                num_turns=2 * len(episode.replies),
                metrics=metrics,
                extra_fields={"turn_scores": [g.reward for g in episode.grades], "tool_rewards": [],
                              "reward_extra_info": {"acc": float(episode.success)}},
            )

    return agent_loop.register(AGENT_NAME)(_public(EnvAgentLoop))


def _build_interaction() -> type:
    base = require("verl.interactions.base", "verl", "SpecInteraction")

    class SpecInteraction(base.BaseInteraction):
        """verl interaction (verl before agent loops): each assistant turn is graded from the spec in
        ``interaction_kwargs``; the env's feedback is the next user turn until the episode ends."""

        def __init__(self, config: dict[str, Any]):
            super().__init__(config)
            self._episodes: dict[str, SpecEpisode] = {}

        async def start_interaction(self, instance_id: str | None = None, spec: Any = None, **kwargs: Any) -> str:
            if spec is None:
                raise ValueError("interaction_kwargs must carry the row's 'spec' (build rows with verl_rows)")
            instance_id = instance_id or uuid4().hex
            self._episodes[instance_id] = SpecEpisode(spec)
            return instance_id

        async def generate_response(self, instance_id: str, messages: list[dict[str, Any]],
                                    **kwargs: Any) -> tuple[bool, str, float, dict[str, Any]]:
            reply = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "assistant"), "")
            step = self._episodes[instance_id].reply(_verl_content(reply))
            details = {"verdict": str(step.grade.verdict), "success": step.grade.success}
            return step.terminated, step.message, float(step.grade.reward), details

        async def calculate_score(self, instance_id: str | None = None, **kwargs: Any) -> float:
            episode = self._episodes.get(instance_id) if instance_id is not None else None
            return episode.total_reward if episode is not None else 0.0

        async def finalize_interaction(self, instance_id: str | None = None, **kwargs: Any) -> None:
            if instance_id is not None:
                self._episodes.pop(instance_id, None)

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
