"""Training data sources: shapes, determinism per seed, the physics and the splits, and every bad .npz refused clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm2d.spec import LSTM, Dense, Flatten, InputSpec, ModelSpec
from lstm2d.train.config import DataConfig
from lstm2d.train.data import Task, load_data, moving_digits, moving_pattern, sensor_grid
from lstm2d.train.data.sensor_grid import SensorGridParams
from lstm2d.train.errors import DataError
from tests.graph_models import TWO_HEADS

SHAPES = [
    InputSpec.frames(6, 10, 10, 1),
    InputSpec.frames(4, 7, 12, 3),
    InputSpec.frames(1, 9, 8, 2),
]  # the article's, H != W with C > 1, T = 1


def _ids(shape: InputSpec) -> str:
    return f"T{shape.timesteps}-{shape.height}x{shape.width}x{shape.channels}"


def _model(shape: InputSpec, *, per_timestep: bool = False) -> ModelSpec:
    """A frames model reading ``shape``: one value per sample, or per timestep."""
    return ModelSpec(shape, (Flatten(), LSTM(2, return_sequences=per_timestep), Dense(1, name="out")))


# -- sensor-grid ----------------------------------------------------------------------------


@pytest.mark.parametrize("per_timestep", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_sensor_grid_shapes_and_task(shape, per_timestep):
    data = sensor_grid.load(shape, output="y", samples=20, val_fraction=0.25, per_timestep=per_timestep, seed=1)
    assert len(data.train) == 15 and len(data.val) == 5
    assert tuple(data.train.inputs["frames"].shape) == (15, shape.timesteps, shape.channels, shape.height, shape.width)
    assert data.train.inputs["frames"].dtype == torch.float32
    assert tuple(data.val.targets["y"].shape) == ((5, shape.timesteps, 1) if per_timestep else (5, 1))
    assert data.tasks == {"y": Task("regression", 1, per_timestep)}
    assert data.inputs == (shape,)


def test_sensor_grid_is_deterministic_per_seed():
    shape = InputSpec.frames(5, 10, 10, 2)
    first, again, other = (
        sensor_grid.load(shape, output="y", samples=12, val_fraction=0.25, per_timestep=False, seed=s) for s in (3, 3, 4)
    )
    assert torch.equal(first.train.inputs["frames"], again.train.inputs["frames"]) and torch.equal(
        first.val.targets["y"], again.val.targets["y"]
    )
    assert not torch.equal(first.train.inputs["frames"], other.train.inputs["frames"])


def test_sensor_grid_sequence_target_ends_with_the_sample_target():
    """Per-timestep targets are the same forecast made after every frame: the last one is the per-sample target."""
    shape = InputSpec.frames(6, 10, 10, 1)
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    x_seq, y_seq = sensor_grid.generate(8, shape, per_timestep=True, rng=rng())
    x_one, y_one = sensor_grid.generate(8, shape, per_timestep=False, rng=rng())
    np.testing.assert_array_equal(x_seq, x_one)
    np.testing.assert_array_equal(y_seq[:, -1], y_one)


def test_sensor_grid_target_is_the_peak_ahead():
    """Still air, no decay, no diffusion, no noise, no new puffs after the burn-in: the target is the last frame's peak."""
    params = SensorGridParams(wind_speed=(0.0, 0.0), diffusivity=0.0, decay=1.0, noise=0.0, burn_in=3, puff_rate=0.0)
    x, y = sensor_grid.generate(
        4, InputSpec.frames(3, 10, 10, 1), per_timestep=False, rng=np.random.default_rng(0), params=params
    )
    assert np.all(x == 0) and np.all(y == 0)
    params = SensorGridParams(wind_speed=(0.0, 0.0), diffusivity=0.0, decay=1.0, noise=0.0, puff_rate=1.0)
    x, y = sensor_grid.generate(4, InputSpec.frames(3, 10, 10, 1), per_timestep=True, rng=np.random.default_rng(0), params=params)
    np.testing.assert_allclose(y[..., 0], x[:, :, 0].reshape(4, 3, -1).max(axis=2), rtol=1e-6)


@pytest.mark.parametrize("shift", [(1.0, 0.0), (0.0, -1.0), (2.0, 3.0)])
def test_advection_by_whole_cells_is_a_periodic_roll(shift):
    u = np.random.default_rng(0).random((2, 3, 7, 5))
    vy, vx = np.full(2, shift[0]), np.full(2, shift[1])
    np.testing.assert_allclose(
        sensor_grid._advect(u, vy, vx), np.roll(u, (int(shift[0]), int(shift[1])), axis=(2, 3)), atol=1e-12
    )


def test_advection_conserves_mass_and_half_cells_average_neighbours():
    u = np.random.default_rng(1).random((3, 1, 6, 6))
    moved = sensor_grid._advect(u, np.array([0.3, -0.7, 0.5]), np.array([0.9, 0.2, 0.0]))
    np.testing.assert_allclose(moved.sum(axis=(1, 2, 3)), u.sum(axis=(1, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(moved[2], 0.5 * (u[2] + np.roll(u[2], 1, axis=1)), atol=1e-12)


# -- moving-digits -------------------------------------------------------------------------


@pytest.mark.parametrize("per_timestep", [False, True])
@pytest.mark.parametrize(
    "shape", [InputSpec.frames(6, 10, 10, 1), InputSpec.frames(4, 12, 16, 3), InputSpec.frames(3, 8, 8, 1)], ids=_ids
)
def test_moving_digits_shapes_and_task(shape, per_timestep):
    data = moving_digits.load(shape, output="y", samples=30, val_fraction=0.2, per_timestep=per_timestep, seed=0)
    assert tuple(data.train.inputs["frames"].shape) == (24, shape.timesteps, shape.channels, shape.height, shape.width)
    assert data.train.targets["y"].dtype == torch.int64
    assert tuple(data.val.targets["y"].shape) == ((6, shape.timesteps) if per_timestep else (6,))
    assert int(data.train.targets["y"].min()) >= 0 and int(data.train.targets["y"].max()) <= 9
    assert data.tasks == {"y": Task("classification", 10, per_timestep)}


def test_moving_digits_move_and_bounce_inside_the_canvas():
    images, labels = moving_digits.digit_images()
    shape = InputSpec.frames(12, 11, 10, 1)
    x, y = moving_digits.generate(images[:5], labels[:5], 20, shape, per_timestep=False, rng=np.random.default_rng(0))
    assert np.all(y >= 0)
    ink = x[:, :, 0] > 0.25  # (n, T, H, W): the digit's pixels, above the noise
    rows = ink.any(axis=3).argmax(axis=2)  # first inked row per frame
    cols = ink.any(axis=2).argmax(axis=2)
    moved = (np.diff(rows, axis=1) != 0) | (np.diff(cols, axis=1) != 0)
    assert moved.any(axis=1).all(), "every digit moves"
    assert np.abs(np.diff(rows, axis=1)).max() <= 2 and np.abs(np.diff(cols, axis=1)).max() <= 2


def test_moving_digits_validation_uses_held_out_handwriting():
    data = moving_digits.load(
        InputSpec.frames(2, 8, 8, 1), output="y", samples=400, val_fraction=0.25, per_timestep=False, seed=0
    )
    images = torch.from_numpy(moving_digits.digit_images()[0]).reshape(-1, 64).float()

    def which(x: torch.Tensor) -> set[int]:  # on an 8x8 canvas the digit fills the frame: the nearest image is it
        return set(torch.cdist(x[:, 0, 0].reshape(-1, 64), images).argmin(dim=1).tolist())

    train, val = which(data.train.inputs["frames"]), which(data.val.inputs["frames"])
    assert len(train) > 200 and len(val) > 50
    assert train.isdisjoint(val)


def test_moving_digits_refuse_a_canvas_smaller_than_a_digit():
    with pytest.raises(DataError, match=r"at least 8x8 .* got 7x10; pass --frame"):
        moving_digits.load(InputSpec.frames(3, 7, 10, 1), output="y", samples=10, val_fraction=0.2, per_timestep=False, seed=0)


@pytest.mark.parametrize("source", ["sensor-grid", "moving-digits"])
def test_builtin_sources_need_a_sample_on_each_side_of_the_split(source):
    with pytest.raises(DataError, match=r"cannot split 3 sample\(s\) into train and validation with --val-fraction 0.9"):
        load_data(DataConfig(source, samples=3, val_fraction=0.9), _model(InputSpec.frames(2, 8, 8, 1)), seed=0)


def test_builtin_sources_follow_the_model_unless_told():
    model_input = InputSpec.frames(100, 10, 10, 3)
    data = load_data(DataConfig("sensor-grid", samples=10, timesteps=4), _model(model_input), seed=0)
    assert data.inputs == (InputSpec.frames(4, 10, 10, 3),)
    data = load_data(DataConfig("moving-digits", samples=10, frame=(9, 11)), _model(InputSpec.frames(3, 10, 10, 1)), seed=0)
    assert data.inputs == (InputSpec.frames(3, 9, 11, 1),)
    data = load_data(DataConfig("sensor-grid", samples=10), _model(InputSpec.frames(None, 6, 6, 1), per_timestep=True), seed=0)
    assert data.inputs[0].timesteps == 20 and data.tasks["out"].per_timestep


# -- .npz files ----------------------------------------------------------------------------


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("y", "kind", "units", "per_timestep"),
    [
        (np.zeros(10, np.float32), "regression", 1, False),
        (np.zeros((10, 3)), "regression", 3, False),
        (np.zeros((10, 4, 2), np.float16), "regression", 2, True),
        (np.arange(10) % 3, "classification", 3, False),
        (np.tile(np.arange(4, dtype=np.uint8), (10, 1)), "classification", 4, True),
    ],
)
def test_npz_task_follows_y(tmp_path, y, kind, units, per_timestep):
    x = np.random.default_rng(0).random((10, 4, 5, 6, 2)).astype(np.float32)  # (N, T, H, W, C)
    path = _save(tmp_path / "d.npz", x=x, y=y)
    data = load_data(DataConfig(str(path), val_fraction=0.3), _model(InputSpec.frames(4, 5, 6, 2)), seed=0)
    assert data.tasks == {"out": Task(kind, units, per_timestep)}
    assert (len(data.train), len(data.val)) == (7, 3)
    assert data.inputs == (InputSpec.frames(4, 5, 6, 2),)


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_npz_layouts_give_the_same_samples(tmp_path, layout):
    x = np.random.default_rng(0).random((6, 3, 5, 4, 2)).astype(np.float32)  # (N, T, H, W, C)
    stored = x if layout == "channels_last" else x.transpose(0, 1, 4, 2, 3)
    path = _save(tmp_path / "d.npz", x=stored, y=np.arange(6, dtype=np.float64))
    data = load_data(DataConfig(str(path), layout=layout, val_fraction=0.5), _model(InputSpec.frames(3, 5, 4, 2)), seed=0)
    assert data.inputs == (InputSpec.frames(3, 5, 4, 2),)
    for dataset in (data.train, data.val):
        for sample, target in zip(dataset.inputs["frames"], dataset.targets["out"], strict=True):
            np.testing.assert_array_equal(sample.numpy(), x[int(target.item())].transpose(0, 3, 1, 2))


GOOD_X = np.zeros((8, 3, 4, 4, 1), np.float32)
GOOD_Y = np.zeros(8, np.float32)


def _nan_at(array: np.ndarray, index: tuple[int, ...], value: float = np.nan) -> np.ndarray:
    array = array.astype(np.float32).copy()
    array[index] = value
    return array


BAD_NPZ = {
    "missing y": ({"x": GOOD_X}, r"expected the arrays \['x', 'y'\], found \['x'\]: missing \['y'\]"),
    "x 4 axes": (
        {"x": GOOD_X[:, 0], "y": GOOD_Y},
        r"x: expected 5 axes \(N, T, H, W, C\) .* found shape \(8, 4, 4, 1\) .*x\[:, None\]",
    ),
    "x 6 axes": ({"x": GOOD_X[..., None], "y": GOOD_Y}, r"x: expected 5 axes .* found shape \(8, 3, 4, 4, 1, 1\)"),
    "x complex": ({"x": GOOD_X.astype(np.complex64), "y": GOOD_Y}, r"x: expected a float or integer dtype, found complex64"),
    "x bool": ({"x": GOOD_X.astype(bool), "y": GOOD_Y}, r"x: expected a float or integer dtype, found bool"),
    "x strings": ({"x": np.full((2, 1, 1, 1, 1), "a"), "y": GOOD_Y[:2]}, r"x: expected a float or integer dtype, found <U1"),
    "x empty": ({"x": GOOD_X[:, :0], "y": GOOD_Y}, r"x: expected a non-empty array .* found shape \(8, 0, 4, 4, 1\)"),
    "x NaN": (
        {"x": _nan_at(GOOD_X, (2, 1, 0, 3, 0)), "y": GOOD_Y},
        r"x: expected finite values, found 1 NaN/Inf, the first at index \(2, 1, 0, 3, 0\)",
    ),
    "y Inf": (
        {"x": GOOD_X, "y": _nan_at(GOOD_Y, (5,), np.inf)},
        r"y: expected finite values, found 1 NaN/Inf, the first at index \(5,\)",
    ),
    "N mismatch": (
        {"x": GOOD_X, "y": GOOD_Y[:7]},
        r"expected the same number of samples in every array, 8 as in x, found x 8, y 7",
    ),
    "y scalar": (
        {"x": GOOD_X, "y": np.float32(1)},
        r"expected the same number of samples in every array, 8 as in x, found x 8, y a scalar",
    ),
    "y float 4 axes": (
        {"x": GOOD_X, "y": np.zeros((8, 3, 1, 1))},
        r"y: expected float targets \(N,\), \(N, K\) or \(N, T, K\) .* found shape \(8, 3, 1, 1\)",
    ),
    "y float wrong T": ({"x": GOOD_X, "y": np.zeros((8, 5, 1))}, r"with T = 3 as in the inputs, found shape \(8, 5, 1\)"),
    "y int wrong T": (
        {"x": GOOD_X, "y": np.zeros((8, 2), np.int64)},
        r"integer class ids \(N,\) or \(N, T\) with T = 3 as in the inputs, found shape \(8, 2\)",
    ),
    "y negative class": ({"x": GOOD_X, "y": np.array([0, 1, -1, 0, 1, 0, 1, 0])}, r"expected class ids 0, 1, 2, ..., found -1"),
    "y one class": ({"x": GOOD_X, "y": np.zeros(8, np.int32)}, r"expected at least 2 classes, found only class 0"),
    "y bool": (
        {"x": GOOD_X, "y": np.zeros(8, bool)},
        r"y: expected float targets \(regression\) or integer class ids .* found dtype bool",
    ),
    "y objects": ({"x": GOOD_X, "y": np.array([{}] * 8, dtype=object)}, r"holds object arrays, which need pickle"),
    "too few to split": ({"x": GOOD_X[:1], "y": GOOD_Y[:1]}, r"cannot split 1 sample\(s\) into train and validation"),
}


@pytest.mark.parametrize("case", BAD_NPZ)
def test_bad_npz_is_refused_with_what_was_expected_and_found(tmp_path, case):
    arrays, message = BAD_NPZ[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_data(DataConfig(str(path)), _model(InputSpec.frames(3, 4, 4, 1)), seed=0)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.npz", None, r"absent.npz: no such file"),
        ("text.npz", b"not numpy at all", r"expected a .npz archive \(np.savez\), found something else"),
        ("array.npz", "npy", r"found a single .npy array"),
        ("broken.npz", b"PK\x03\x04 truncated zip", r"not a readable .npz file"),
    ],
)
def test_unreadable_npz_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content == "npy":
        with path.open("wb") as handle:
            np.save(handle, GOOD_X)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_data(DataConfig(str(path)), _model(InputSpec.frames(3, 4, 4, 1)), seed=0)


def test_data_must_be_a_builtin_source_or_npz(tmp_path):
    expected = r"expected sensor-grid or moving-digits or moving-pattern or a .npz file, got 'digits.csv'"
    with pytest.raises(DataError, match=expected):
        load_data(DataConfig("digits.csv"), _model(InputSpec.frames(3, 4, 4, 1)), seed=0)


def test_moving_pattern_targets_are_the_next_frames():
    shape = InputSpec.frames(6, 9, 7, 2)
    data = moving_pattern.load(shape, output="y", samples=10, val_fraction=0.2, seed=3)
    again = moving_pattern.load(shape, output="y", samples=10, val_fraction=0.2, seed=3)
    assert torch.equal(data.train.inputs["frames"], again.train.inputs["frames"]) and torch.equal(
        data.val.targets["y"], again.val.targets["y"]
    )  # deterministic per seed
    assert (
        tuple(data.train.inputs["frames"].shape) == (8, 6, 2, 9, 7)
        and data.train.targets["y"].shape == data.train.inputs["frames"].shape
    )
    assert torch.equal(
        data.train.targets["y"][:, :-1], data.train.inputs["frames"][:, 1:]
    )  # the target is the sequence one step later
    assert data.tasks == {"y": Task("frames", units=2, per_timestep=True)}
    assert (
        float(data.train.inputs["frames"].amax(dim=(2, 3, 4)).min()) > 0.3 and float(data.train.inputs["frames"].max()) < 1.2
    )  # a bright shape in every frame
    moved = (data.train.inputs["frames"][:, 1:] - data.train.inputs["frames"][:, :-1]).abs().mean(dim=(2, 3, 4))
    assert bool((moved > 0.01).all())  # and it moves at every step


# -- .npz files for a model of several inputs and outputs -------------------------------------------------------------


def _graph_arrays(n: int = 8, steps: int = 3) -> dict[str, np.ndarray]:
    """One array per input of TWO_HEADS (frames (N, T, 6, 5, 2), side (N, T, 3), a right-padding mask) and its targets."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, steps + 1, n)
    return {
        "frames": rng.random((n, steps, 6, 5, 2), dtype=np.float32),
        "side": rng.random((n, steps, 3)),
        "steps": np.arange(steps)[None, :] < lengths[:, None],
        "y_out": rng.random(n, dtype=np.float32),
        "y_per_step": rng.integers(0, 3, (n, steps)),
    }


def test_npz_of_a_model_with_several_inputs_and_outputs(tmp_path):
    arrays = _graph_arrays()
    path = _save(tmp_path / "d.npz", **arrays)
    data = load_data(DataConfig(str(path), val_fraction=0.25), TWO_HEADS, seed=0)
    assert data.inputs == (InputSpec.frames(3, 6, 5, 2), InputSpec.sequence(3, 3, name="side"), InputSpec.mask(3, name="steps"))
    assert data.tasks == {"out": Task("regression", 1, False), "per_step": Task("classification", 3, True)}
    assert (len(data.train), len(data.val)) == (6, 2)
    everything = {name: torch.cat([data.train.inputs[name], data.val.inputs[name]]) for name in ("frames", "side", "steps")}
    order = torch.cat([data.train.targets["out"], data.val.targets["out"]])[:, 0].numpy()
    rows = [int(np.flatnonzero(arrays["y_out"] == value)[0]) for value in order]  # which file sample each one is
    np.testing.assert_array_equal(everything["frames"].numpy(), arrays["frames"][rows].transpose(0, 1, 4, 2, 3))  # C first
    np.testing.assert_array_equal(everything["side"].numpy(), arrays["side"][rows].astype(np.float32))
    assert everything["steps"].dtype == torch.bool and torch.equal(everything["steps"], torch.from_numpy(arrays["steps"][rows]))
    assert data.train.targets["per_step"].dtype == torch.int64


BAD_GRAPH_NPZ = {
    "missing input": (
        {"side": None},
        r"expected the arrays \['frames', 'side', 'steps', 'y_out', 'y_per_step'\], found \['frames', 'steps', 'y_out', "
        r"'y_per_step'\]: missing \['side'\]",
    ),
    "extra array": ({"notes": np.zeros(8)}, r"unexpected \['notes'\] \(inputs: x or the input's name"),
    "one y for two outputs": (
        {"y_out": None, "y_per_step": None, "y": np.zeros(8)},
        r"missing \['y_out', 'y_per_step'\]; unexpected \['y'\]",
    ),
    "x for several inputs": ({"frames": None, "x": np.zeros((8, 3, 6, 5, 2))}, r"missing \['frames'\]; unexpected \['x'\]"),
    "sequence rank": (
        {"side": np.zeros((8, 3))},
        r"side: expected 3 axes \(N, T, F\) for input 'side' \(\(\*, 3\) per sample\), found shape \(8, 3\)",
    ),
    "frames rank": (
        {"frames": np.zeros((8, 3, 6, 5))},
        r"frames: expected 5 axes \(N, T, H, W, C\) .*found shape \(8, 3, 6, 5\)",
    ),
    "mask not bool": (
        {"steps": np.ones((8, 3), np.int64)},
        r"steps: expected a boolean mask \(N, T\) for the mask input 'steps' \(True: a real step\), found int64 of shape",
    ),
    "sample counts": (
        {"side": np.zeros((7, 3, 3))},
        r"expected the same number of samples in every array, 8 as in frames, found frames 8, side 7, steps 8, y_out 8",
    ),
    "target steps": ({"y_per_step": np.zeros((8, 4), np.int64)}, r"y_per_step: expected integer class ids .* with T = 3 as in"),
}


@pytest.mark.parametrize("case", BAD_GRAPH_NPZ)
def test_bad_npz_of_a_graph_model_is_refused_with_what_was_expected_and_found(tmp_path, case):
    changes, message = BAD_GRAPH_NPZ[case]
    arrays = {k: v for k, v in {**_graph_arrays(), **changes}.items() if v is not None}
    path = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_data(DataConfig(str(path)), TWO_HEADS, seed=0)


@pytest.mark.parametrize("source", ["sensor-grid", "moving-digits", "moving-pattern"])
def test_builtin_sources_are_for_frames_models_only(source):
    with pytest.raises(DataError, match=rf"--data {source} makes frames .* model 'two-heads' has 3 input\(s\) \(frames: "):
        load_data(DataConfig(source, samples=10), TWO_HEADS, seed=0)
    sequences = ModelSpec(InputSpec.sequence(5, 4), (LSTM(3), Dense(1)), name="plain")
    with pytest.raises(DataError, match=r"has 1 input\(s\) \(sequence: a sequence \(time, features\) = \(5, 4\)\) and 1 output"):
        load_data(DataConfig(source, samples=10), sequences, seed=0)
