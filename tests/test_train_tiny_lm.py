"""A tiny language model and tokenizer, and a tiny vision-language model (Qwen2-VL) and its processor, built here,
never downloaded, for the trainer tests; and the chat-template splicing that multi-turn rollouts rely on, checked
against real templates."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")  # the trl extra
torch = pytest.importorskip("torch")

from sftrl_train.chat import closing_text, render_prompt, reply_is_closed, turn_suffix  # noqa: E402

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LLAMA3 = ("<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
          "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
          "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")


def chatml_vl(picture: str) -> str:
    """ChatML for vision-language models (Qwen2-VL's template, reduced): string content or content parts, each
    picture written as ``picture`` (the placeholder the processor expands into image tokens)."""
    return ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
            "{% else %}{% for p in m['content'] %}{% if p['type'] == 'image' %}" + picture + "{% elif p['type'] == "
            "'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


CHATML_VL = chatml_vl("<|vision_start|><|image_pad|><|vision_end|>")
GEMMA = ("<bos>{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
         "{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n"
         "{% endif %}")
#: The chat templates the multi-turn adapters are tested with, and each one's end-of-turn token.
TEMPLATES = {"chatml": (CHATML, "<|im_end|>"), "llama3": (LLAMA3, "<|eot_id|>"), "gemma": (GEMMA, "<end_of_turn>")}
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>",
           "<|end_header_id|>", "<|eot_id|>", "<bos>", "<start_of_turn>", "<end_of_turn>"]
VISION_SPECIAL = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
# Pictures are resized to at most 56 x 56 pixels: 4 x 4 patches of 14 px, merged 2 x 2 into 4 image tokens.
TINY_VL_PIXELS = 56 * 56


def tiny_tokenizer(corpus: list[str], template: str = CHATML, eos: str = "<|im_end|>",
                   special: list[str] | None = None, padding_side: str = "right"):
    """A byte-level BPE tokenizer trained here on the prompts, with a chat template (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL + (special or []),
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token="<|endoftext|>",
                                   chat_template=template, padding_side=padding_side)


def tiny_vlm_processor(corpus: list[str]):
    """A Qwen2-VL processor assembled here: its PIL image processor with a tiny pixel budget and a tokenizer trained
    on ``corpus`` with the vision tokens, left-padded as TRL loads processors (no download)."""
    from transformers import ProcessorMixin, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    class ImageQwen2VLProcessor(Qwen2VLProcessor):
        """Qwen2-VL's processor without its video processor, whose class needs torchvision (not installed here);
        pictures and text are processed by Qwen2-VL's own code."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    tokenizer = tiny_tokenizer(corpus, CHATML_VL, special=VISION_SPECIAL, padding_side="left")
    images = Qwen2VLImageProcessorPil(min_pixels=TINY_VL_PIXELS, max_pixels=TINY_VL_PIXELS)
    return ImageQwen2VLProcessor(image_processor=images, tokenizer=tokenizer, chat_template=CHATML_VL)


def tiny_llava_processor(corpus: list[str]):
    """A LLaVA processor assembled here: CLIP's PIL image processor at 28 x 28 pixels (2 x 2 patches of 14 px: 4 image
    tokens) and a tokenizer trained on ``corpus`` with ``<image>``, left-padded (no download)."""
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    template = chatml_vl("<image>")
    tokenizer = tiny_tokenizer(corpus, template, special=["<image>"], padding_side="left")
    images = CLIPImageProcessorPil(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    return LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=14, chat_template=template,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1)


def tiny_model(tokenizer):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                         tie_word_embeddings=True)
    return Qwen2ForCausalLM(config)


def tiny_vlm(processor):
    """A Qwen2-VL model with random weights: a one-block vision tower and a two-layer text model, 32 wide."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    tokenizer = processor.tokenizer
    torch.manual_seed(0)
    ids = {name: tokenizer.convert_tokens_to_ids(f"<|{name}|>") for name in ("image_pad", "video_pad",
                                                                              "vision_start", "vision_end")}
    config = Qwen2VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
                     "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": None},
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=ids["image_pad"], video_token_id=ids["video_pad"], vision_start_token_id=ids["vision_start"],
        vision_end_token_id=ids["vision_end"], tie_word_embeddings=True)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def tiny_llava(processor):
    """A LLaVA model with random weights: a one-layer CLIP vision tower (CLS dropped) and a tiny Qwen2, 32 wide."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    tokenizer = processor.tokenizer
    torch.manual_seed(0)
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14},
        text_config={"model_type": "qwen2", "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 4096, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id, "bos_token_id": None},
        image_token_id=processor.image_token_id, vision_feature_layer=-1, vision_feature_select_strategy="default",
        tie_word_embeddings=True)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_turn_suffix_follows_the_template(name):
    template, eos = TEMPLATES[name]
    tokenizer = tiny_tokenizer(["hello world"], template, eos)
    prompt = [{"role": "user", "content": "Make 24."}]
    full = prompt + [{"role": "assistant", "content": "8*3"}, {"role": "user", "content": "Wrong."}]
    spliced = render_prompt(tokenizer, prompt) + "8*3" + eos + turn_suffix(tokenizer, "Wrong.", eos)
    assert spliced == render_prompt(tokenizer, full)
    cut = render_prompt(tokenizer, prompt) + "8*3" + turn_suffix(tokenizer, "Wrong.", None)
    assert cut == spliced  # a reply cut by the length limit gets the end-of-turn marker from the suffix
    messages = [{"role": "user", "content": "Wrong."}]  # the next turn given as messages (a session's next_messages)
    assert turn_suffix(tokenizer, messages, eos) == turn_suffix(tokenizer, "Wrong.", eos)
    assert closing_text(tokenizer).startswith(eos)
    ids = tokenizer.encode("8*3", add_special_tokens=False)
    assert not reply_is_closed(tokenizer, ids) and reply_is_closed(tokenizer, ids + tokenizer.encode(
        eos, add_special_tokens=False))


def test_turn_suffix_follows_a_processor_template():
    processor = tiny_vlm_processor(["hello world"])
    prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Make 24."}]}]
    full = prompt + [{"role": "assistant", "content": [{"type": "text", "text": "8*3"}]},
                     {"role": "user", "content": [{"type": "text", "text": "Wrong."}]}]
    spliced = render_prompt(processor, prompt) + "8*3<|im_end|>" + turn_suffix(processor, "Wrong.", "<|im_end|>")
    assert spliced == render_prompt(processor, full)
    assert "<|vision_start|><|image_pad|><|vision_end|>Make 24." in spliced  # the picture's place in the prompt


def test_turn_suffix_writes_a_next_turns_picture_placeholder():
    processor = tiny_vlm_processor(["hello world"])
    turn = [{"role": "user", "content": [{"type": "image", "image": object()}, {"type": "text", "text": "Next."}]}]
    suffix = turn_suffix(processor, turn, "<|im_end|>")
    assert suffix == "\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Next.<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(ValueError, match="processor"):
        turn_suffix(tiny_tokenizer(["hello world"]), turn, "<|im_end|>")
