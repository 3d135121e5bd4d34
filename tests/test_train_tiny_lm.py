"""A tiny language model and tokenizer built here, never downloaded, for the trainer tests; and the chat-template
splicing that multi-turn rollouts rely on, checked against real templates."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")  # the trl extra
torch = pytest.importorskip("torch")

from sftrl_train.chat import render_prompt, turn_suffix  # noqa: E402

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LLAMA3 = ("<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
          "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
          "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>",
           "<|end_header_id|>", "<|eot_id|>"]


def tiny_tokenizer(corpus: list[str], template: str = CHATML, eos: str = "<|im_end|>"):
    """A byte-level BPE tokenizer trained here on the prompts, with a chat template (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token="<|endoftext|>",
                                   chat_template=template)


def tiny_model(tokenizer):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                         tie_word_embeddings=True)
    return Qwen2ForCausalLM(config)


@pytest.mark.parametrize("template, eos", [(CHATML, "<|im_end|>"), (LLAMA3, "<|eot_id|>")])
def test_turn_suffix_follows_the_template(template, eos):
    tokenizer = tiny_tokenizer(["hello world"], template, eos)
    prompt = [{"role": "user", "content": "Make 24."}]
    full = prompt + [{"role": "assistant", "content": "8*3"}, {"role": "user", "content": "Wrong."}]
    spliced = render_prompt(tokenizer, prompt) + "8*3" + eos + turn_suffix(tokenizer, "Wrong.", eos)
    assert spliced == render_prompt(tokenizer, full)
    cut = render_prompt(tokenizer, prompt) + "8*3" + turn_suffix(tokenizer, "Wrong.", None)
    assert cut == spliced  # a reply cut by the length limit gets the end-of-turn marker from the suffix
