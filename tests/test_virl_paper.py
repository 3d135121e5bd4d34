"""V-IRL under protocol="paper": the authors' prompt, grading, rail, episode end, evaluation replay and
per-step accuracy (issue 10), checked against texts and numbers written out here from docs/PAPER_PROTOCOL.md;
the texts exact to their code (issue 21: final period of the failure messages, a heading change of 0, one-leg
routes, landmark names as written)."""

from __future__ import annotations

import random
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import virl_env
from virl_env.protocols import paper as paper_module
from virl_env.protocols.paper import build_paper_episode, paper_dataset_episode, paper_grade, paper_relative_turn
from virl_env.released.dataset import DatasetRoute, PaperDraws, RouteDataset, paper_evaluation_draws
from virl_env.task.metrics import paper_step_accuracy, step_counts
from virl_env.world.instructions import relative_turn
from virl_env.world.routes import RailPoint
from virl_env.task.rules import PAPER_RULES, RewardTable, Verdict
from virl_env.specs import grade

from test_virl_data import block, build_dataset, geo

# The authors' templates (docs/PAPER_PROTOCOL.md section 2), written out: every blank line and the trailing space
# after "executed." matter.
_LINES_3_4 = (
    "are also provided with your observation and action history in text. Your goal is to first analyze the "
    "instruction and identify the next sentence to be executed. \n"
    "Then, you need to provide the action to be taken based on the current observation and instruction.\n"
    "\n"
    "[Instruction]\n"
    "INSTRUCTION"
    "\n"
    "\n"
)
_TAIL = (
    "[Action space]\n"
    "ACTION_SPACE\n"
    "\n"
    "[Observations and actions sequence]\n"
    "OBS_ACT_SEQ"
    "\n"
    "\n"
    "[Output]\n"
    "{\n"
    '  "current observation": latest observation from SOURCE,\n'
    '  "current instruction": analyze the full instruction and identify the sentence to be executed,\n'
    '  "action": the action to be taken chosen from the action space,\n'
    "}\n"
)
Q_VIRL_L = (
    "\n"
    "[Task Description]\n"
    "You are an expert in navigation. You will receive a sequence of instructions to follow. You\n"
    + _LINES_3_4 + _TAIL.replace("SOURCE", "the observation sequence")
)
Q_VIRL_VL = (
    "\n"
    "[Task Description]\n"
    "You are an expert in navigation. You will receive a sequence of instructions to follow while observing "
    "your surrounding stree tviews. You\n"
    + _LINES_3_4
    + "[Observation format]\n"
    "You observe a 2x2 grid of streetview images with the following headings:\n"
    "[front, right\n"
    " back, left]\n"
    "You need to identify if any of the landmarks in the instruction are visible in the street view grid.\n"
    "\n"
    + _TAIL.replace("SOURCE", "the street view grid")
)
ABSOLUTE_SPACE = (
    '"forward()": indicates moving forward one step\n'
    '"turn_direction(x)": indicates adjust the ego agent direction towards x direction. x could be any following '
    "8 directions ['north', 'northeast', 'east', 'southeast', 'south', 'southwest', 'west', 'northwest']\n"
    '"stop()": indicates the navigation is finished.'
)
RELATIVE_SPACE = (
    '"forward()": indicates moving forward one step\n'
    '"turn_direction(x)": indicates adjust the ego agent direction towards x direction. x could be any following '
    "['left', 'right', 'slightly left', 'slightly right']\n"
    '"stop()": indicates the navigation is finished.'
)
# Route 0 of the test data: start heading 200, east (90) to an intersection by Cafe Test, then north (0).
ROUTE0_INSTRUCTION = (
    "1. First, turn left to face east.\n"
    "2. Move forward until you reach next intersection where Cafe Test is on your left.\n"
    "3. Turn left to face north.\n"
    "4. Move forward until you reach destination where Hotel Dest is on your right.\n"
)
FT = ('\n[Output]\n{{\n  "current observation": latest observation from the streetview grid,\n'
      '  "current instruction": analyze the full instruction and identify the sentence to be executed,\n'
      '  "action": the action to be taken chosen from the action space,\n}}')
# Theirs end "...format:FT." (docs/PAPER_PROTOCOL.md): the final period after the literal }}.
NOT_AT = "you are not at any intersection. Please avoid this observation and try again in the same format:" + FT + "."
AT = "you are at an intersection. Please avoid this observation and try again in the same format:" + FT + "."
WRONG = "you make incorrect action. Please avoid this action and try again in the same format:" + FT + "."
KEEP_ALL = {"init_heading": None, "rail_draws": [0.9] * 10}  # route 0 has a start heading and two long legs


def fill(template: str, instruction: str, space: str, seq: str) -> str:
    return template.replace("INSTRUCTION", instruction).replace("ACTION_SPACE", space).replace("OBS_ACT_SEQ", seq)


@pytest.fixture
def dataset(tmp_path):
    return build_dataset(tmp_path / "virl_data")


def paper_env(env_id: str, dataset, **kwargs):
    if "VL" in env_id:
        kwargs.setdefault("view_size", 32)
    return gym.make(env_id, protocol="paper", dataset_dir=dataset, **kwargs)


# ---- the prompt ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id, template, space", [
    ("VIRL-v0", Q_VIRL_L, ABSOLUTE_SPACE),
    ("VIRL-RuleOOD-v0", Q_VIRL_L, RELATIVE_SPACE),
    ("VIRL-VL-v0", Q_VIRL_VL, ABSOLUTE_SPACE),
    ("VIRL-VL-RuleOOD-v0", Q_VIRL_VL, RELATIVE_SPACE),
])
def test_reset_prompt_is_the_authors_template(dataset, env_id, template, space):
    env = paper_env(env_id, dataset)
    obs, info = env.reset(seed=0, options={"route": 0, "paper_draws": KEEP_ALL})
    image = "VL" in env_id
    current = "You observe an image of 4 views; " if image else "No landmarks nearby; "
    expected = fill(template, ROUTE0_INSTRUCTION, space, f"O_1: {current}\nA_1: \n")
    assert (obs["text"] if image else obs) == expected
    assert info["messages"] == [{"role": "user", "content": expected}]
    if image:
        assert obs["image"].shape == env.observation_space["image"].shape


def test_history_and_milestone_lines_follow_the_authors_format(dataset):
    env = paper_env("VIRL-VL-v0", dataset)
    env.reset(seed=0, options={"route": 0, "paper_draws": KEEP_ALL})
    for _ in range(3):  # start, two interpolated points (both snapped to the same panorama, as theirs)
        obs, *_ = env.step(env.unwrapped.expert_reply())
    seq = ("O_1: No landmarks nearby; \nA_1: turn_direction(east)\n"
           "O_2: No landmarks nearby; \nA_2: forward()\n"
           "O_3: No landmarks nearby; \nA_3: forward()\n"
           "O_4: You observe an image of 4 views; You observe an intersection\nA_4: \n")
    assert obs["text"] == fill(Q_VIRL_VL, ROUTE0_INSTRUCTION, ABSOLUTE_SPACE, seq)
    assert env.unwrapped.task.point.observation == "Cafe Test is on your left; You observe an intersection"


def test_generated_city_rail_turns_only_at_milestones():
    env = gym.make("VIRL-v0", protocol="paper")
    for seed in range(12):
        env.reset(seed=seed)
        base = env.unwrapped
        kinds = [p.kind for p in base.rail]
        assert "crossing" not in kinds and kinds[0] == "start" and kinds[-1] == "destination"
        turns = base.route.kinds.count("turn")
        assert kinds.count("turn") == turns and len(base.route.sentences) == 2 * (turns + 1)
        for point in base.rail:
            if point.kind in ("start", "forward"):
                assert point.observation == "No landmarks nearby; "
            elif point.kind == "turn":
                assert point.observation.endswith("; You observe an intersection")
            else:
                assert point.observation.endswith("; ") and "intersection" not in point.observation
        for sentence in base.route.sentences[1:-1:2]:
            assert sentence.startswith("Move forward until you reach next intersection")
        assert base.route.sentences[-1].startswith("Move forward until you reach destination where ")
        assert not any(word in base.route.instruction for word in ("2nd", "3rd", "the next"))
        # at most 4 interpolated points per leg survive (the 5th is the leg's end)
        assert kinds.count("forward") <= 4 * (turns + 1)


# ---- grading: the authors' verdicts and rewards ---------------------------------------------------------
def _route0_rail(dataset) -> tuple[RailPoint, ...]:
    data = RouteDataset.load(dataset)
    return paper_dataset_episode(data, 0, 5, 0.5, np.random.default_rng(0), PaperDraws(0, None, (0.9,) * 10))[1]


START_CASES = [  # at the start (not an intersection); the expected action is turn_direction(east)
    ('{"current observation": "No landmarks nearby; ", "current instruction": "1.", '
     '"action": "turn_direction(east)"}', Verdict.CORRECT, 1.0, "Correct action."),
    ('{"action":"turn_direction(east)"}', Verdict.CORRECT, 1.0, "Correct action."),
    ('```json\n{"action": "turn_direction(east)"}\n```', Verdict.CORRECT, 1.0, "Correct action."),  # regex
    ('So "action": "turn_direction(east)" it is', Verdict.CORRECT, 1.0, "Correct action."),
    ('{"current observation": "You observe an intersection", "action": "turn_direction(east)"}',
     Verdict.CORRECT, 1.0, "Correct action."),
    ("turn_direction(east)", Verdict.INVALID, -1.0, WRONG),  # bare action: no "action" key
    ("{'action': 'turn_direction(east)'}", Verdict.INVALID, -1.0, WRONG),  # single quotes
    ('{"action": 5}', Verdict.INVALID, -1.0, WRONG),
    ('{"action": "turn_direction(East)"}', Verdict.WRONG_ACTION, -1.0, WRONG),  # exact match only
    ('{"action": "turn_direction( east)"}', Verdict.WRONG_ACTION, -1.0, WRONG),
    ('{"action": "turn_direction(east) "}', Verdict.WRONG_ACTION, -1.0, WRONG),
    ('<think>"action": "forward()"</think> {"action": "turn_direction(east)"}', Verdict.WRONG_ACTION, -1.0,
     WRONG),  # the first match counts, think blocks are not stripped
    ('{"current observation": "You observe an intersection", "action": "forward()"}',
     Verdict.WRONG_OBSERVATION, -1.5, NOT_AT),
    ('"current observation": "an intersection ahead", "action": "stop()"', Verdict.WRONG_OBSERVATION, -1.5,
     NOT_AT),
    ('{"current observation": "Intersection", "action": "forward()"}', Verdict.WRONG_ACTION, -1.0, WRONG),
    ('{"current observation": "no intersection", "action": "forward()"}', Verdict.WRONG_OBSERVATION, -1.5,
     NOT_AT),  # a plain substring test: negation does not help
    ('{"current observation": "You observe an intersection"}', Verdict.WRONG_OBSERVATION, -1.5, NOT_AT),
]
MILESTONE_CASES = [  # at the intersection by Cafe Test; the expected action is turn_direction(north)
    ('{"current observation": "Cafe Test is on your left; You observe an intersection", '
     '"action": "turn_direction(north)"}', Verdict.CORRECT, 1.0, "Correct action."),
    # their -1.5 check reads the landmark-only text, so claiming the (real) intersection is called wrong
    ('{"current observation": "Cafe Test is on your left; You observe an intersection", "action": "forward()"}',
     Verdict.WRONG_OBSERVATION, -1.5, NOT_AT),
    ('{"current observation": "Cafe Test is on your left", "action": "forward()"}', Verdict.WRONG_ACTION, -1.0,
     WRONG),
    ('{"current observation": "Cafe Test is on your left", "action": "turn_direction(northeast)"}',
     Verdict.WRONG_ACTION, -1.0, WRONG),
]


@pytest.mark.parametrize("reply, verdict, reward, message", START_CASES)
def test_replies_at_the_start_get_the_authors_verdicts(dataset, reply, verdict, reward, message):
    point = _route0_rail(dataset)[0]
    result = paper_grade(reply, point, PAPER_RULES, RewardTable.resolve("paper"))
    assert (result.verdict, result.reward, result.feedback) == (verdict, reward, message)


@pytest.mark.parametrize("reply, verdict, reward, message", MILESTONE_CASES)
def test_replies_at_a_milestone_get_the_authors_verdicts(dataset, reply, verdict, reward, message):
    point = _route0_rail(dataset)[3]
    assert point.kind == "turn"
    result = paper_grade(reply, point, PAPER_RULES, RewardTable.resolve("paper"))
    assert (result.verdict, result.reward, result.feedback) == (verdict, reward, message)


def test_reverse_observation_case_fires_when_a_landmark_name_says_intersection():
    point = RailPoint(position=(0.0, 0.0), heading=0.0, kind="destination",
                      observation="the intersection deli is on your left; ", landmarks=("the intersection deli",),
                      at_intersection=False, sentence=1, turn_to=None, turn_relative=None)
    result = paper_grade('{"current observation": "a deli", "action": "forward()"}', point, PAPER_RULES,
                               RewardTable.resolve("paper"))
    assert (result.verdict, result.reward, result.feedback) == (Verdict.WRONG_OBSERVATION, -1.5, AT)


@pytest.mark.parametrize("reply, verdict, reward, message", START_CASES[::3])
def test_env_step_and_spec_grade_alike(dataset, reply, verdict, reward, message):
    env = paper_env("VIRL-v0", dataset)
    env.reset(seed=0, options={"route": 0, "paper_draws": KEEP_ALL})
    spec = env.unwrapped.episode_spec()
    assert spec["protocol"] == "paper"
    offline = grade(reply, spec)
    _obs, step_reward, _term, _trunc, info = env.step(reply)
    assert (offline.verdict, offline.reward) == (info["verdict"], step_reward) == (verdict, reward)
    assert offline.feedback == info["feedback"]


# ---- episode end and per-step accuracy ------------------------------------------------------------------
def test_failure_feedback_and_episode_end_on_exhausted_attempts(dataset):
    env = paper_env("VIRL-v0", dataset)
    obs0, _ = env.reset(seed=0, options={"route": 0, "paper_draws": KEEP_ALL})
    bad = '{"current observation": "No landmarks nearby; ", "action": "forward()"}'
    obs, reward, terminated, _trunc, info = env.step(bad)
    assert (reward, terminated, info["attempts_left"]) == (-1.0, False, 1)
    assert obs == obs0 + "\nYou failed this trial because " + WRONG
    assert info["messages"] == [{"role": "user", "content": obs0}, {"role": "assistant", "content": bad},
                                {"role": "user", "content": "You failed this trial because " + WRONG}]
    obs, reward, terminated, _trunc, info = env.step(bad)
    assert (reward, terminated, info["is_success"]) == (-1.0, True, False)
    assert info["step_correct"] == [False, False] and info["points_solved"] == [False]
    with pytest.raises(RuntimeError):
        env.step(bad)
    # the suite protocol moves on instead
    suite = gym.make("VIRL-v0", dataset_dir=dataset)
    suite.reset(seed=0, options={"route": 0})
    suite.step(bad)
    _obs, _r, terminated, _t, info = suite.step(bad)
    assert not terminated and info["step_index"] == 1


def test_a_correct_reply_starts_a_fresh_conversation(dataset):
    env = paper_env("VIRL-v0", dataset)
    env.reset(seed=0, options={"route": 0, "paper_draws": KEEP_ALL})
    env.step('{"action": "stop()"}')
    obs, reward, _term, _trunc, info = env.step(env.unwrapped.expert_reply())
    assert reward == 1.0 and len(info["messages"]) == 1 and "You failed" not in obs
    assert "O_1: No landmarks nearby; \nA_1: turn_direction(east)\nO_2: No landmarks nearby; \nA_2: \n" in obs


def test_per_step_accuracy_matches_a_hand_computed_episode(dataset):
    env = paper_env("VIRL-v0", dataset)
    env.reset(seed=0, options={"route": 0, "paper_draws": KEEP_ALL})
    wrong = '{"action": "forward() "}'
    env.step(env.unwrapped.expert_reply())          # start: right at once
    env.step(wrong)                                 # first interpolated point: wrong, then right
    env.step(env.unwrapped.expert_reply())
    env.step(wrong)                                 # second interpolated point: wrong twice -> the end
    _obs, _r, terminated, _t, info = env.step(wrong)
    assert terminated and info["step_correct"] == [True, False, True, False, False]
    assert info["points_solved"] == [True, True, False]
    # 2 correct replies over 5 graded calls + 1 forced extra call: 2 / 6
    assert paper_step_accuracy(info) == pytest.approx(2 / 6)
    assert step_counts(info) == (2, 6)
    # pooled over episodes, with a harness-style record and a suite episode that moved on twice
    record = {"step_correct": [True, True, True], "exhausted_points": 0}
    suite = {"step_correct": [False, False, True, False, False, True], "points_solved": [False, True, False, True]}
    assert paper_step_accuracy([info, record, suite]) == pytest.approx((2 + 3 + 2) / (6 + 3 + 8))
    assert paper_step_accuracy([]) is None
    with pytest.raises(ValueError):
        paper_step_accuracy({"step_correct": [True]})
    with pytest.raises(ValueError):
        paper_step_accuracy({"step_correct": "yes", "exhausted_points": 0})


def test_an_always_wrong_agent_scores_zero_and_forward_only_scores_little():
    env = gym.make("VIRL-v0", protocol="paper")
    wrong, forward = [], []
    for seed in range(10):
        for replies, agent in ((wrong, '{"action": "turn_direction(up)"}'), (forward, '{"action": "forward()"}')):
            env.reset(seed=seed)
            done = False
            while not done:
                _obs, _r, term, trunc, info = env.step(agent)
                done = term or trunc
            replies.append(info)
    assert paper_step_accuracy(wrong) == 0.0
    # forward() fails at the start, so every episode ends there: 0 of 3 calls
    assert paper_step_accuracy(forward) == 0.0


def play_expert(env, seed: int, options: dict | None) -> dict:
    """Play the expert's replies to the end; every reply must earn +1 and the episode succeed."""
    env.reset(seed=seed, options=options)
    done = False
    while not done:
        _obs, reward, term, trunc, info = env.step(env.unwrapped.expert_reply())
        assert reward == 1.0
        done = term or trunc
    assert info["is_success"]
    return info


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("env_id", virl_env.ALL_ENV_IDS)
def test_expert_scores_100_percent(env_id, protocol):
    kwargs = {"view_size": 32} if "VL" in env_id else {}
    env = gym.make(env_id, protocol=protocol, **kwargs)
    infos = [play_expert(env, seed, None) for seed in range(6)]
    assert paper_step_accuracy(infos) == 1.0


def test_expert_scores_100_percent_on_released_data(dataset):
    for env_id in ("VIRL-v0", "VIRL-RuleOOD-v0", "VIRL-VL-v0"):
        env = paper_env(env_id, dataset)
        for draws in paper_evaluation_draws(env.unwrapped.dataset, episodes=6):
            play_expert(env, 0, draws.reset_options())


# ---- the rail and the evaluation replay -----------------------------------------------------------------
def test_released_rail_snaps_drops_and_keeps_clear_of_the_ends(dataset):
    data = RouteDataset.load(dataset)
    rng = np.random.default_rng(0)
    _route, rail = paper_dataset_episode(data, 0, 5, 0.5, rng, PaperDraws(0, None, (0.9,) * 10))
    # leg 1 (0,0)->(60,0): fractions 12, 24, 36, 48, 60 m snap to panoramas at 0, 30, 30, 60, 60 m: the two
    # at 30 m are kept (same panorama twice, as theirs); leg 2 likewise keeps (60, 25) twice.
    positions = [(p.kind, round(p.position[0]), round(p.position[1])) for p in rail]
    assert positions == [("start", 0, 0), ("forward", 30, 0), ("forward", 30, 0), ("turn", 60, 0),
                         ("forward", 60, 25), ("forward", 60, 25), ("destination", 60, 50)]
    assert [p.sentence for p in rail] == [0, 1, 1, 2, 3, 3, 3]
    assert rail[-1].observation == "Hotel Dest is on your right; "
    # draws below the drop rate drop the point (draw k belongs to fraction k/5 of its leg)
    _route, rail = paper_dataset_episode(data, 0, 5, 0.5, rng,
                                         PaperDraws(0, None, (0.9, 0.1, 0.1, 0.1, 0.1) + (0.1,) * 5))
    assert [p.kind for p in rail] == ["start", "turn", "destination"]  # 12 m snaps onto the start
    _route, rail = paper_dataset_episode(data, 0, 5, 0.5, rng,
                                         PaperDraws(0, None, (0.1, 0.9, 0.1, 0.1, 0.1) + (0.1,) * 5))
    assert [p.kind for p in rail] == ["start", "forward", "turn", "destination"]
    with pytest.raises(ValueError, match="too few rail draws"):
        paper_dataset_episode(data, 0, 5, 0.5, rng, PaperDraws(0, None, (0.9,) * 9))


def test_missing_start_heading_is_drawn_from_0_to_359(dataset):
    data = RouteDataset.load(dataset)
    assert data.routes[1].init_heading is None
    route, rail = paper_dataset_episode(data, 1, 5, 0.5, None, PaperDraws(1, 10, (0.1,) * 5))
    # a route of one leg: their last block always reads "Turn ..." (theirs: "1. Turn right to face south.")
    assert rail[0].heading == 10.0 and route.sentences[0] == "Turn right to face south."
    headings = set()
    env = paper_env("VIRL-v0", dataset)
    for seed in range(40):
        env.reset(seed=seed, options={"route": 1})
        headings.add(env.unwrapped.rail[0].heading)
        assert float(env.unwrapped.rail[0].heading).is_integer()
    assert len(headings) > 20


def _routes(count: int) -> list[DatasetRoute]:
    """Synthetic routes: even ones have a start heading, odd ones have none; k % 3 + 1 legs of 50 m, and a
    3 m leg at the end of every fourth route (no draws for it)."""
    out = []
    for k in range(count):
        legs = k % 3 + 1
        points = [tuple(geo(50.0 * (i + 1), 0.0)) for i in range(legs)]
        if k % 4 == 0:
            points.append(tuple(geo(50.0 * legs + 3.0, 0.0)))
        out.append(DatasetRoute(index=k, start=tuple(geo(0.0, 0.0)), init_heading=None if k % 2 else 200.0,
                                headings=(90.0,) * len(points), landmarks=(None,) * len(points),
                                geocodes=tuple(points), destination=None))
    return out


@pytest.mark.parametrize("count", [512, 700, 1023])
def test_first_evaluation_route_is_485_for_512_to_1023_routes(count):
    assert paper_evaluation_draws(_routes(count))[0].route == 485


def test_evaluation_replay_follows_the_authors_stream_without_touching_random():
    routes = _routes(40)
    random.seed(99)
    state = random.getstate()
    draws = paper_evaluation_draws(routes)
    assert random.getstate() == state
    assert len(draws) == 48
    # the same stream, spelled out as docs/PAPER_PROTOCOL.md's replay procedure
    rng = random.Random(12)
    for d in draws:
        index = rng.choice(routes).index
        heading = rng.randint(0, 359) if index % 2 else None
        long_legs = index % 3 + 1
        assert d == PaperDraws(index, heading, tuple(rng.random() for _ in range(5 * long_legs)))
    ood = paper_evaluation_draws(routes, visual_ood=True)
    assert [d.route for d in ood] == list(range(18))
    with pytest.raises(ValueError):
        paper_evaluation_draws(routes[:10], visual_ood=True)


def test_replayed_draws_give_the_same_episode_in_text_and_image(dataset):
    draws = paper_evaluation_draws(RouteDataset.load(dataset), episodes=5)
    text, image = paper_env("VIRL-v0", dataset), paper_env("VIRL-VL-RuleOOD-v0", dataset)
    for d in draws:
        text.reset(seed=1, options=d.reset_options())
        image.reset(seed=2, options=d.reset_options())
        assert [(p.position, p.kind, p.heading) for p in text.unwrapped.rail] == \
               [(p.position, p.kind, p.heading) for p in image.unwrapped.rail]


# ---- switches and refusals ---------------------------------------------------------------------------------
def test_protocol_switch_is_checked_and_suite_stays_the_default(dataset):
    assert gym.make("VIRL-v0").unwrapped.protocol == "suite"
    with pytest.raises(ValueError, match="protocol"):
        gym.make("VIRL-v0", protocol="Paper")
    env = gym.make("VIRL-v0", protocol="paper")
    assert env.unwrapped.rules == PAPER_RULES
    assert gym.make("VIRL-RuleOOD-v0", protocol="paper", rules={"max_attempts": 3}).unwrapped.rules == \
        PAPER_RULES.replace(max_attempts=3, action_mode="relative")
    with pytest.raises(ValueError, match="absolute and relative"):
        virl_env.BearingActions(env).reset(seed=0)
    with pytest.raises(ValueError, match="paper_draws"):
        gym.make("VIRL-v0", dataset_dir=dataset).reset(options={"route": 0, "paper_draws": KEEP_ALL})
    with pytest.raises(ValueError, match="paper_draws"):
        env.reset(options={"paper_draws": KEEP_ALL})
    bad = paper_env("VIRL-v0", dataset)
    with pytest.raises(ValueError, match="route option"):
        bad.reset(options={"paper_draws": KEEP_ALL})
    for option in ({"init_heading": 400, "rail_draws": []}, {"rail_draws": []},
                   {"init_heading": None, "rail_draws": [1.5]}, {"init_heading": None, "rail_draws": "0.5"}):
        with pytest.raises((TypeError, ValueError)):
            bad.reset(options={"route": 0, "paper_draws": option})


def test_build_paper_episode_without_panoramas_stays_on_the_leg():
    route = _routes(3)[1]
    _ep, rail = build_paper_episode(route, 5, 0.5, 100, iter([0.9] * 10).__next__)
    assert [round(p.position[0]) for p in rail] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert [p.kind for p in rail].count("turn") == 1
    assert rail[0].heading == 100.0


@pytest.mark.parametrize("env_id", virl_env.TEXT_ENV_IDS)
def test_check_env_passes_under_the_paper_protocol(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id, protocol="paper").unwrapped, skip_render_check=True)


def test_same_seed_same_paper_episode():
    a, b = gym.make("VIRL-v0", protocol="paper"), gym.make("VIRL-v0", protocol="paper")
    for seed in range(5):
        assert a.reset(seed=seed)[0] == b.reset(seed=seed)[0]
        assert a.unwrapped.rail == b.unwrapped.rail


def test_street_view_signs_name_what_the_paper_observation_names():
    env = gym.make("VIRL-VL-v0", protocol="paper", view_size=48)
    checked = 0
    for seed in range(4):
        env.reset(seed=seed)
        done = False
        while not done:
            base = env.unwrapped
            point = base.task.point
            if point.kind in ("turn", "destination"):
                assert {sign.name for sign in base.visible_signs()} == set(point.landmarks)
                assert all(name in point.observation for name in point.landmarks)
                checked += 1
            _obs, _r, term, trunc, _info = env.step(base.expert_reply())
            done = term or trunc
    assert checked >= 4


@pytest.mark.parametrize("reply", [
    "", "{", "[" * 100_000, '{"action": ' * 5_000, "\x00\xff" * 10, '{"action": null}', '{"action": ["stop()"]}',
    '"action": "' + "x" * 70_000 + '"', "\u00e9\u4e2d" * 1000, '{"current observation": 3, "action": "stop()"}',
])
def test_hostile_replies_get_a_paper_verdict(dataset, reply):
    env = paper_env("VIRL-v0", dataset)
    env.reset(seed=0, options={"route": 0, "paper_draws": KEEP_ALL})
    obs, reward, _term, _trunc, info = env.step(reply)
    assert reward in (-1.0, -1.5) and info["verdict"] in (Verdict.INVALID, Verdict.WRONG_ACTION,
                                                           Verdict.WRONG_OBSERVATION)
    assert obs in env.observation_space


@pytest.mark.parametrize("env_id, template, space", [("VIRL-v0", Q_VIRL_L, ABSOLUTE_SPACE),
                                                     ("VIRL-VL-RuleOOD-v0", Q_VIRL_VL, RELATIVE_SPACE)])
def test_generated_city_prompt_is_the_authors_template(env_id, template, space):
    env = gym.make(env_id, protocol="paper", **({"view_size": 32} if "VL" in env_id else {}))
    obs, _info = env.reset(seed=0, options={"route": 5})
    route = env.unwrapped.route
    lines = []
    for k, leg in enumerate(route.legs):
        first = k == 0 and k < len(route.legs) - 1
        lines.append(f"{'First, turn' if first else 'Turn'} {leg.relative} to face {leg.compass}.")
        lines.append(route.sentences[2 * k + 1])
    instruction = "".join(f"{i}. {line}\n" for i, line in enumerate(lines, start=1))
    current = "You observe an image of 4 views; " if "VL" in env_id else "No landmarks nearby; "
    assert (obs["text"] if "VL" in env_id else obs) == fill(template, instruction, space, f"O_1: {current}\nA_1: \n")


# ---- issue 21: the authors' texts exact (measured against their code on routes in their data format) ----------------
def test_failure_messages_end_with_their_final_period():
    from virl_env.protocols.prompts import PAPER_FEEDBACK

    assert set(PAPER_FEEDBACK.values()) == {NOT_AT, AT, WRONG}
    assert all(message.endswith("\n}}.") for message in PAPER_FEEDBACK.values())


@pytest.mark.parametrize("turn, word", [(0.0, "slightly left"), (-45.0, "slightly left"), (-46.0, "left"),
                                        (1e-9, "slightly right"), (45.0, "slightly right"), (46.0, "right"),
                                        (-180.0, "left"), (20.0 - 360.0, "slightly right")])
def test_paper_turn_words_follow_their_thresholds_with_wraparound(turn, word):
    assert paper_relative_turn(100.0, 100.0 + turn) == word
    assert virl_env.PROTOCOLS["paper"].relative_turn(100.0, 100.0 + turn) == word


def test_no_turn_reads_slightly_left_under_paper_and_slightly_right_under_suite(tmp_path):
    # A straight route east in their format: start heading 90, two legs heading 90 (a milestone passed straight on).
    route = {"start_place": {"relocated_geocode": geo(0, 0)}, "init_heading": 90,
             "milestone_info": block("90 (east)", "Cafe Test is on your left", 1) + block("90 (east)"),
             "route_results": {"geocode_list": [geo(30, 0), geo(60, 0)]}, "dest_place": {"name": "Pier"}}
    data = build_dataset(tmp_path / "straight", [route])
    env = paper_env("VIRL-RuleOOD-v0", data)
    obs, info = env.reset(seed=0, options={"route": 0, "paper_draws": {"init_heading": None,
                                                                      "rail_draws": [0.1] * 10}})
    assert info["instruction"].split("\n")[0] == "1. First, turn slightly left to face east."
    assert info["instruction"].split("\n")[2] == "3. Turn slightly left to face east."
    assert env.unwrapped.expert_action() == "turn_direction(slightly left)"
    _obs, reward, *_ = env.step(env.unwrapped.expert_reply())
    assert reward == 1.0 and env.unwrapped.task.point.kind == "turn"
    assert env.unwrapped.expert_action() == "turn_direction(slightly left)"
    # the suite's own rule (a turn of 0 counts as slightly right) is unchanged
    suite = gym.make("VIRL-RuleOOD-v0", dataset_dir=data)
    _obs, info = suite.reset(seed=0, options={"route": 0})
    assert info["instruction"].startswith("1. First, turn slightly right to face east.")
    assert suite.unwrapped.expert_action() == "turn_direction(slightly right)"
    assert relative_turn(90.0, 90.0) == "slightly right"


def test_one_leg_routes_start_with_turn_under_paper_only(dataset):
    env = paper_env("VIRL-v0", dataset)
    _obs, info = env.reset(seed=0, options={"route": 1, "paper_draws": {"init_heading": 10,
                                                                      "rail_draws": [0.9] * 5}})
    assert info["instruction"].startswith("1. Turn right to face south.\n2. Move forward until you reach destination")
    suite = gym.make("VIRL-v0", dataset_dir=dataset)
    _obs, info = suite.reset(seed=0, options={"route": 1})
    assert info["instruction"].startswith("1. First, turn")  # the suite's wording (SPEC.md) stays
    for seed in range(40):  # generated cities: a route of one leg reads "1. Turn ..." too
        _obs, info = gym.make("VIRL-v0", protocol="paper").reset(seed=seed)
        legs = info["instruction"].count("to face")
        assert info["instruction"].startswith("1. Turn " if legs == 1 else "1. First, turn ")


def test_released_landmark_names_are_kept_as_written_under_paper(dataset):
    written = "Caf\u00e9 \u00dcn\u00efcode is on your right front"
    env = paper_env("VIRL-v0", dataset)
    obs, info = env.reset(seed=0, options={"route": 2, "paper_draws": {"init_heading": None,
                                                                      "rail_draws": [0.9] * 5}})
    assert f"where {written}." in info["instruction"] and obs in env.observation_space
    assert set("\u00e9\u00dc\u00ef") <= env.observation_space.character_set
    while not env.unwrapped.task.finished:
        obs, _r, _t, _tr, info = env.step(env.unwrapped.expert_reply())
        assert obs in env.observation_space
    assert info["is_success"] and env.unwrapped.rail[-1].observation == f"{written}; "
    assert env.unwrapped.rail[-1].landmarks == ("Caf\u00e9 \u00dcn\u00efcode",)
    # the suite folds them to the ASCII of its prompts
    suite = gym.make("VIRL-v0", dataset_dir=dataset)
    _obs, info = suite.reset(seed=0, options={"route": 2})
    assert "Cafe Unicode is on your right front" in info["instruction"]
    assert suite.observation_space.character_set == set(virl_env.protocols.prompts.OBS_CHARSET)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for env_id in ("VIRL-v0", "VIRL-VL-v0"):
            check_env(paper_env(env_id, dataset).unwrapped, skip_render_check=True)


def test_written_text_keeps_letters_and_drops_controls():
    from virl_env.released.files import clean_text, written_text

    assert written_text("  Caf\u00e9\tde\u200b la\x00 Paix\u3000\n") == "Caf\u00e9 de la Paix"
    assert written_text("\u6771\u4eac\u30bf\u30ef\u30fc") == "\u6771\u4eac\u30bf\u30ef\u30fc"
    assert clean_text("Caf\u00e9 de la Paix") == "Cafe de la Paix" and len(written_text("x" * 10_000)) == 200
    charset = virl_env.PROTOCOLS["paper"].observation_charset(["Caf\u00e9\x00"])
    assert "\u00e9" in charset and "\x00" not in charset and charset.startswith(virl_env.protocols.prompts.OBS_CHARSET)


@pytest.mark.parametrize("reply", [None, 3, ["forward()"], {"action": "forward()"}, b"forward()"])
def test_a_reply_that_is_not_text_gets_an_invalid_verdict(dataset, reply):
    env = paper_env("VIRL-v0", dataset)
    env.reset(seed=0, options={"route": 0, "paper_draws": KEEP_ALL})
    obs, reward, terminated, _trunc, info = env.step(reply)
    assert (reward, terminated, info["verdict"]) == (-1.0, False, Verdict.INVALID)
    assert info["feedback"] == f"You failed this trial because the reply must be text, not {type(reply).__name__}."
    assert obs.endswith(info["feedback"]) and obs in env.observation_space
    assert paper_grade(reply, _route0_rail(dataset)[0], PAPER_RULES, RewardTable()).verdict is Verdict.INVALID


def test_the_old_grader_name_is_an_alias_outside_all():
    assert paper_module.grade_paper_reply is paper_grade
    assert "grade_paper_reply" not in paper_module.__all__ and "paper_grade" in paper_module.__all__
