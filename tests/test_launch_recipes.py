"""The launch recipes of examples/verl and examples/openrlhf, checked as far as a CPU allows, with the trainers'
own code.

For each setting (GeneralPoints and V-IRL, text and pictures) the data-prep script writes a few episodes, and the
launch script prints, in its dry mode, exactly the overrides or arguments it would launch with. Then:

* verl (its CI venv): the overrides compose with verl's packaged Hydra config (``ppo_trainer``) and pass
  ``verl.utils.config.validate_config`` (what ``main_ppo`` runs first) and verl's config dataclasses; the model config
  (``HFModelConfig``) loads a tiny local model folder given as ``MODEL``; ``RLHFDataset`` reads the Parquet files
  with the composed data config and drops no prompt; verl's own ``AgentLoopWorker``, built from the composed config,
  plays one batch through the suite's agent loop (found through the script's ``agent_loop_config_path``) against a
  scripted LLM server, its rewards scored by verl's own reward worker with the reward function the script names.
* OpenRLHF (the first venv): the arguments go through ``train_ppo_ray``'s own argument parser and checks (the
  ``__main__`` block of its file, run with ``train`` captured: the module itself imports vLLM, which a CPU machine
  lacks); ``blending_datasets`` and ``PromptDataset`` read the JSONL files as ``train_ppo_ray`` does; the agent file the
  script names is loaded as OpenRLHF loads it and plays one batch through ``MultiTurnAgentExecutor`` against a
  scripted engine; the same file as ``--reward.remote_url`` grades a batch through OpenRLHF's
  ``SingleTurnAgentExecutor``.

The tiny models are built here (tests/test_train_tiny_lm.py), never downloaded. What needs a GPU (vLLM, FSDP,
DeepSpeed, a real model) is not run; docs/launch.md says what a GPU run looks like.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sftrl_train import SpecEpisode

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"verl": ROOT / "examples" / "verl", "openrlhf": ROOT / "examples" / "openrlhf"}
SETTINGS = ("gp", "gp-vl", "virl", "virl-vl")
#: The reply a scripted policy gives when it errs (unparseable for both games).
WRONG = "no idea"
#: Per row of a batch, in order: right at once; wrong, then right; always wrong.
POLICIES = ("expert", "retry", "wrong")


def load_script(trainer: str, name: str) -> ModuleType:
    """An example script of ``examples/<trainer>/`` as a module."""
    path = RECIPES[trainer] / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{trainer}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def dry_run(trainer: str, setting: str, *extra: str, **env: str) -> list[str]:
    """The overrides (verl) or arguments (OpenRLHF) the launch script would run with, one per line."""
    environ = {**os.environ, "PYTHON": sys.executable, **env}
    done = subprocess.run(["bash", str(RECIPES[trainer] / "run_grpo.sh"), setting, "--dry-run", *extra],
                          env=environ, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def prepare(trainer: str, setting: str, out: Path) -> None:
    """Three training episodes (one per policy) and one validation episode per validation id."""
    assert load_script(trainer, "prepare_data").main([setting, "--out", str(out), "--train", "3", "--val", "1"]) == 0


def expert_reply(spec: Any) -> str:
    """The expert's reply to a GeneralPoints spec or a V-IRL route spec (at the point it stands at)."""
    game = json.loads(spec)["game"] if isinstance(spec, str) else spec["game"]
    if game == "GeneralPoints":
        from gpoints_env.specs import expert_reply as reply
    else:
        from virl_env.specs import expert_reply as reply
    return reply(spec)


class ExpertMirror:
    """Where the expert stands in an episode as it goes: a V-IRL route walked alongside by the game's own session
    (the right action changes from point to point), a GeneralPoints hand as it is (the right formula does not)."""

    def __init__(self, spec: str):
        self.spec, self.route = spec, None
        if json.loads(spec)["game"] == "V-IRL":
            from virl_env.session import RouteSession

            self.route = RouteSession(spec)

    def right(self) -> str:
        return expert_reply(self.spec if self.route is None else self.route.spec)

    def play(self, reply: str) -> None:
        if self.route is not None:
            self.route.step(reply)


def fingerprint(image: Any) -> np.ndarray:
    """A picture reduced to 16 x 16 grey levels: the same scene resized by a trainer stays closest to itself."""
    from PIL import Image

    if isinstance(image, str):
        image = Image.open(io.BytesIO(base64.b64decode(image.split(",", 1)[1])))
    elif isinstance(image, dict):
        image = Image.open(io.BytesIO(image["bytes"]))
    return np.asarray(image.convert("L").resize((16, 16)), dtype=float)


class ScriptedPlayer:
    """Plays every episode of a batch with its row's policy, mirroring each episode with :class:`SpecEpisode` to
    know the right reply and the return the trainer must report. A request is matched to its row by the row's first
    prompt text (text settings) or, when pictures come with it, by the nearest picture."""

    def __init__(self, texts: list[str], specs: list[str], pictures: list[Any] | None = None):
        self.texts, self.specs = texts, specs
        self.pictures = [fingerprint(p) for p in pictures] if pictures else None
        self.episodes = [SpecEpisode(spec) for spec in specs]
        self.experts = [ExpertMirror(spec) for spec in specs]
        self.calls = 0

    def row(self, prompt_text: str, images: list[Any] | None) -> int:
        if images and self.pictures:
            seen = fingerprint(images[0])
            return int(np.argmin([np.abs(seen - p).sum() for p in self.pictures]))
        matches = [i for i, text in enumerate(self.texts) if text in prompt_text]
        assert len(matches) == 1, f"{len(matches)} rows match the prompt"
        return matches[0]

    def reply(self, prompt_text: str, images: list[Any] | None = None) -> str:
        self.calls += 1
        index = self.row(prompt_text, images)
        episode = self.episodes[index]
        policy = POLICIES[index % len(POLICIES)]
        right = policy == "expert" or (policy == "retry" and episode.replies)
        text = self.experts[index].right() if right else WRONG
        episode.reply(text)
        self.experts[index].play(text)
        return text

    def check_outcomes(self, lengths: list[int], budget: int) -> None:
        """The expert's episode succeeded and the wrong one's failed; an episode that did not end used its token
        budget (a long V-IRL route played wrong, point after point, is cut there; OpenRLHF appends the last feedback
        past it and cuts the sequence later). ``lengths``: the tokens each episode took of ``budget``."""
        for index, (episode, length) in enumerate(zip(self.episodes, lengths)):
            policy = POLICIES[index % len(POLICIES)]
            assert episode.replies
            if not episode.done:
                assert length > 0.8 * budget, f"row {index} stopped at {length} of {budget} tokens, before its end"
            if policy == "expert":
                assert episode.done and episode.success, f"row {index}: the expert did not succeed"
            if policy == "wrong":
                assert not episode.success


def first_text(prompt: list[dict[str, Any]]) -> str:
    """The text of a row's first user turn (string content or content parts; verl's ``<image>`` removed)."""
    content = next(m["content"] for m in prompt if m["role"] == "user")
    if not isinstance(content, str):
        content = "".join(part.get("text") or "" for part in content)
    return content.replace("<image>", "")


# ---------------------------------------------------------------------------------------------------------------
# Both trainers, no trainer package needed


def test_scripts_are_valid_bash_and_refuse_unknown_settings():
    for trainer in RECIPES:
        script = RECIPES[trainer] / "run_grpo.sh"
        subprocess.run(["bash", "-n", str(script)], check=True)
        done = subprocess.run(["bash", str(script), "gp-xl", "--dry-run"], capture_output=True, text=True,
                              env={**os.environ, "PYTHON": sys.executable})
        assert done.returncode == 2 and "usage" in done.stderr


def test_both_recipes_train_on_the_same_settings():
    verl_settings = load_script("verl", "prepare_data").SETTINGS
    openrlhf_settings = load_script("openrlhf", "prepare_data").SETTINGS
    assert sorted(verl_settings) == sorted(openrlhf_settings) == sorted(SETTINGS)
    for name in SETTINGS:
        assert vars(verl_settings[name]) == vars(openrlhf_settings[name])


def test_dry_runs_put_extra_arguments_last_and_name_the_suite_files(tmp_path):
    from sftrl_train.verl import agent_loop_config_path

    overrides = dry_run("verl", "gp", "trainer.total_training_steps=2", DATA_DIR=str(tmp_path))
    assert overrides[-1] == "trainer.total_training_steps=2"
    assert f"actor_rollout_ref.rollout.agent.agent_loop_config_path={agent_loop_config_path()}" in overrides
    assert f"data.train_files={tmp_path}/train.parquet" in overrides
    arguments = dry_run("openrlhf", "gp", "--train.seed", "3", DATA_DIR=str(tmp_path))
    assert arguments[-2:] == ["--train.seed", "3"]
    agent = arguments[arguments.index("--train.agent_func_path") + 1]
    assert Path(agent).name == "openrlhf.py" and Path(agent).parent.name == "sftrl_train"


# ---------------------------------------------------------------------------------------------------------------
# Tiny local models, given to the scripts as MODEL


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    """A tiny Qwen2 model folder (weights, config, a tokenizer trained on both games' prompts, ChatML)."""
    pytest.importorskip("transformers")
    from test_train_tiny_lm import tiny_model, tiny_tokenizer

    from sftrl_train.datasets import rl_rows

    corpus = [first_text(row["prompt"]) for env_id in ("GeneralPoints-v0", "VIRL-v0")
              for row in rl_rows(env_id, 3, seed=0)]
    tokenizer = tiny_tokenizer(corpus + [WRONG, "[Feedback]"])
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    tiny_model(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, tokenizer


@pytest.fixture(scope="module")
def vision_model(tmp_path_factory):
    """A tiny Qwen2-VL model folder and its processor. AutoProcessor cannot build it here (Qwen2-VL's video processor
    needs torchvision, which this venv lacks), so the tests hand the processor to the trainers' loaders."""
    pytest.importorskip("transformers")
    from test_train_tiny_lm import tiny_vlm, tiny_vlm_processor

    from sftrl_train.datasets import rl_rows

    corpus = [first_text(row["prompt"]) for env_id in ("GeneralPoints-VL-v0", "VIRL-VL-v0")
              for row in rl_rows(env_id, 1, seed=0)]
    processor = tiny_vlm_processor(corpus + [WRONG, "[Feedback]", "forward() turn_direction stop()"])
    # verl binds the model's rope index to the processor by its class name, as for a real Qwen2-VL processor.
    processor.__class__ = type("Qwen2VLProcessor", (type(processor),), {})
    folder = tmp_path_factory.mktemp("tiny-qwen2-vl")
    tiny_vlm(processor).save_pretrained(folder)
    processor.tokenizer.save_pretrained(folder)
    return folder, processor


@pytest.fixture
def model_for(request, monkeypatch):
    """``model_for(setting)``: the tiny model folder for a setting, and its tokenizer or processor (AutoProcessor
    returns the processor built here)."""

    def pick(setting: str):
        if setting.endswith("-vl"):
            folder, processor = request.getfixturevalue("vision_model")
            import transformers

            monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained",
                                classmethod(lambda cls, *args, **kwargs: processor))
            return folder, processor
        return request.getfixturevalue("text_model")

    return pick


# ---------------------------------------------------------------------------------------------------------------
# verl (its CI venv: pip install ".[verl]")


@pytest.fixture
def vision_info(monkeypatch):
    """verl reads pictures out of chat messages with ``qwen_vl_utils.process_vision_info``, which needs torchvision
    (a GPU install has both; this venv has neither). Where it is missing, a stand-in hands the pictures through
    unchanged, in message order; the processor then sizes them as it would."""
    try:
        import qwen_vl_utils  # noqa: F401
    except ImportError:
        def process_vision_info(messages, image_patch_size=14, return_video_metadata=False, **kwargs):
            images = [part["image"].convert("RGB") for message in messages if isinstance(message["content"], list)
                      for part in message["content"] if isinstance(part, dict) and part.get("type") == "image"]
            return images or None, None

        monkeypatch.setitem(sys.modules, "qwen_vl_utils",
                            SimpleNamespace(process_vision_info=process_vision_info, __name__="qwen_vl_utils"))


def compose_verl(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    import verl

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


class ScriptedServer:
    """verl's LLM server client: ``generate`` returns the scripted player's reply as token ids with log-probs."""

    def __init__(self, tokenizer, player: ScriptedPlayer):
        self.tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor's own tokenizer
        self.player = player

    async def generate(self, *, request_id, prompt_ids, sampling_params, image_data=None, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        text = self.player.reply(self.tokenizer.decode(prompt_ids), image_data)
        ids = self.tokenizer.encode(text + "<|im_end|>", add_special_tokens=False)
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))


@pytest.mark.parametrize("setting", SETTINGS)
def test_verl_recipe(setting, tmp_path, model_for, vision_info):
    pytest.importorskip("verl.experimental.agent_loop.agent_loop")
    from verl import DataProto
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.experimental.reward_loop import RewardLoopWorker
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    folder, _ = model_for(setting)
    prepare("verl", setting, tmp_path)
    config = compose_verl(dry_run("verl", setting, MODEL=str(folder), DATA_DIR=str(tmp_path), OUT=str(tmp_path)))

    # What main_ppo checks before it starts Ray, and the dataclasses the workers build from the same sections.
    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    assert not need_critic(config) and config.algorithm.adv_estimator == "grpo"
    for section in (config.algorithm, config.actor_rollout_ref.rollout, config.actor_rollout_ref.rollout.agent,
                    config.actor_rollout_ref.rollout.checkpoint_engine):
        omega_conf_to_dataclass(section)
    model = omega_conf_to_dataclass(config.actor_rollout_ref.model)
    assert (model.processor is not None) == setting.endswith("-vl")

    # The Parquet files, read by verl's dataset with the composed data config: no prompt is over the length limit.
    datasets = {split: RLHFDataset(config.data[f"{split}_files"], model.tokenizer, config.data, model.processor)
                for split in ("train", "val")}
    setting_info = load_script("verl", "prepare_data").SETTINGS[setting]
    assert len(datasets["train"]) == 3 and len(datasets["val"]) == len(setting_info.val_ids)
    items = [datasets["train"][i] for i in range(3)]
    assert {item["agent_name"] for item in items} == {"sftrl_env"}

    # One batch through verl's own agent loop worker, which loads the loop from the script's config file.
    frame = datasets["train"].dataframe
    player = ScriptedPlayer([first_text(p) for p in frame["prompt"]],
                            [r["ground_truth"] for r in frame["reward_model"]],
                            [row[0] for row in frame["images"]] if "images" in frame.column_names else None)
    # verl's reward worker, as the trainer starts it (without Ray, in the rollout's event loop): it loads the script's
    # reward function and scores each finished episode the agent loop hands it.
    async def rollout():
        rewards = RewardLoopWorker(config, reward_router_address=None)
        handle = SimpleNamespace(compute_score=SimpleNamespace(remote=rewards.compute_score))
        worker = AgentLoopWorker(config, ScriptedServer(model.tokenizer, player), reward_loop_worker_handles=[handle])
        return await worker.generate_sequences(DataProto.from_single_dict(collate_fn(items)))

    output = asyncio.run(rollout())
    response_length = config.data.max_response_length
    player.check_outcomes(output.batch["attention_mask"][:, -response_length:].sum(-1).tolist(), response_length)
    returns = output.batch["rm_scores"].sum(-1).tolist()
    assert returns == [episode.total_reward for episode in player.episodes]
    assert output.non_tensor_batch["acc"].tolist() == [float(episode.success) for episode in player.episodes]
    turns = output.batch["response_mask"].sum(-1)
    assert (turns > 0).all() and output.batch["responses"].shape[-1] == config.data.max_response_length

    # The same function, through verl's loader, on a single reply (a single_turn_agent row).
    compute_score = get_custom_reward_fn(config)
    spec = items[0]["reward_model"]["ground_truth"]
    score = compute_score(items[0]["data_source"], expert_reply(spec), spec, {})
    assert score["score"] == SpecEpisode(spec).reply(expert_reply(spec)).reward


# ---------------------------------------------------------------------------------------------------------------
# OpenRLHF (the first venv: OpenRLHF installed without its GPU dependencies)


def parse_openrlhf(arguments: list[str]) -> SimpleNamespace:
    """``train_ppo_ray``'s own parser and checks on ``arguments``: the ``__main__`` block of the installed file, run
    with its module's imports that load here and ``train`` replaced by a function that keeps the parsed arguments."""
    path = importlib.util.find_spec("openrlhf.cli.train_ppo_ray").origin
    tree = ast.parse(Path(path).read_text(), path)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            try:
                exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)
            except ImportError:
                pass  # vLLM and the GPU launchers: only train() uses them
    main = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
    assert len(main) == 1, "train_ppo_ray.py has no single __main__ block"
    parsed: list[SimpleNamespace] = []
    namespace["train"] = parsed.append
    argv = sys.argv
    sys.argv = [path, *arguments]
    try:
        exec(compile(ast.Module(body=main[0].body, type_ignores=[]), path, "exec"), namespace)
    finally:
        sys.argv = argv
    assert len(parsed) == 1, "train_ppo_ray's checks did not reach train()"
    return parsed[0]


class ScriptedEngine:
    """vLLM's ``generate`` call shape as OpenRLHF's executors use it; replies from the scripted player."""

    def __init__(self, tokenizer, player: ScriptedPlayer):
        self.tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor's own tokenizer
        self.player = player

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        images = (multi_modal_data or {}).get("image")
        text = self.player.reply(self.tokenizer.decode(prompt_token_ids), images) + "<|im_end|>"
        ids = self.tokenizer.encode(text, add_special_tokens=False)[: sampling_params.max_tokens]
        reply = self.tokenizer.decode(ids, skip_special_tokens=True)
        output = SimpleNamespace(token_ids=ids, text=reply, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[output])


@pytest.mark.parametrize("setting", SETTINGS)
def test_openrlhf_recipe(setting, tmp_path, model_for):
    pytest.importorskip("openrlhf.utils.agent")
    pytest.importorskip("torch")
    from openrlhf.datasets import PromptDataset
    from openrlhf.datasets.utils import blending_datasets
    from openrlhf.utils.agent import AgentExecutorBase, SingleTurnAgentExecutor
    from openrlhf.utils.utils import get_tokenizer

    folder, _ = model_for(setting)
    prepare("openrlhf", setting, tmp_path)
    args = parse_openrlhf(dry_run("openrlhf", setting, MODEL=str(folder), DATA_DIR=str(tmp_path),
                                  OUT=str(tmp_path)))
    assert args.algo.advantage.estimator == "group_norm" and args.critic.model_name_or_path is None
    assert args.reward.remote_url == ["agent"]  # what train_ppo_ray sets when an agent file is given
    assert (args.data.max_images_per_prompt > 0) == setting.endswith("-vl")

    # The data as train_ppo_ray's prepare_datasets reads it, with the tokenizer (or processor) it loads.
    strategy = SimpleNamespace(args=args, print=lambda *a, **k: None, is_rank_0=lambda: True)
    tokenizer = get_tokenizer(args.actor.model_name_or_path, None, "left", strategy)
    data = {}
    for split, path in (("train", args.data.prompt_dataset), ("val", args.eval.dataset)):
        rows = blending_datasets(path, args.data.prompt_probs if split == "train" else None, strategy,
                                 args.train.seed, max_count=args.data.max_samples, dataset_split=args.data.prompt_split)
        data[split] = PromptDataset(rows, tokenizer, strategy, input_template=args.data.input_template)
    setting_info = load_script("openrlhf", "prepare_data").SETTINGS[setting]
    assert len(data["train"]) == 3 and len(data["val"]) == len(setting_info.val_ids)
    assert sorted(set(data["val"].datasources)) == sorted(setting_info.val_ids)
    batch = [data["train"][i] for i in range(3)]
    _, prompts, labels, images = data["train"].collate_fn(batch)

    lines = [json.loads(line) for line in Path(args.data.prompt_dataset).read_text().splitlines()]
    key = args.data.image_key
    pictures = [row[key][0] for row in lines] if args.data.max_images_per_prompt else None
    player = ScriptedPlayer([first_text(row["prompt"]) for row in lines], labels, pictures)

    # The agent file, loaded as OpenRLHF's vLLM engine loads --train.agent_func_path, plays one batch.
    spec = importlib.util.spec_from_file_location("agent_module", args.train.agent_func_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    executor = module.AgentExecutor()
    assert isinstance(executor, AgentExecutorBase)
    engine = ScriptedEngine(tokenizer, player)

    async def play():
        return await asyncio.gather(*(
            executor.execute(prompt, label, SimpleNamespace(max_tokens=None, logprobs=None), args.data.max_len,
                             tokenizer, engine, images=image)
            for prompt, label, image in zip(prompts, labels, images)))

    results = asyncio.run(play())
    player.check_outcomes([len(r["observation_tokens"]) for r in results], args.data.max_len)
    low, high = args.reward.clip_range
    for result, episode in zip(results, player.episodes):
        assert result["reward"] == episode.total_reward and low < result["reward"] < high
        assert float(result["scores"]) == float(episode.success)
        assert len(result["action_ranges"]) == len(episode.replies)

    # The same file as --reward.remote_url: OpenRLHF's single-turn executor loads its reward_func.
    single = SingleTurnAgentExecutor(remote_rm_url=[args.train.agent_func_path])
    player = ScriptedPlayer(player.texts, player.specs, pictures)
    outputs = asyncio.run(single.execute(prompts[0], labels[0], SimpleNamespace(max_tokens=None, logprobs=None),
                                         args.data.max_len, tokenizer, ScriptedEngine(tokenizer, player),
                                         images=images[0][:1] if images[0] else None))
    assert outputs["reward"] == player.episodes[0].total_reward and float(outputs["scores"]) == 1.0
