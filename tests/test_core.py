"""The shared core (sftrl_core): reply reading, verdicts and grades, reward tables, transform wrappers, make_vec."""

from __future__ import annotations

import doctest
import json
import pickle
import random
import threading
from dataclasses import FrozenInstanceError, dataclass
from typing import Any

import gymnasium as gym
import pytest
from gymnasium import spaces

import gpoints_env.checker
import gpoints_env.replies
import gpoints_env.vector
import gpoints_env.wrappers
import sftrl_core
import sftrl_core.grading
import gpoints_env.specs
import sftrl_core.replies
import sftrl_core.rewards
import sftrl_core.specs
import sftrl_core.variants
import sftrl_core.vector
from sftrl_core import (
    RULE_TRANSFORMS,
    STYLE_TRANSFORMS,
    Grade,
    RewardTable,
    RuleWrapper,
    StyleWrapper,
    VerdictEnum,
    apply_transforms,
    find_json_object,
    find_key_value,
    key_pattern,
    make_vec,
    strip_code_fence,
    strip_thinking,
)
from sftrl_core.specs import BoundedCache, deep_sizeof

# ---- replies --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("<think>a</think>b", "b"),
        ("<think>a</think>b</think>c", "c"),  # after the last closing tag
        ("x</think>y", "y"),  # the opening tag was in the prompt
        ("answer <think>never closed", "answer "),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_strip_thinking(reply, expected):
    assert strip_thinking(reply) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ("  ```\nforward()\n```  ", "forward()"),
        ("```forward()```", "forward()"),
        ("```\nunclosed", "unclosed"),
        ("  no fence  ", "no fence"),
        ("text ```code```", "text ```code```"),  # only a fence that opens the text is removed
    ],
)
def test_strip_code_fence(text, expected):
    assert strip_code_fence(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"formula": "8*3"}', (True, "8*3", True)),
        ("{'formula': '8*3'}", (True, "8*3", False)),
        ("Formula = 8*3\nmore", (True, "8*3", False)),
        ('"formula": 24', (True, 24, True)),
        ('"formula": 8*3', (True, "8*3", False)),  # not the JSON number 8
        ('"formula": ["8", "3"]', (True, ["8", "3"], True)),
        ('formula: 1+1, formula: 2+2', (True, "2+2", False)),  # the last field counts
        ("formula:", (True, "", False)),
        ("reformulate: 1+1", (False, None, False)),  # a word boundary before the key
        ("nothing", (False, None, False)),
    ],
)
def test_find_key_value(text, expected):
    assert find_key_value(text, key_pattern("formula")) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"action": "stop()"}', {"action": "stop()"}),
        ('Sure!\n```json\n{"action": "stop()",}\n```', {"action": "stop()"}),
        ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
        ("[1, 2]", None),
        ('{"a": 1} and {"b": 2}', None),  # first "{" to last "}" is not one object
        ("{" * 100_000 + "}" * 100_000, None),  # too deep: no object, no RecursionError
        ('{"n": ' + "9" * 10_000 + "}", None),  # past Python's int-string limit: no ValueError escapes
        ("no braces", None),
        (None, None),
    ],
)
def test_find_json_object(text, expected):
    assert find_json_object(text) == expected


def test_game_packages_re_export_the_core_reply_readers():
    for name in gpoints_env.replies.__all__:
        assert getattr(gpoints_env.replies, name) is getattr(sftrl_core.replies, name)
    assert gpoints_env.vector.make_vec is make_vec


# ---- verdicts and grades --------------------------------------------------------------------------------------


class Colour(VerdictEnum):
    CORRECT = "correct"
    WRONG = "wrong"


def test_verdict_enum_is_its_string_value():
    assert Colour.CORRECT == "correct" and Colour("wrong") is Colour.WRONG
    assert str(Colour.WRONG) == f"{Colour.WRONG}" == f"{Colour.WRONG:>5}".strip() == "wrong"
    assert json.dumps({"v": Colour.WRONG}) == '{"v": "wrong"}'
    assert Colour.CORRECT.is_success and not Colour.WRONG.is_success
    assert pickle.loads(pickle.dumps(Colour.WRONG)) is Colour.WRONG


def test_grade_success_and_message_alias():
    good, bad = Grade(Colour.CORRECT, 1.0, "Correct."), Grade(Colour.WRONG, -1.0, "Wrong: try again.")
    assert good.success and not bad.success
    assert bad.message == bad.feedback == "Wrong: try again."
    with pytest.raises(FrozenInstanceError):
        bad.reward = 5.0

    @dataclass(frozen=True)
    class ActionGrade(Grade):
        action: str | None = None

    graded = ActionGrade(Colour.WRONG, -1.0, "Wrong action.", "stop()")
    assert graded.action == "stop()" and graded.message == "Wrong action." and not graded.success


# ---- reward tables --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColourRewards(RewardTable):
    correct: float = 2.0
    wrong: float = -1.0


ColourRewards.SCHEMES = {"paper": ColourRewards(), "binary": ColourRewards(correct=1, wrong=0)}


def test_reward_table_lookup_and_schemes():
    table = ColourRewards()
    assert table[Colour.WRONG] == table.reward("wrong") == -1.0
    assert ColourRewards.resolve("binary").to_dict() == {"correct": 1.0, "wrong": 0.0}
    assert all(type(v) is float for v in ColourRewards.resolve("binary").to_dict().values())
    assert ColourRewards.resolve(table) is table
    assert ColourRewards.resolve({"wrong": -3}).to_dict() == {"correct": 2.0, "wrong": -3.0}
    assert ColourRewards.resolve({Colour.CORRECT: 7}).correct == 7.0  # verdicts as keys
    with pytest.raises(ValueError, match="'purple'"):
        table["purple"]


@pytest.mark.parametrize(
    "spec, error, words",
    [
        ("gold", ValueError, "unknown reward scheme 'gold'"),
        ({"wrongg": 1}, ValueError, "wrongg"),
        ({"wrong": "-1"}, TypeError, "reward wrong must be a number"),
        ({"wrong": True}, TypeError, "reward wrong"),
        ({"correct": float("nan")}, ValueError, "reward correct must be a finite number"),
        ({"correct": float("inf")}, ValueError, "reward correct"),
        (3, TypeError, "int"),
    ],
)
def test_reward_table_errors_name_the_problem(spec, error, words):
    with pytest.raises(error, match=words):
        ColourRewards.resolve(spec)


# ---- transform wrappers ---------------------------------------------------------------------------------------


class ToyEnv(gym.Env):
    """The smallest env that reads transforms from its reset options: the observation is the episode's rule."""

    observation_space = spaces.Discrete(1000)
    action_space = spaces.Discrete(1)

    def __init__(self):
        self.rule = 1
        self.seen_options: list[dict[str, Any]] = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        options = options or {}
        self.seen_options.append(options)
        rule = apply_transforms(self.rule, options.get(RULE_TRANSFORMS, ()), int, "rule")
        return apply_transforms(rule, options.get(STYLE_TRANSFORMS, ()), int, "style"), {}

    def step(self, action):
        return 0, 0.0, True, False, {}


class Plus(RuleWrapper):
    wraps = ToyEnv

    def __init__(self, env, n: int):
        self.n = n
        gym.utils.RecordConstructorArgs.__init__(self, n=n)
        super().__init__(env)

    def transform_rules(self, rules):
        return rules + self.n


class Times(StyleWrapper):
    def __init__(self, env, n: int):
        self.n = n
        gym.utils.RecordConstructorArgs.__init__(self, n=n)
        super().__init__(env)

    def transform_style(self, style):
        return style * self.n


class Doubled(RuleWrapper):  # no arguments: nothing to record by hand
    def transform_rules(self, rules):
        return rules * 2


def test_transforms_apply_only_through_their_wrapper():
    env = ToyEnv()
    Plus(env, 100)  # built and dropped
    assert env.reset()[0] == 1
    w1, w2 = Plus(env, 10), Plus(env, 20)
    assert (w1.reset()[0], w2.reset()[0], env.reset()[0]) == (11, 21, 1)


def test_innermost_wrapper_applies_first_and_options_are_not_altered():
    env = Doubled(Plus(ToyEnv(), 3))  # (1 + 3) * 2, not 1 * 2 + 3
    options = {"other": 1}
    assert env.reset(options=options)[0] == 8
    assert options == {"other": 1}
    passed = env.unwrapped.seen_options[-1]
    assert passed["other"] == 1 and len(passed[RULE_TRANSFORMS]) == 2
    assert Times(Plus(ToyEnv(), 4), 3).reset()[0] == 15  # rule and style transforms travel apart


def test_wrapper_checks_the_env_type_and_records_its_arguments():
    with pytest.raises(TypeError, match="Plus wraps ToyEnv environments, got CartPoleEnv"):
        Plus(gym.make("CartPole-v1"), 1)
    assert Plus(ToyEnv(), 5)._saved_kwargs == {"n": 5} and Doubled(ToyEnv())._saved_kwargs == {}

    class Unfinished(RuleWrapper):
        pass

    with pytest.raises(NotImplementedError, match="transform_rules"):
        Unfinished(ToyEnv()).reset()


def test_apply_transforms_checks_each_result():
    with pytest.raises(TypeError, match="style transform .* returned str, expected int"):
        apply_transforms(1, [lambda n: n + 1, str], int, "style")
    assert apply_transforms("x", [], int, "rule") == "x"  # no transform: the base as it is
    with pytest.raises(TypeError, match="tuple of callables"):
        ToyEnvWithCheckedOption().reset(options={RULE_TRANSFORMS: "not callables"})


class ToyEnvWithCheckedOption(ToyEnv):
    def reset(self, *, seed=None, options=None):
        sftrl_core.variants.transforms_option(options or {}, RULE_TRANSFORMS)
        return super().reset(seed=seed, options=options)


# ---- vector envs ----------------------------------------------------------------------------------------------


def test_make_vec_defaults_async_envs_to_no_shared_memory_and_keeps_user_choices():
    envs = make_vec("GeneralPoints-v0", 2)
    try:
        assert isinstance(envs, gym.vector.AsyncVectorEnv) and envs.shared_memory is False
    finally:
        envs.close()
    envs = make_vec("CartPole-v1", 2, vector_kwargs={"shared_memory": True})
    try:
        assert envs.shared_memory is True
    finally:
        envs.close()
    sync = make_vec("GeneralPoints-v0", 2, vectorization_mode="sync", target=10)
    try:
        assert isinstance(sync, gym.vector.SyncVectorEnv) and list(sync.reset(seed=0)[1]["target"]) == [10, 10]
    finally:
        sync.close()


# ---- the byte-bounded cache of the spec readers ----------------------------------------------------------------


def _check_cache_invariants(cache: BoundedCache) -> None:
    charged = [cost for _, cost in cache._entries.values()]
    assert cache.bytes == sum(charged) <= cache.max_bytes


def test_bounded_cache_never_holds_more_than_its_bytes():
    rng = random.Random(0)
    cache = BoundedCache(5_000, entry_bytes=lambda key, value: len(value))
    builds = []

    def build(key: str) -> str:
        builds.append(key)
        return "v" * rng.choice([10, 100, 1_000, 4_000])

    for _ in range(5_000):
        key = f"k{rng.randrange(60)}"
        value = cache.get_or_build(key, build)
        assert isinstance(value, str)
        _check_cache_invariants(cache)
    assert 0 < len(cache) < 60 and len(builds) < 5_000  # some hits, some evictions
    assert all(cost == len(value) + BoundedCache.ENTRY_OVERHEAD for value, cost in cache._entries.values())


def test_bounded_cache_is_least_recently_used_and_keeps_nothing_it_cannot_hold():
    cache = BoundedCache(3 * (100 + BoundedCache.ENTRY_OVERHEAD), entry_bytes=lambda key, value: 100)
    for key in "abc":
        cache.get_or_build(key, str.upper)
    assert cache.get_or_build("a", lambda key: "built again") == "A"  # a hit, now the most recent
    cache.get_or_build("d", str.upper)  # evicts b, the least recently used
    assert "b" not in cache and {"a", "c", "d"} <= set(cache._entries) and len(cache) == 3
    big = BoundedCache(1_000, entry_bytes=lambda key, value: 10_000)
    assert big.get_or_build("x", str.upper) == "X" and len(big) == 0 and big.bytes == 0  # too big to keep

    def refuse(key: str) -> str:
        raise ValueError(key)

    with pytest.raises(ValueError):
        cache.get_or_build("e", refuse)
    assert "e" not in cache
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="max_bytes"):
            BoundedCache(bad)


def test_bounded_cache_counts_deep_sizes_by_default_and_holds_under_threads():
    cache = BoundedCache(50_000)
    value = cache.get_or_build('{"a": ["x", "y"]}', json.loads)
    assert cache.bytes == (deep_sizeof('{"a": ["x", "y"]}') + deep_sizeof(value) + BoundedCache.ENTRY_OVERHEAD)

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(3_000):
            key = json.dumps({"k": rng.randrange(400), "pad": "x" * rng.randrange(300)})
            assert cache.get_or_build(key, json.loads) == json.loads(key)

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _check_cache_invariants(cache)
    assert len(cache) > 10


# ---- docstring examples ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [sftrl_core.replies, sftrl_core.grading, sftrl_core.rewards, sftrl_core.specs, sftrl_core.variants,
     gpoints_env.replies, gpoints_env.checker, gpoints_env.specs, gpoints_env.wrappers],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
