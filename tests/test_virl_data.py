"""The released-data loader (virl_env.data) and the pickle converter, on small datasets built here."""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from PIL import Image

from virl_env import released
from virl_env.released import DatasetError, RouteDataset, load_pano_mapping, panoramas
from virl_env.released.convert import convert_pickle_mapping
from virl_env.world.geo import to_geo

REPO = Path(__file__).resolve().parents[1]
ORIGIN = (40.75, -73.99)
PANO_W, PANO_H = 128, 64


def geo(x: float, y: float) -> list[float]:
    lat, lng = to_geo(ORIGIN, (x, y))
    return [lat, lng]


def block(heading: str, landmarks: str | None = None, idx: int = 0) -> str:
    lines = [f'"intersection_idx": "{idx}",']
    if landmarks is not None:
        lines.append(f'"landmarks": "{landmarks}",')
    lines += ['"distance": "50 meters",', f'"to_next_intersection_heading": "{heading}",']
    return "{\n" + "\n".join(lines) + "\n}\n"


def make_routes() -> list[dict]:
    return [
        {"start_place": {"relocated_geocode": geo(0, 0)}, "init_heading": 200,
         "milestone_info": block("90 (east)", "Cafe Test is on your left", 1) + block("0 (north)", "Hotel Dest is on your right", 2),
         "route_results": {"geocode_list": [geo(60, 0), geo(60, 50)], "landmark_list": []},
         "dest_place": {"name": "Hotel Dest", "geocode": geo(62, 50)}},
        {"start_place": {"relocated_geocode": geo(200, 0)}, "init_heading": 0,
         "milestone_info": block("180 (south)"),
         "route_results": {"geocode_list": [geo(200, -40)]}, "dest_place": {"name": "Pier"}},
        {"start_place": {"relocated_geocode": geo(400, 0)}, "init_heading": 10,
         "milestone_info": block("270 (west)", "Caf\u00e9 \u00dcn\u00efcode is on your right front"),
         "route_results": {"geocode_list": [geo(355, 0)]}, "dest_place": {}},
    ]


def pano_image(index: int) -> Image.Image:
    """Red encodes the column (azimuth), blue tells the panoramas apart, green the row."""
    arr = np.zeros((PANO_H, PANO_W, 3), dtype=np.uint8)
    arr[..., 0] = (np.arange(PANO_W) * 2)[None, :]
    arr[..., 1] = (np.arange(PANO_H) * 4)[:, None]
    arr[..., 2] = (30 * index) % 256
    return Image.fromarray(arr)


def build_dataset(root: Path, routes: list[dict] | None = None) -> Path:
    routes = make_routes() if routes is None else routes
    root.mkdir(parents=True, exist_ok=True)
    # "__RAW_1e999__" becomes the JSON number 1e999, which Python's json reads as infinity.
    (root / "route_infos.json").write_text(json.dumps([routes, len(routes)]).replace('"__RAW_1e999__"', "1e999"))
    views = root / "street_views"
    views.mkdir(exist_ok=True)
    entries = []
    points = [(0, 0), (30, 0), (60, 0), (60, 25), (60, 50), (200, 0), (200, -20), (200, -40), (400, 0), (377, 0),
              (355, 0)]
    for i, (x, y) in enumerate(points):
        pano = f"pano_{i}"
        pano_image(i).save(views / f"{pano}.jpg", quality=95)
        (views / f"{pano}.metadata.json").write_text(json.dumps({"rotation": 30.0 * i}))
        entries.append([*geo(x, y), pano])
    (root / "pano_mapping.json").write_text(json.dumps({"format": "virl_env.pano_mapping", "version": 1,
                                                        "entries": entries}))
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return build_dataset(tmp_path / "virl_data")


def run_expert(env, options):
    obs, info = env.reset(seed=0, options=options)
    observations = [info["observation"]]
    while True:
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert_reply())
        observations.append(info["observation"])
        if terminated or truncated:
            return info, observations


def test_text_env_plays_the_released_format(dataset):
    env = gym.make("virl_env:VIRL-v0", dataset_dir=dataset, render_mode="rgb_array", render_size=200)
    assert env.unwrapped.num_routes == 3
    obs, info = env.reset(seed=0, options={"route": 0})
    assert info["instruction"].split("\n") == [
        "1. First, turn left to face east.",
        "2. Move forward until you reach the next intersection where Cafe Test is on your left.",
        "3. Turn left to face north.",
        "4. Move forward until you reach the destination where Hotel Dest is on your right.",
    ]
    assert info["style"] == "dataset" and info["city_seed"] is None and obs in env.observation_space
    json.dumps(info)
    assert env.render().shape == (200, 200, 3)
    assert env.unwrapped.expert_action() == "turn_direction(east)"
    info, observations = run_expert(env, {"route": 0})
    assert info["is_success"] and info["num_points"] == 7  # start, 2 + turn, 2 + destination
    assert "Cafe Test is on your left; You observe an intersection" in observations
    info, observations = run_expert(env, {"route": 2})
    assert info["is_success"] and "Cafe Unicode is on your right front" in info["instruction"]
    rel = gym.make("virl_env:VIRL-RuleOOD-v0", dataset_dir=dataset)
    rel.reset(options={"route": 0})
    assert rel.unwrapped.expert_action() == "turn_direction(left)"  # 200 -> 90 wraps to a left turn
    with pytest.raises(ValueError, match="< 3"):
        env.reset(options={"route": 3})
    with pytest.raises(ValueError, match="city_seed"):
        env.reset(options={"route": 0, "city_seed": 1})


def test_missing_initial_heading_is_drawn_from_the_seed(dataset):
    env = gym.make("virl_env:VIRL-v0", dataset_dir=dataset)
    headings = []
    for seed in range(12):
        _, a = env.reset(seed=seed, options={"route": 1})
        headings.append(env.unwrapped.rail[0].heading)
        _, b = env.reset(seed=seed, options={"route": 1})
        assert a["instruction"] == b["instruction"]
    assert len(set(headings)) > 5 and all(abs(((h - 180) + 180) % 360 - 180) >= 15 for h in headings)


def test_image_env_cuts_views_from_the_panoramas(dataset):
    env = gym.make("virl_env:VIRL-VL-v0", dataset_dir=dataset, view_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    obs, info = env.reset(options={"route": 0})
    image = obs["image"]
    assert image.shape == (66, 66, 3) and obs in env.observation_space
    # Front view at the start: panorama 0 (blue 0), rotation 0, heading 200: column 200/360 of the width.
    front = image[16, 16].astype(int)
    assert abs(front[0] - 2 * (200 / 360 * PANO_W)) <= 12 and front[2] < 15
    right = image[16, 32 + 2 + 16].astype(int)
    assert abs(right[0] - 2 * (((200 + 90) % 360) / 360 * PANO_W)) <= 12
    obs, *_ = env.step(env.unwrapped.expert_reply())          # turn: next point is 30 m east
    assert abs(int(obs["image"][16, 16, 2]) - 30) <= 12      # panorama 1
    info, _ = run_expert(env, {"route": 2})
    assert info["is_success"]


def test_converter_requires_opt_in_and_round_trips(tmp_path):
    mapping = {(40.75, -73.99): "abc_DEF-1", (np.float64(40.751), np.float64(-73.991)): "xyz"}
    src = tmp_path / "mapping.pkl"
    src.write_bytes(pickle.dumps(mapping))
    out = tmp_path / "pano_mapping.json"
    with pytest.raises(PermissionError, match="trust_pickle"):
        convert_pickle_mapping(src, out)
    assert not out.exists()
    cli = [sys.executable, "-m", "virl_env.released.convert", str(src), str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    refused = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 2 and "--trust-pickle" in refused.stderr and not out.exists()
    helped = subprocess.run([sys.executable, "-m", "virl_env.released.convert", "--help"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert "arbitrary code" in helped.stdout
    done = subprocess.run(cli + ["--trust-pickle"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    index = load_pano_mapping(out)
    assert sorted(index.entries) == [(40.75, -73.99, "abc_DEF-1"), (40.751, -73.991, "xyz")]
    assert index.nearest((40.75001, -73.99))[0] == "abc_DEF-1"
    with pytest.raises(DatasetError, match="no panorama within"):
        index.nearest((41.0, -73.99))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned_marker",))


def test_converter_never_runs_code_from_a_pickle(tmp_path):
    src = tmp_path / "evil.pkl"
    src.write_bytes(pickle.dumps({(1.0, 2.0): _Evil()}))
    os.chdir(tmp_path)
    with pytest.raises(DatasetError, match="refusing"):
        convert_pickle_mapping(src, tmp_path / "out.json", trust_pickle=True)
    assert not (tmp_path / "pwned_marker").exists()
    bad = tmp_path / "list.pkl"
    bad.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(DatasetError, match="expected a dict"):
        convert_pickle_mapping(bad, tmp_path / "out.json", trust_pickle=True)
    traversal = tmp_path / "trav.pkl"
    traversal.write_bytes(pickle.dumps({(1.0, 2.0): "../x"}))
    with pytest.raises(DatasetError, match="panorama id"):
        convert_pickle_mapping(traversal, tmp_path / "out.json", trust_pickle=True)


def _edit(path: str, value):
    def apply(routes):
        target = routes[0]
        keys = path.split(".")
        for k in keys[:-1]:
            target = target[k]
        if value is KeyError:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
        return routes
    return apply


HOSTILE_ROUTES = [
    (_edit("start_place.relocated_geocode", ["__RAW_1e999__", 1.0]), "relocated_geocode"),
    (_edit("start_place.relocated_geocode", [1e308, 1.0]), "relocated_geocode"),
    (_edit("start_place.relocated_geocode", [40.0, 10**30]), "relocated_geocode"),
    (_edit("start_place.relocated_geocode", [95.0, 1.0]), "relocated_geocode"),
    (_edit("start_place.relocated_geocode", "40.7,-73.9"), "relocated_geocode"),
    (_edit("start_place", KeyError), "start_place"),
    (_edit("init_heading", "north"), "init_heading"),
    (_edit("init_heading", True), "init_heading"),
    (_edit("milestone_info", 42), "milestone_info"),
    (_edit("milestone_info", ""), "milestone_info"),
    (_edit("milestone_info", block("up (north)")), "to_next_intersection_heading"),
    (_edit("milestone_info", block("90 (upward)")), "upward"),
    (_edit("milestone_info", block("99999999999999999999 (east)")), "to_next_intersection_heading"),
    (_edit("milestone_info", '{"landmarks": "x"}'), "to_next_intersection_heading is missing"),
    (_edit("milestone_info", block("90 (east)") * 17), "blocks"),
    (_edit("route_results.geocode_list", [geo(60, 0)]), "geocode_list has 1 points"),
    (_edit("route_results.geocode_list", None), "geocode_list"),
    (_edit("route_results.geocode_list", [[40.0, -73.0], [40.0, -73.0]]), "20 km"),
]


@pytest.mark.parametrize("mutate,field", HOSTILE_ROUTES)
def test_malformed_route_files_name_the_file_and_field(tmp_path, mutate, field):
    routes = mutate(make_routes())
    root = build_dataset(tmp_path / "d", routes)
    with pytest.raises(DatasetError, match=field) as err:
        RouteDataset.load(root)
    assert "route_infos.json" in str(err.value) and "routes[0]" in str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("content,message", [
    (b'[[{"start_place": ', "not valid JSON"),
    (b"[[], 0]", "no routes"),
    (b'{"routes": []}', "expected"),
    (b"[" * 100_000, "not valid JSON"),
    (b"[[" + b"1" * 5000 + b"], 1]", "not valid JSON"),
    (b"\xff\xfe garbage", "not valid JSON"),
    (b"[[NaN], 1]", "not valid JSON"),
])
def test_malformed_json_files(tmp_path, content, message):
    root = build_dataset(tmp_path / "d")
    (root / "route_infos.json").write_bytes(content)
    with pytest.raises(DatasetError, match=message) as err:
        RouteDataset.load(root)
    assert "route_infos.json" in str(err.value)


@pytest.mark.parametrize("entries,message", [
    ([[40.75, -73.99, "../etc/passwd"]], "panorama id"),
    ([[40.75, -73.99, "a/b"]], "panorama id"),
    ([[40.75, -73.99, 7]], "panorama id"),
    ([[40.75, 200.0, "ok"]], "lng"),
    ([[40.75, -73.99]], r"\[lat, lng, pano_id\]"),
    ([], "no entries"),
    ("all", "entries must be a list"),
])
def test_malformed_mappings(tmp_path, entries, message):
    root = build_dataset(tmp_path / "d")
    (root / "pano_mapping.json").write_text(json.dumps({"format": "virl_env.pano_mapping", "version": 1,
                                                       "entries": entries}))
    with pytest.raises(DatasetError, match=message) as err:
        RouteDataset.load(root)
    assert "pano_mapping.json" in str(err.value)


def test_mapping_must_be_converted_first(tmp_path):
    root = build_dataset(tmp_path / "d")
    (root / "pano_mapping.json").unlink()
    (root / "gps_to_pano.pkl").write_bytes(b"not even read")
    with pytest.raises(DatasetError, match="python -m virl_env.released.convert"):
        RouteDataset.load(root)
    (root / "pano_mapping.json").write_text(json.dumps({"format": "pickle", "version": 1, "entries": []}))
    with pytest.raises(DatasetError, match="format"):
        RouteDataset.load(root)
    with pytest.raises(DatasetError, match="not found"):
        RouteDataset.load(tmp_path / "nowhere")


def _break_pano_0(root: Path, how: str) -> None:
    image = root / "street_views" / "pano_0.jpg"
    meta = root / "street_views" / "pano_0.metadata.json"
    if how == "truncated":
        image.write_bytes(image.read_bytes()[:200])
    elif how == "not an image":
        image.write_bytes(b"GIF89a" + b"\x00" * 100)
    elif how == "missing image":
        image.unlink()
    elif how == "no rotation":
        meta.write_text("{}")
    elif how == "nan rotation":
        meta.write_text('{"rotation": NaN}')
    elif how == "string rotation":
        meta.write_text('{"rotation": "north"}')
    elif how == "not 2:1":
        Image.new("RGB", (64, 64)).save(image)


@pytest.mark.parametrize("how,file,message", [
    ("truncated", "pano_0.jpg", "cannot decode"),
    ("not an image", "pano_0.jpg", "cannot decode"),
    ("missing image", "pano_0.jpg", "missing"),
    ("no rotation", "pano_0.metadata.json", "rotation is missing"),
    ("nan rotation", "pano_0.metadata.json", "not valid JSON"),
    ("string rotation", "pano_0.metadata.json", "rotation must be a number"),
    ("not 2:1", "pano_0.jpg", "equirectangular"),
])
def test_bad_panoramas_fail_clearly(tmp_path, how, file, message):
    root = build_dataset(tmp_path / "d")
    _break_pano_0(root, how)
    env = gym.make("virl_env:VIRL-VL-v0", dataset_dir=root, view_size=32)
    with pytest.raises(DatasetError, match=message) as err:
        env.reset(options={"route": 0})
    assert file in str(err.value)
    with pytest.raises(DatasetError, match=message):
        env.unwrapped.dataset.check_panoramas()


def test_oversized_panorama_is_refused_before_decoding(tmp_path, monkeypatch):
    root = build_dataset(tmp_path / "d")
    monkeypatch.setattr(panoramas, "MAX_PANORAMA_PIXELS", 1000)
    env = gym.make("virl_env:VIRL-VL-v0", dataset_dir=root, view_size=32)
    with pytest.raises(DatasetError, match="the limit is 1000"):
        env.reset(options={"route": 1})


def test_released_room_exports_its_public_names():
    for name in released.__all__:
        assert getattr(released, name) is not None
    from virl_env.released import dataset

    assert released.RouteDataset is dataset.RouteDataset


# ---- issue 13 item 3: hostile mapping pickles, built here ---------------------------------------------
class _Reduce:
    """Pickles as ``func(*args)`` (and an optional state), whatever that builds: a hostile file's opcodes."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _numpy_scalar(dtype_name: str, state: tuple, payload: bytes) -> _Reduce:
    """A numpy scalar as its pickle says it: ``scalar(dtype(name) with state, payload)``."""
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    return _Reduce(scalar, (_Reduce(np.dtype, (dtype_name, False, True), state), payload))


def _shared_tuple(depth: int) -> tuple:
    value: tuple = ()
    for _ in range(depth):
        value = (value, value)  # the pickle stores each level once; hashing or printing walks 2**depth
    return value


def _dict_with_shared_tuple_key(depth: int) -> bytes:
    """The pickle of ``{(_shared_tuple(depth), 1.0): "abc"}``, written opcode by opcode: building that
    dict here would hash the key, which is the very hang the converter must avoid."""
    ops = [b"\x80\x02}(", b")q\x00"]  # protocol 2, empty dict, mark; level 0: () memoised as 0
    for level in range(depth):
        ops.append(bytes([0x68, level, 0x68, level, 0x86, 0x71, level + 1]))  # get, get, tuple2, put
    ops.append(b"G" + struct.pack(">d", 1.0) + b"\x86")  # (deep, 1.0)
    ops.append(b"X\x03\x00\x00\x00abcu.")  # "abc", setitems, stop
    return b"".join(ops)


def _shared_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value, value]
    return value


FLOAT_STATE = (3, "<", None, None, None, -1, -1, 0)
HOSTILE_PICKLES = {
    # numpy's structured dtypes let a field's offset point past the scalar: reads stray memory or crashes.
    "structured dtype": ({(_numpy_scalar("V8", (3, "|", None, ("a",), {"a": (np.dtype("f8"), 1 << 40)}, 8, 1, 16),
                                         b"\0" * 8), 1.0): "abc"}, "structured numpy dtype"),
    "deep shared tuple key": (_dict_with_shared_tuple_key(80), "entry 0"),
    "deep shared tuple id": ({(1.0, 2.0): _shared_tuple(80)}, "entry 0"),
    "deep shared list id": ({(1.0, 2.0): _shared_list(80)}, "entry 0"),
    "deep shared top level": (_shared_list(80), "expected a dict"),
    "numpy str coordinate": ({(np.str_("40.7"), 1.0): "abc"}, "entry 0: lat must be a plain or numpy float, got a numpy str"),
    "numpy datetime coordinate": ({(1.0, np.datetime64("2020-01-01")): "abc"}, "entry 0: lng .* numpy datetime"),
    "numpy complex coordinate": ({(1.0, 2.0): "a", (np.complex128(40 + 1j), 1.0): "b"}, "entry 1: lat .* numpy complex"),
    "numpy int coordinate": ({(np.int64(40), 1.0): "abc"}, "numpy int"),
    "numpy str id": ({(1.0, 2.0): np.str_("abc")}, "entry 0 .* the panorama id must be a string"),
    "bool coordinate": ({(True, 1.0): "abc"}, "entry 0: lat"),
    "huge int coordinate": ({(10**400, 1.0): "abc"}, "entry 0: lat"),
    "short float bytes": ({(_numpy_scalar("f8", FLOAT_STATE, b"\0" * 3), 1.0): "abc"}, "3 bytes"),
    "three coordinates": ({(1.0, 2.0, 3.0): "abc"}, "entry 0: the key must be a \\(lat, lng\\) pair"),
    "set": ({(1.0, 2.0): "a", "x": frozenset({1, 2})}, "sets or objects"),
    "other global": ({(1.0, 2.0): _Reduce(os.getcwd, ())}, "refusing"),
}


@pytest.mark.parametrize("name", list(HOSTILE_PICKLES))
def test_converter_refuses_hostile_pickles_with_its_own_error(tmp_path, name):
    """Each used to crash, hang, print stray memory, raise an unrelated error or drop data silently."""
    value, message = HOSTILE_PICKLES[name]
    src = tmp_path / "mapping.pkl"
    src.write_bytes(value if isinstance(value, bytes) else
                    pickle.dumps(value, protocol=2 if name == "short float bytes" else 4))
    assert src.stat().st_size < 20_000  # small files: the danger is in what they expand to
    out = tmp_path / "out.json"
    # In a child process, so a crash or a hang of the converter fails this test instead of the run.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "virl_env.released.convert", str(src), str(out), "--trust-pickle"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.startswith(f"error: {src}") and "Traceback" not in done.stderr
    with pytest.raises(DatasetError, match=message) as err:
        convert_pickle_mapping(src, out, trust_pickle=True)
    assert str(src) in str(err.value) and not out.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_converter_reads_numpy_floats_of_every_width_and_byte_order(tmp_path, protocol):
    mapping = {(40.75, -73.99): "plain", (np.float64(40.751), np.float64(-73.991)): "f8",
               (np.float32(40.5), np.float16(-73.5)): "narrow",
               (np.array([40.25], dtype=">f8")[0], 1): "big_endian"}
    src = tmp_path / "mapping.pkl"
    src.write_bytes(pickle.dumps(mapping, protocol=protocol))
    assert convert_pickle_mapping(src, tmp_path / "out.json", trust_pickle=True) == 4
    entries = sorted(load_pano_mapping(tmp_path / "out.json").entries, key=lambda e: e[2])
    assert entries == [(40.25, 1.0, "big_endian"), (40.751, -73.991, "f8"), (40.5, -73.5, "narrow"),
                       (40.75, -73.99, "plain")]



def _colliding_mapping_pickle(count: int) -> bytes:
    """A dict pickle whose keys all share one ``hash()``: ``(k * (2**61 - 1), 0.0)`` (Python hashes an int modulo
    the Mersenne prime 2**61 - 1, and a tuple by its items' hashes). Written opcode by opcode, so nothing here
    hashes the keys."""
    body = bytearray(b"\x80\x02}(")  # protocol 2, EMPTY_DICT, MARK
    for k in range(count):
        body += pickle.dumps((k * (2**61 - 1), 0.0), protocol=2)[2:-1] + pickle.dumps(f"p{k}", protocol=2)[2:-1]
    return bytes(body + b"u.")  # SETITEMS, STOP


def test_converter_stays_linear_on_keys_crafted_to_collide_in_hash(tmp_path):
    """Filling a dict with 100,000 colliding keys takes minutes (quadratic); the converter reads the entries as a
    list, so the file is refused for its first out-of-range coordinate in about a second. The guard is a hang
    limit, not a speed assertion (benchmarks measure speed)."""
    from fuzz_support import hang_guard

    src = tmp_path / "colliding.pkl"
    src.write_bytes(_colliding_mapping_pickle(100_000))
    with hang_guard("converting 100,000 colliding keys", seconds=20.0):
        with pytest.raises(DatasetError, match=r"entry 1: lat must be a finite number"):
            convert_pickle_mapping(src, tmp_path / "out.json", trust_pickle=True)


def test_converter_merges_repeated_coordinates_as_the_pickled_dict_did(tmp_path):
    """A pair written twice keeps its first place and takes the last id (dict semantics), also as 1 vs 1.0 and
    -0.0 vs 0.0; the merge is keyed by the pair's bytes, not by ``hash()`` of the numbers."""
    body = bytearray(b"\x80\x02}(")
    for key, value in [((40.0, -0.0), "a"), ((41.5, 2.0), "b"), ((40, 0.0), "c"), ((42.0, 3.0), "d")]:
        body += pickle.dumps(key, protocol=2)[2:-1] + pickle.dumps(value, protocol=2)[2:-1]
    src = tmp_path / "repeated.pkl"
    src.write_bytes(bytes(body + b"u."))
    assert pickle.loads(src.read_bytes()) == {(40.0, 0.0): "c", (41.5, 2.0): "b", (42.0, 3.0): "d"}
    assert convert_pickle_mapping(src, tmp_path / "out.json", trust_pickle=True) == 3
    assert [e[2] for e in load_pano_mapping(tmp_path / "out.json").entries] == ["c", "b", "d"]
