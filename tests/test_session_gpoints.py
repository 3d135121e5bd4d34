"""The episode session on GeneralPoints equals the live env turn by turn: observation text, picture, messages,
reward, feedback and episode end, on 2,000 random-reply episodes per id under both protocols."""

from __future__ import annotations

import hashlib
import json

import gymnasium as gym
import numpy as np
import pytest

from gpoints_env import ENV_IDS
from gpoints_env.session import HandSession
from sftrl_core.specs import SpecError
from sftrl_train import EpisodeSession, SpecEpisode
from sftrl_train.episodes import message_text

ALL_IDS = sorted(ENV_IDS)
#: Random-reply episodes per id and protocol.
EPISODES = 2000


def make(env_id: str, protocol: str) -> gym.Env:
    if ENV_IDS[env_id].get("observation_mode") == "image":
        return gym.make(env_id, protocol=protocol, resolution=64)  # small pictures: compared by digest
    return gym.make(env_id, protocol=protocol)


def reply_for(rng: np.random.Generator, env: gym.Env, info: dict) -> str:
    """A seeded mix of replies: the expert's, near misses (right numbers in another order or with other signs, a
    card reused, misread cards) and junk, in the answer formats models use."""
    base = env.unwrapped
    numbers = [str(n) for n in info["numbers"]]
    kind = rng.integers(10)
    if kind <= 2:
        return base.expert_reply()
    if kind == 3:
        return json.dumps({"formula": base.solution()})
    if kind in (4, 5):
        order = rng.permutation(len(numbers))
        formula = numbers[order[0]] + "".join("+-*/"[rng.integers(4)] + numbers[i] for i in order[1:])
    elif kind == 6:
        formula = "*".join(numbers[:-1] + [numbers[0]])
    elif kind == 7:
        cards = list(info["cards"])
        return json.dumps({"cards": cards[::-1] if rng.random() < 0.5 else cards, "formula": base.solution()})
    elif kind == 8:
        return str(rng.choice(["", "I give up", "((((", "9**9**9", "{'formula': }", "\u00d7\u00f7", "24"]))
    else:
        formula = "+".join(numbers)
    return f"<think>hm</think> {formula} = 24" if rng.random() < 0.3 else json.dumps({"formula": formula})


def digest(image) -> str | None:
    return None if image is None else hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def parts_digest(messages):
    """Messages with pictures replaced by their digests (image parts carry PIL images)."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = [{"type": "image", "image": digest(np.asarray(p["image"])) if "image" in p else None}
                       if p["type"] == "image" else p for p in content]
        out.append({"role": m["role"], "content": content})
    return out


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_session_equals_the_live_env(env_id, protocol):
    env = make(env_id, protocol)
    rng = np.random.default_rng(ALL_IDS.index(env_id) + 100 * (protocol == "paper"))
    image_mode = ENV_IDS[env_id].get("observation_mode") == "image"
    outcomes, turns = set(), 0
    for seed in range(EPISODES):
        obs, info = env.reset(seed=seed)
        spec = env.unwrapped.episode_spec()
        picture = obs["image"] if image_mode else None
        hand = HandSession(json.dumps(spec), image=picture)
        session = EpisodeSession(spec, images=[picture] if image_mode else None)
        assert hand.observation == obs if not image_mode else (
            hand.text == obs["text"] and digest(hand.image) == digest(obs["image"]))
        assert session.text == (obs["text"] if image_mode else obs)
        assert [message_text(m) for m in session.messages] == [m["content"] for m in info["messages"]]
        done = False
        while not done:
            reply = reply_for(rng, env, info)
            obs, reward, terminated, truncated, info = env.step(reply)
            h_obs, h_reward, h_terminated, h_truncated, h_info = hand.step(reply)
            turn = session.reply(reply)
            turns += 1
            text = obs["text"] if image_mode else obs
            assert (hand.text, h_reward, h_terminated, h_truncated) == (text, reward, terminated, truncated), reply
            assert session.text == text and digest(session.image) == digest(picture)
            for key in ("verdict", "feedback", "attempts_left", "is_success", "messages"):
                assert h_info[key] == info[key], (key, reply)
            assert (turn.verdict, turn.reward, turn.feedback, turn.terminated) == (
                info["verdict"], reward, info["feedback"], terminated)
            assert [message_text(m) for m in session.messages] == [m["content"] for m in info["messages"]]
            if image_mode:  # the picture rides in the first user turn, every turn
                assert session.messages[0]["content"][0]["type"] == "image"
                assert digest(np.asarray(session.messages[0]["content"][0]["image"])) == digest(picture)
            if not terminated:
                assert [message_text(m) for m in turn.next_messages] == [info["messages"][-1]["content"]]
            done = terminated or truncated
        assert session.done and hand.done and session.success == info["is_success"]
        outcomes.add((info["is_success"], len(session.turns)))
    assert {True, False} <= {success for success, _ in outcomes}  # episodes both succeed and fail
    assert len({n for _, n in outcomes}) >= 3 and turns > EPISODES


def test_live_session_and_spec_session_give_the_same_transcript():
    env = make("GeneralPoints-VL-v0", "suite")
    rng = np.random.default_rng(0)
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        spec_session = SpecEpisode(env.unwrapped.episode_spec(), images=[obs["image"]])
        live = EpisodeSession.from_env(env, observation=obs, info=info)
        while not live.done:
            reply = reply_for(rng, env, info)
            a, b = live.reply(reply), spec_session.reply(reply)
            assert (a.verdict, a.reward, a.feedback, a.terminated) == (b.verdict, b.reward, b.feedback, b.terminated)
            info = live.info
        assert parts_digest(live.transcript) == parts_digest(spec_session.transcript)
        assert live.metrics() == spec_session.metrics()


def test_transcript_closes_with_the_last_feedback_and_messages_stay_the_envs():
    env = gym.make("GeneralPoints-v0", max_attempts=2)
    obs, info = env.reset(options={"cards": ["8", "3", "8", "3"]})
    session = EpisodeSession(env.unwrapped.episode_spec())
    session.reply("8+8+3+3")
    last = session.reply("8*3")
    _, _, _, _, env_info = env.step("8+8+3+3")
    _, _, terminated, _, env_info = env.step("8*3")
    assert terminated and last.done and last.next_messages == ()
    assert session.messages == env_info["messages"]  # the env leaves the last feedback out...
    assert session.transcript[:-1] == env_info["messages"]
    assert session.transcript[-1] == {"role": "user", "content": env_info["feedback"]}  # ...the transcript keeps it
    assert session.rewards == [-1.0, -2.0] and session.total_reward == -3.0 and not session.success
    assert session.step_accuracy == 0.0
    with pytest.raises(RuntimeError, match="over"):
        session.reply("8/(3-8/3)")


def test_session_refuses_what_the_env_refuses():
    env = gym.make("GeneralPoints-v0")
    env.reset(seed=0)
    session = EpisodeSession(env.unwrapped.episode_spec())
    with pytest.raises(TypeError, match="str"):
        session.reply(None)
    with pytest.raises(SpecError):
        EpisodeSession({"game": "Chess", "version": 1})
    with pytest.raises(SpecError, match="text-mode"):
        HandSession(env.unwrapped.episode_spec(), image=np.zeros((4, 4, 3), np.uint8))
