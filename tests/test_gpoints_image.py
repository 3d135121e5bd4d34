"""Image mode: observations, recognition of the reported cards, and visual variants."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from gpoints_env import (
    ID_RULES,
    RULE_OOD_RULES,
    CardColours,
    DealSuits,
    GaussianBlur,
    GeneralPointsEnv,
    ImageNoise,
    Jitter,
    Resolution,
    StyleWrapper,
    SuitColours,
    Verdict,
    grade_reply,
)
from gpoints_env.recognition import cards_match, read_reported_cards

IMAGE_IDS = ["GeneralPoints-VL-v0", "GeneralPoints-VL-RuleOOD-v0", "GeneralPoints-VL-VisualOOD-v0"]


def red_pixels(image: np.ndarray) -> int:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return int(((r > 150) & (g < 90) & (b < 90)).sum())


def dark_pixels(image: np.ndarray) -> int:
    return int((image.max(axis=-1) < 60).sum())


@pytest.mark.parametrize("env_id", IMAGE_IDS)
def test_image_observation(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    obs, info = env.reset(seed=0)
    assert set(obs) == {"image", "text"} and env.observation_space.contains(obs)
    assert obs["image"].shape == (512, 512, 3) and obs["image"].dtype == np.uint8
    assert np.array_equal(env.render(), obs["image"])
    text = obs["text"]
    assert "shown in the image" in text and '"cards"' in text
    assert ", ".join(info["cards"]) not in text  # the prompt must not give the cards away
    obs2, *_ = env.step("1+1")
    assert np.array_equal(obs2["image"], obs["image"]) and obs2["image"] is not obs["image"]


@pytest.mark.parametrize("env_id", IMAGE_IDS)
def test_images_are_deterministic_per_seed(env_id):
    a = gym.make(env_id).reset(seed=7)[0]["image"]
    b = gym.make(env_id).reset(seed=7)[0]["image"]
    c = gym.make(env_id).reset(seed=8)[0]["image"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_paper_resolution():
    env = gym.make("GeneralPoints-VL-v0", resolution=1200)
    assert env.observation_space["image"].shape == (1200, 1200, 3)
    assert env.reset(seed=0)[0]["image"].shape == (1200, 1200, 3)
    wrapped = Resolution(gym.make("GeneralPoints-VL-v0"), 256)
    assert wrapped.observation_space["image"].shape == (256, 256, 3)
    obs, _ = wrapped.reset(seed=0)
    assert obs["image"].shape == (256, 256, 3) and wrapped.observation_space.contains(obs)
    assert gym.make(wrapped.spec).observation_space["image"].shape == (256, 256, 3)


def test_suit_colours_of_the_paper_settings():
    """ID deals black suits, visual OOD red ones: same seeds give the same ranks, but the ink differs."""
    black_env, red_env = gym.make("GeneralPoints-VL-v0"), gym.make("GeneralPoints-VL-VisualOOD-v0")
    for seed in range(10):
        black, bi = black_env.reset(seed=seed)
        red, ri = red_env.reset(seed=seed)
        assert set(bi["suits"]) <= {"spades", "clubs"} and set(ri["suits"]) <= {"hearts", "diamonds"}
        assert bi["cards"] == ri["cards"]
        assert red_pixels(red["image"]) > 1500 and red_pixels(black["image"]) < 100
        assert dark_pixels(black["image"]) > 1500 and dark_pixels(red["image"]) < dark_pixels(black["image"]) / 4


def test_visual_ood_equals_dealing_red_suits_in_the_id_env():
    wrapped = DealSuits(gym.make("GeneralPoints-VL-v0"), "red")
    plain = gym.make("GeneralPoints-VL-VisualOOD-v0")
    for seed in range(5):
        a, b = wrapped.reset(seed=seed)[0], plain.reset(seed=seed)[0]
        assert np.array_equal(a["image"], b["image"]) and a["text"] == b["text"]
    with pytest.raises(ValueError):
        DealSuits(gym.make("GeneralPoints-VL-v0"), "green")


def test_text_mode_draws_only_when_asked():
    env = gym.make("GeneralPoints-v0", render_mode="rgb_array")
    env.reset(seed=0)
    assert env.unwrapped._image is None  # nothing drawn in text mode by reset
    frame = env.render()
    assert frame.shape == (512, 512, 3)


# ---- recognition -------------------------------------------------------------------------------------------

RECOGNISED = [
    '{"cards": ["J", "3", "8", "A"], "formula": "x"}',
    '{"cards": ["j", "3", "8", "a"]}',
    "{'cards': ['J', '3', '8', 'A'],}",
    '{"cards": [10, 3, 8, 1]}',  # J counts 10 in distribution: a value names the card
    '{"cards": ["10", "3", "8", "1"]}',
    '{"cards": ["A", "J", "8", "3"]}',  # any order: a multiset
    '{"cards": ["Jack of spades", "3 of clubs", "8\u2660", "Ace"]}',
    '{"cards": ["Js", "3C", "8", "A"]}',
    '{"cards": "J, 3, 8, A"}',
    "cards: [J, 3, 8, A]\nformula: 1+2",
    "```json\n{\n  \"cards\": [\"J\", \"3\", \"8\", \"A\"],\n  \"formula\": \"1+2\"\n}\n```",
]
MISREAD = [
    '{"cards": ["J", "3", "8", "2"]}',
    '{"cards": ["J", "3", "8"]}',
    '{"cards": ["J", "3", "8", "A", "A"]}',
    '{"cards": ["J", "3", "8", "Z"]}',
    '{"cards": ["J", "3", "3", "A"]}',
    '{"cards": [["J"], 3, 8, 1]}',
    '{"cards": {"J": 1}}',
    '{"cards": null}',
    '{"cards": ' + '["J", ' * 5000 + "]",
]


@pytest.mark.parametrize("reply", RECOGNISED)
def test_reported_cards_recognised_in_many_formats(reply):
    found, items = read_reported_cards(reply)
    assert found and items is not None
    assert cards_match(items, ["J", "3", "8", "A"], ID_RULES)


@pytest.mark.parametrize("reply", MISREAD)
def test_misread_cards(reply):
    found, items = read_reported_cards(reply)
    assert found
    assert items is None or not cards_match(items, ["J", "3", "8", "A"], ID_RULES)


def test_recognition_under_the_rule_ood_values():
    dealt = ["J", "Q", "K", "A"]
    assert cards_match(["11", "12", "13", "1"], dealt, RULE_OOD_RULES)
    assert cards_match(["J", "Q", "K", "A"], dealt, RULE_OOD_RULES)
    assert not cards_match(["10", "10", "10", "1"], dealt, RULE_OOD_RULES)  # 10 is not a face card there
    assert cards_match(["10", "10", "10", "1"], dealt, ID_RULES)  # but counts as one in distribution
    assert not cards_match(["10", "10", "10", "1"], ["10", "10", "10", "2"], ID_RULES)


def test_grading_with_recognition():
    ranks, rules = ["8", "3", "8", "3"], ID_RULES
    right = grade_reply('{"cards": ["8", "3", "8", "3"], "formula": "8/(3-8/3)"}', ranks, rules, check_cards=True)
    assert (right.verdict, right.reward, right.recognized) == (Verdict.CORRECT, 5.0, True)
    misread = grade_reply('{"cards": ["8", "3", "9", "3"], "formula": "8/(3-8/3)"}', ranks, rules, check_cards=True)
    assert (misread.verdict, misread.reward, misread.recognized) == (Verdict.WRONG_CARDS, -1.5, False)
    assert "9" in misread.feedback and "Look at the image again" in misread.feedback
    silent = grade_reply('{"formula": "8/(3-8/3)"}', ranks, rules, check_cards=True)
    assert (silent.verdict, silent.recognized) == (Verdict.CORRECT, None)
    # A missing or illegal formula stays the verdict; recognition is still reported.
    no_formula = grade_reply('{"cards": ["8", "3", "8", "3"]}', ranks, rules, check_cards=True)
    assert (no_formula.verdict, no_formula.recognized) == (Verdict.NO_FORMULA, True)
    illegal = grade_reply('{"cards": ["8", "3", "9", "3"], "formula": "8**2"}', ranks, rules, check_cards=True)
    assert (illegal.verdict, illegal.recognized) == (Verdict.ILLEGAL_FORMULA, False)
    # Text mode ignores reported cards.
    text = grade_reply('{"cards": ["9", "9", "9", "9"], "formula": "8/(3-8/3)"}', ranks, rules)
    assert (text.verdict, text.recognized) == (Verdict.CORRECT, None)


def test_recognition_in_the_environment():
    env = gym.make("GeneralPoints-VL-RuleOOD-v0")
    _, info = env.reset(seed=0, options={"cards": ["K", "Q", "3", "A"]})
    assert info["recognized"] is None
    _, reward, terminated, _, info = env.step('{"cards": ["K", "J", "3", "A"], "formula": "12*3+1-13"}')
    assert (reward, terminated, info["verdict"], info["recognized"]) == (-1.5, False, Verdict.WRONG_CARDS, False)
    _, reward, terminated, _, info = env.step('{"cards": [13, 12, 3, 1], "formula": "12*3+1-13"}')
    assert (reward, terminated, info["recognized"], info["is_success"]) == (5.0, True, True, True)


# ---- visual variants ---------------------------------------------------------------------------------------


def test_suit_colours_wrapper():
    plain = gym.make("GeneralPoints-VL-VisualOOD-v0").reset(seed=1)[0]["image"]
    blue = SuitColours(gym.make("GeneralPoints-VL-VisualOOD-v0"), hearts=(20, 60, 220), diamonds=(20, 60, 220))
    image = blue.reset(seed=1)[0]["image"]
    assert red_pixels(plain) > 1500 and red_pixels(image) < 100
    b = image[..., 2].astype(int) - image[..., 0].astype(int)
    assert int((b > 120).sum()) > 1500
    with pytest.raises(ValueError):
        SuitColours(gym.make("GeneralPoints-VL-v0"), swords=(1, 2, 3))


def test_card_colours_wrapper():
    env = CardColours(gym.make("GeneralPoints-VL-v0"), background=(120, 20, 20), card_face=(230, 230, 255))
    image = env.reset(seed=0)[0]["image"]
    assert tuple(image[2, 2]) == (120, 20, 20)
    assert int((np.abs(image.astype(int) - (230, 230, 255)).sum(axis=-1) < 6).sum()) > 20_000


def test_jitter_wrapper_is_seeded_and_changes_the_picture():
    straight = gym.make("GeneralPoints-VL-v0").reset(seed=3)[0]["image"]
    env = Jitter(gym.make("GeneralPoints-VL-v0"), degrees=8, offset=0.05)
    a = env.reset(seed=3)[0]["image"]
    b = Jitter(gym.make("GeneralPoints-VL-v0"), degrees=8, offset=0.05).reset(seed=3)[0]["image"]
    assert np.array_equal(a, b) and not np.array_equal(a, straight)
    assert not np.array_equal(env.reset()[0]["image"], a)
    with pytest.raises(ValueError):
        Jitter(gym.make("GeneralPoints-VL-v0"), degrees=-1)


def test_style_transforms_may_not_change_the_resolution():
    class Bigger(StyleWrapper):
        def transform_style(self, style):
            return style.replace(resolution=1024)

    with pytest.raises(ValueError, match="Resolution wrapper"):
        Bigger(gym.make("GeneralPoints-VL-v0")).reset(seed=0)


def test_pixel_wrappers():
    base = gym.make("GeneralPoints-VL-v0").reset(seed=2)[0]["image"]
    blurred = GaussianBlur(gym.make("GeneralPoints-VL-v0"), radius=3).reset(seed=2)[0]["image"]
    assert blurred.shape == base.shape and blurred.dtype == np.uint8 and not np.array_equal(blurred, base)
    # Blur removes high-frequency detail: neighbouring pixels differ less.
    assert np.abs(np.diff(blurred.astype(int), axis=1)).mean() < np.abs(np.diff(base.astype(int), axis=1)).mean()
    env = ImageNoise(gym.make("GeneralPoints-VL-v0"), sigma=20)
    noisy, _ = env.reset(seed=2)
    again = ImageNoise(gym.make("GeneralPoints-VL-v0"), sigma=20).reset(seed=2)[0]
    assert np.array_equal(noisy["image"], again["image"]) and not np.array_equal(noisy["image"], base)
    step_obs = env.step("1+1")[0]
    assert np.array_equal(step_obs["image"], noisy["image"])  # the same noisy picture all episode
    with pytest.raises(TypeError, match="image"):
        GaussianBlur(gym.make("GeneralPoints-v0"))
    with pytest.raises(ValueError):
        ImageNoise(gym.make("GeneralPoints-VL-v0"), sigma=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda e: SuitColours(e, colour=(0, 0, 200)),
        lambda e: CardColours(e, background=(10, 10, 80)),
        lambda e: Jitter(e, 5, 0.03),
        lambda e: Resolution(e, 300),
        lambda e: GaussianBlur(e, 1.5),
        lambda e: ImageNoise(e, 10),
        lambda e: DealSuits(e, "red"),
    ],
)
def test_visual_wrappers_pass_check_env_and_recreate_from_spec(make):
    env = make(gym.make("GeneralPoints-VL-v0"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version.*")
        check_env(env)
    again = gym.make(env.spec)
    a, b = env.reset(seed=4)[0], again.reset(seed=4)[0]
    assert np.array_equal(a["image"], b["image"]) and a["text"] == b["text"]


def test_constructor_validation():
    with pytest.raises(ValueError, match="observation_mode"):
        GeneralPointsEnv(observation_mode="audio")
    with pytest.raises(TypeError, match="CardStyle"):
        GeneralPointsEnv(observation_mode="image", style={"resolution": 64})


UNICODE_DIGITS = ["\u00b2", "\u2083", "\u2460", "\u2469", "\u0663", "\uff13", "\U0001d7d1", "\u00b9\u2070"]


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_unicode_digits_in_reported_cards_are_misread_not_a_crash(digit):
    """Superscripts, subscripts, circled numbers and other scripts' digits pass str.isdigit(); int() rejects
    some of them. A card is written with ASCII digits or letters, so such an item is simply not a card."""
    ranks = ["2", "3", "8", "3"]
    reply = '{"cards": ["%s", "3", "8", "3"], "formula": "1+2"}' % digit
    assert not cards_match([digit, "3", "8", "3"], ranks, ID_RULES)
    result = grade_reply(reply, ranks, ID_RULES, check_cards=True)
    assert result.recognized is False
    env = gym.make("GeneralPoints-VL-v0")
    env.reset(seed=0, options={"cards": ranks})
    _, _, _, _, info = env.step(reply)
    assert info["recognized"] is False
