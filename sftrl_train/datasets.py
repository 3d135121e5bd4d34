"""Datasets for trainers: seeded episodes of any id as rows of chat prompts and JSON episode specs.

One row per episode for GeneralPoints. For V-IRL, one row per rail point (per-step rows, the default) or, with
``whole_routes=True``, one row per route (whole-route rows, for multi-turn trainers that walk the route on-policy).
Every row has:

* ``prompt``: the chat messages the env shows at that point (``info["messages"]``; a whole-route row: at reset). In
  image mode the first user turn's content is a list of parts, ``[{"type": "image"}, {"type": "text", "text": ...}]``,
  and the ``images`` column holds the picture (a ``PIL.Image``), as TRL's vision-language trainers expect.
* ``spec``: the episode spec as JSON text (a whole-route row: the route spec); :mod:`sftrl_train.rewards` grades
  completions from it alone and :class:`~sftrl_train.episodes.EpisodeSession` plays the whole episode from it.
* ``ground_truth`` (verl's reward column) and ``label`` (OpenRLHF's): the same JSON text, under the names those
  trainers pass to their reward functions. One string column, so every row has one column type.
* ``env_id``, ``seed`` (the ``reset`` seed of the episode) and ``point`` (the point's index in the episode; 0 for a
  whole episode).
* whole-route image rows only: ``point_images``, the street views of every rail point in rail order (the session
  shows each when the walk reaches it; ``images`` holds the first, the prompt's).

:func:`sft_rows` adds ``completion`` (the expert's reply as one assistant message, in the answer format the prompt
asks for; a whole-route row: the expert's walk, every reply and every next prompt) and ``messages`` (prompt +
completion). Per-point V-IRL rows after the first point of a route carry the history an expert would have produced
(every earlier action correct): they are off-policy for a model that errs, which whole-route rows are not.

>>> rows = rl_rows("GeneralPoints-v0", 2, seed=0)
>>> rows[0]["prompt"][0]["role"], rows[0]["env_id"], rows[0]["seed"], rows[1]["seed"]
('user', 'GeneralPoints-v0', 0, 1)
>>> routes = rl_rows("VIRL-v0", 2, seed=0, whole_routes=True)
>>> len(routes), [r["point"] for r in routes], "rail" in routes[0]["spec"]
(2, [0, 0], True)
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sftrl_core.specs import dump_spec

from ._games import bare_id, specs_module_for_id

__all__ = ["rl_rows", "sft_rows", "write_jsonl", "write_parquet", "to_hf_dataset", "image_to_png", "require"]


def require(module: str, extra: str, what: str) -> Any:
    """Import an optional dependency, or fail with the command that installs it.

    Raises:
        ImportError: naming the extra (``pip install "sft-rl-generalization-envs[EXTRA]"``).
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{what} needs the {module!r} package: pip install \"sft-rl-generalization-envs[{extra}]\"") \
            from error


def _parts(content: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}]


def _prompt_messages(obs: Any, info: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """The chat prompt at a point and, in image mode, the picture as a one-item list. In image mode every
    message's content is a list of parts (one column type), the picture first in the first user turn."""
    text = obs["text"] if isinstance(obs, dict) else obs
    messages = [dict(m) for m in info.get("messages") or [{"role": "user", "content": text}]]
    if not isinstance(obs, dict):
        return messages, None
    from PIL import Image  # a dependency of the suite

    messages = [{"role": m["role"], "content": _parts(m["content"])} for m in messages]
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    messages[first_user]["content"].insert(0, {"type": "image"})
    return messages, [Image.fromarray(np.asarray(obs["image"]))]


def _points(env_id: str, num: int, seed: int, env_kwargs: dict[str, Any],
            whole_routes: bool) -> Iterator[dict[str, Any]]:
    """Rows for ``num`` seeded episodes: each point of each episode, reached by playing the expert's replies, or
    (``whole_routes``) each episode's start, with the pictures of the points the expert walks through."""
    specs = specs_module_for_id(env_id)
    per_point = getattr(specs, "point_spec", None)
    whole_routes = whole_routes and per_point is not None  # a GeneralPoints row is a whole episode already
    per_point = per_point or specs.episode_spec
    env = gym.make(bare_id(env_id), **env_kwargs)
    try:
        for episode in range(num):
            obs, info = env.reset(seed=seed + episode)
            start: dict[str, Any] | None = None
            pictures: list[Any] = []
            for point in range(1_000_000):
                if whole_routes:
                    if start is None:
                        start = _row(env_id, seed + episode, 0, obs, info, specs.episode_spec(env), specs)
                    index = getattr(env.unwrapped, "point_index", 0)
                    if isinstance(obs, dict) and len(pictures) == index:
                        pictures.append(_pil(obs["image"]))
                    expert = specs.expert_reply(specs.episode_spec(env))
                else:
                    row = _row(env_id, seed + episode, point, obs, info, per_point(env), specs)
                    expert = row["expert"]
                    yield row
                obs, _, terminated, truncated, info = env.step(expert)
                if terminated or truncated:
                    break
            if start is not None:
                if pictures:
                    start["point_images"] = pictures
                yield start
    finally:
        env.close()


def _pil(image: Any) -> Any:
    from PIL import Image  # a dependency of the suite

    return Image.fromarray(np.asarray(image))


def _row(env_id: str, seed: int, point: int, obs: Any, info: dict[str, Any], spec: dict[str, Any],
         specs: Any) -> dict[str, Any]:
    prompt, images = _prompt_messages(obs, info)
    text = dump_spec(spec)
    row = {"prompt": prompt, "spec": text, "ground_truth": text, "label": text, "env_id": bare_id(env_id),
           "seed": seed, "point": point, "expert": specs.expert_reply(spec)}
    if images is not None:
        row["images"] = images
    return row


def _check_count(num: int, seed: int) -> None:
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise ValueError(f"num must be a non-negative number of episodes, got {num!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def rl_rows(env_id: str, num: int, *, seed: int = 0, whole_routes: bool = False,
            **env_kwargs: Any) -> list[dict[str, Any]]:
    """Rows for RL trainers: ``num`` episodes of ``env_id`` reset with seeds ``seed, seed + 1, ...``.

    Args:
        env_id: a registered id of either game (``"GeneralPoints-v0"``, ``"VIRL-VL-v0"``...), with or without the
            ``module:`` prefix.
        num: the number of episodes (V-IRL: routes).
        seed: the first episode's seed.
        whole_routes: V-IRL: one row per route (its start and route spec) instead of one per rail point, for
            multi-turn trainers that walk the whole route; GeneralPoints rows are whole episodes either way.
        **env_kwargs: passed to ``gym.make`` (e.g. ``rewards="binary"``, ``max_attempts=1``).

    Returns:
        A list of row dicts (see the module docstring).

    Raises:
        ValueError: for an unknown id or a bad ``num``/``seed``.
    """
    _check_count(num, seed)
    rows = list(_points(env_id, num, seed, env_kwargs, whole_routes))
    for row in rows:
        del row["expert"]
    return rows


def sft_rows(env_id: str, num: int, *, seed: int = 0, whole_routes: bool = False,
             **env_kwargs: Any) -> list[dict[str, Any]]:
    """Rows for supervised fine-tuning: :func:`rl_rows` plus ``completion`` and ``messages`` (prompt + completion).

    ``completion`` is the expert's reply as one assistant message, in the answer format the prompt asks for; for a
    whole-route row (``whole_routes=True``) it is the expert's walk of the route: each reply and, between them, the
    next prompt as a user turn (the turns an :class:`~sftrl_train.episodes.EpisodeSession` adds); in image mode its
    ``images`` then hold every point's picture, in the order the conversation shows them.
    """
    _check_count(num, seed)
    rows = list(_points(env_id, num, seed, env_kwargs, whole_routes))
    for row in rows:
        reply = row.pop("expert")
        image = "images" in row
        if whole_routes and '"rail":' in row["spec"]:
            from .episodes import EpisodeSession

            session = EpisodeSession(row["spec"], images=row.get("point_images"))
            while not session.done:
                session.reply(session.expert_reply())
            completion = [_stored(m) for m in session.transcript[len(row["prompt"]):]]
            if completion and completion[-1]["role"] == "user":
                completion = completion[:-1]  # the closing feedback: nothing to learn after the last reply
            if image:  # the expert walks every point: the conversation shows every point's picture, in order
                row["images"] = list(row["point_images"])
        else:
            completion = [{"role": "assistant", "content": _parts(reply) if image else reply}]
        row["completion"] = completion
        row["messages"] = row["prompt"] + completion
    return rows


def _stored(message: dict[str, Any]) -> dict[str, Any]:
    """A session message as dataset rows store it: pictures as bare ``{"type": "image"}`` placeholders."""
    content = message["content"]
    if isinstance(content, list):
        content = [{"type": "image"} if part["type"] == "image" else part for part in content]
    return {"role": message["role"], "content": content}


#: The columns that hold pictures: the prompt's, and a whole image route's every point's.
_PICTURE_COLUMNS = ("images", "point_images")


def image_to_png(image: Any) -> bytes:
    """PNG bytes of a ``PIL.Image`` or an HWC ``uint8`` array."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_jsonl(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as JSON Lines, one row per line. Pictures (``images``, ``point_images``) become
    ``data:image/png;base64,...`` strings, which OpenRLHF reads as images.

    Returns:
        The path written.
    """
    path = Path(path)
    with path.open("w", encoding="utf-8") as stream:
        for row in rows:
            row = {**row, **{key: ["data:image/png;base64," + base64.b64encode(image_to_png(im)).decode("ascii")
                                   for im in row[key]] for key in _PICTURE_COLUMNS if key in row}}
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_parquet(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as a Parquet file (needs ``pyarrow``; the ``verl`` and ``trl`` extras bring it).

    Pictures are stored as ``{"bytes": PNG, "path": None}`` structs, the layout of a ``datasets.Image`` column and
    what verl's dataset reads; when ``datasets`` is installed the file also carries its features, so
    ``datasets.load_dataset("parquet", ...)`` gives the pictures back as ``PIL`` images.

    Returns:
        The path written.

    Raises:
        ImportError: ``pyarrow`` is missing.
    """
    path = Path(path)
    try:
        import datasets  # noqa: F401
    except ImportError:
        pa = require("pyarrow", "trl", "write_parquet")
        import pyarrow.parquet as pq

        stored = [{**row, **{key: [{"bytes": image_to_png(im), "path": None} for im in row[key]]
                             for key in _PICTURE_COLUMNS if key in row}} for row in rows]
        pq.write_table(pa.Table.from_pylist(stored), path)
        return path
    to_hf_dataset(rows).to_parquet(str(path))
    return path


def to_hf_dataset(rows: Sequence[dict[str, Any]]) -> Any:
    """The rows as a ``datasets.Dataset`` (pictures as an ``Image`` feature).

    Raises:
        ImportError: naming the extra to install when ``datasets`` is missing.
    """
    datasets = require("datasets", "trl", "to_hf_dataset")
    return datasets.Dataset.from_list(list(rows))
