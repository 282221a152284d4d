"""The torch model: shapes, both input layouts, input errors with hints, state keys, no loop over time; a graph's
calling conventions (inputs positional or by name, masks, outputs in spec order) and nested models' modules."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import torch_impl
from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import (
    GRU,
    LSTM,
    BatchNorm,
    Bidirectional,
    Concatenate,
    Conv2D,
    Conv3D,
    ConvLSTM2D,
    Dense,
    Flatten,
    GlobalPool2D,
    InputSpec,
    ModelSpec,
    Node,
    Pool2D,
    Submodel,
    TimeDistributed,
)

AWKWARD = {
    "rect-c3-stride2": ModelSpec(
        InputSpec.frames(4, 11, 8, 3), layers=(Conv2D(4, 3, strides=2, activation="relu"), Flatten(), LSTM(5), Dense(2))
    ),
    "same-even": ModelSpec(
        InputSpec.frames(3, 10, 9, 2),
        layers=(Conv2D(4, (4, 2), padding="same"), Pool2D("avg", 3, 2, "same"), Flatten(), LSTM(4), Dense(1)),
    ),
    "stacked-sequences": ModelSpec(
        InputSpec.frames(5, 6, 7, 1),
        layers=(
            Pool2D("max", 2),
            Flatten(),
            LSTM(6, return_sequences=True),
            LSTM(4, return_sequences=True),
            Dense(3, activation="softmax"),
        ),
    ),
    "one-step": ModelSpec(InputSpec.frames(1, 5, 5, 2), layers=(Conv2D(2, 5), Flatten(), LSTM(3), Dense(1))),
    "conv-lstm-next-frame": ModelSpec(
        InputSpec.frames(4, 6, 5, 2),
        layers=(
            ConvLSTM2D(3, 3, padding="same", return_sequences=True),
            BatchNorm(),
            Conv3D(2, 3, padding="same", activation="sigmoid"),
        ),
    ),
    "conv-lstm-grid": ModelSpec(InputSpec.frames(4, 6, 5, 2), layers=(ConvLSTM2D(3, (2, 3)), Conv2D(2, 1, activation="softmax"))),
    "bidirectional-pair": ModelSpec(
        InputSpec.frames(3, 4, 4, 1), layers=(GlobalPool2D(), Bidirectional(GRU(3, return_sequences=True), merge_mode=None))
    ),
}
SPECS = {name: get_preset(name) for name in preset_names()} | AWKWARD


def _input(spec: ModelSpec, batch: int = 2, timesteps: int | None = None, layout: str = "channels_first") -> torch.Tensor:
    inp = spec.input
    t = timesteps or inp.timesteps
    shape = (
        (batch, t, inp.channels, inp.height, inp.width)
        if layout == "channels_first"
        else (batch, t, inp.height, inp.width, inp.channels)
    )
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", SPECS)
def test_output_shape_and_layouts_agree(name, batch):
    spec = SPECS[name]
    first = torch_impl.build_model(spec).eval()
    last = torch_impl.build_model(spec, input_layout="channels_last").eval()
    torch_impl.load_state(last, torch_impl.state_as_numpy(first))
    x = _input(spec, batch)
    with torch.no_grad():
        out_first = first(x)
        out_last = last(x.permute(0, 1, 3, 4, 2))
    outs_first = out_first if isinstance(out_first, tuple) else (out_first,)
    outs_last = out_last if isinstance(out_last, tuple) else (out_last,)
    assert len(outs_first) == len(spec.outputs)
    for a, b in zip(outs_first, outs_last, strict=True):
        keras_layout = (batch, *spec.output_shape())
        assert tuple(b.shape) == keras_layout  # channels_last models return Keras' layout
        if len(keras_layout) >= 4:  # frames or a grid: channels-first natively
            a = a.movedim(-3, -1)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("timesteps", [1, 4, 9])
def test_open_timesteps(timesteps):
    spec = ModelSpec(InputSpec.frames(None, 6, 6, 1), layers=(Conv2D(2, 3), Flatten(), LSTM(3, return_sequences=True), Dense(1)))
    assert tuple(torch_impl.build_model(spec)(_input(spec, 2, timesteps)).shape) == (2, timesteps, 1)


@pytest.mark.parametrize(
    ("layout", "shape", "message"),
    [
        ("channels_last", (100, 10, 10, 1), r"got \(100, 10, 10, 1\); this is a batch of single frames.*unsqueeze\(0\)"),
        ("channels_first", (100, 1, 10, 10), r"batch of single frames"),
        (
            "channels_first",
            (2, 100, 10, 10, 1),
            r"the frames look channels_last: build the model with input_layout='channels_last'",
        ),
        ("channels_last", (2, 100, 1, 10, 10), r"the frames look channels_first"),
        ("channels_first", (2, 50, 1, 10, 10), r"built for 100 timesteps"),
        ("channels_first", (2, 100, 100), r"already flattened"),
        (
            "channels_first",
            (2, 100, 3, 10, 10),
            r"expected input \(batch, time, channels, height, width\) = \(\*, 100, 1, 10, 10\), got \(2, 100, 3, 10, 10\)",
        ),
        ("channels_first", (0, 100, 1, 10, 10), r"got \(0, 100, 1, 10, 10\)"),
    ],
)
def test_wrong_inputs_say_what_was_expected(layout, shape, message):
    model = torch_impl.build_model(get_preset("seed-cnn"), input_layout=layout)
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))


def test_integer_input_is_refused():
    with pytest.raises(ValueError, match=r"expected a floating-point input, got dtype torch\.int64"):
        torch_impl.build_model(get_preset("seed-flat"))(torch.zeros(1, 100, 1, 10, 10, dtype=torch.long))


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match=r"input_layout: expected one of .*'nhwc'"):
        torch_impl.build_model(get_preset("seed-flat"), input_layout="nhwc")


def test_state_dict_keys_name_the_spec_layers():
    assert list(torch_impl.build_model(get_preset("seed-cnn")).state_dict()) == [
        "layers.conv2d_1.weight", "layers.conv2d_1.bias",
        "layers.lstm_1.weight_ih_l0", "layers.lstm_1.weight_hh_l0",
        "layers.lstm_1.bias_ih_l0", "layers.lstm_1.bias_hh_l0",
        "layers.dense_1.weight", "layers.dense_1.bias",
    ]  # fmt: skip


def _op_counts(model: torch.nn.Module, x: torch.Tensor) -> dict[str, int]:
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model(x)
    counts = {event.key: event.count for event in prof.key_averages()}
    ops = ("aten::conv2d", "aten::max_pool2d", "lstm2d::conv_max_pool", "aten::mm", "aten::lstm", "aten::linear")
    return {op: counts.get(op, 0) for op in ops}


def test_one_kernel_call_per_layer_whatever_the_sequence_length():
    """Frames go through the CNN as one batch of batch*time frames (conv + max pool fused into one op
    whose matmuls run over cache-sized chunks of frames, not timesteps); the LSTM is one fused call."""
    spec = get_preset("seed-cnn").with_input(timesteps=None)
    model = torch_impl.build_model(spec).eval()
    short, long = _op_counts(model, _input(spec, 2, 1)), _op_counts(model, _input(spec, 2, 40))
    fused = {"aten::conv2d": 0, "aten::max_pool2d": 0, "lstm2d::conv_max_pool": 1, "aten::mm": 1, "aten::lstm": 1}
    assert short == long == fused | {"aten::linear": 1}
    model.fuse_conv_pool(False)
    unfused = _op_counts(model, _input(spec, 2, 40))
    assert unfused == {"aten::conv2d": 1, "aten::max_pool2d": 1, "lstm2d::conv_max_pool": 0, "aten::mm": 0} | {
        "aten::lstm": 1,
        "aten::linear": 1,
    }


@pytest.mark.parametrize("name", ["seed-cnn", "stacked-sequences", "conv-lstm-next-frame", "bidirectional-pair"])
def test_gradients_reach_every_parameter(name):
    spec = SPECS[name]
    model = torch_impl.build_model(spec)
    out = model(_input(spec))
    sum(o.square().mean() for o in (out if isinstance(out, tuple) else (out,))).backward()
    for key, param in model.named_parameters():
        if not param.requires_grad:  # a recurrent bias_hh where Keras has one bias: frozen on purpose
            assert key.rsplit(".", 1)[-1].startswith("bias_hh") and param.grad is None, key
            continue
        assert param.grad is not None and torch.isfinite(param.grad).all(), key
        assert param.grad.abs().sum() > 0, key


@pytest.mark.parametrize(
    ("name", "time_major"), [("seed-cnn", True), ("seed-cnn-rgb", True), ("seed-flat", False), ("next-frame", False)]
)
def test_time_major_entry_only_where_per_frame_convolutions_feed_a_recurrent_kernel(name, time_major):
    assert torch_impl.build_model(SPECS[name]).time_major_entry is time_major


def test_time_major_storage_changes_neither_values_nor_gradients():
    """The same model with its input stored time-major and batch-major: the same outputs, and gradients equal up
    to the order in which the weight gradients sum over frames; the per-frame layers keep the time-major order
    (no copy before the LSTM). Outputs are compared to float32 rounding, not bit for bit: the kernels may block
    ``B*T`` and ``T*B`` frames differently, and which they pick depends on the CPU."""
    from torch_impl.layers.frames import is_time_major, over_frames, time_major_storage

    spec = SPECS["seed-cnn"].with_input(timesteps=7)
    model = torch_impl.build_model(spec)
    x = _input(spec, 3)
    results = []
    for time_major in (True, False):
        model.time_major_entry = time_major
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (out_a, grads_a), (out_b, grads_b) = results
    torch.testing.assert_close(out_a, out_b, rtol=1e-6, atol=1e-7)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    frames = time_major_storage(x)
    assert is_time_major(frames) and not is_time_major(x)
    assert is_time_major(over_frames(lambda f: f * 2, frames))


def test_a_module_put_in_layers_is_the_one_that_runs():
    """The usual head swap for fine-tuning: the forward pass calls what ``model.layers`` holds now."""
    model = torch_impl.build_model(SPECS["seed-cnn"].with_input(timesteps=4))
    model.layers["dense_1"] = torch.nn.Linear(64, 10)
    out = model(_input(model.spec, 2))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert model.layers["dense_1"].weight.grad is not None  # the new head is in the graph, not a copy of the old


@pytest.mark.parametrize("hooked", ["conv2d_1", "pool2d_1"])
def test_forward_hooks_fire_on_fused_layers_and_change_nothing(hooked):
    """seed-cnn's Conv2D + MaxPool run as one fused op; a hook on either must see its module run, so the pair then runs
    layer by layer, with the same result, and fuses again once the hook is gone."""
    model = torch_impl.build_model(SPECS["seed-cnn"].with_input(timesteps=4)).eval()
    x = _input(model.spec, 2)
    assert model.active_fusions() == {"conv2d_1": "pool2d_1"}
    with torch.no_grad():
        fused = model(x)
    seen = []
    handle = model.layers[hooked].register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape)))
    assert model.active_fusions() == {}
    with torch.no_grad():
        hooked_out = model(x)
    expected_shape = (2, 4, 32, 8, 8) if hooked == "conv2d_1" else (2, 4, 32, 4, 4)
    assert seen == [expected_shape]
    torch.testing.assert_close(hooked_out, fused, rtol=1e-5, atol=1e-6)
    handle.remove()
    assert model.active_fusions() == {"conv2d_1": "pool2d_1"}


def test_a_replaced_conv_is_not_fused_with_its_old_pool():
    model = torch_impl.build_model(SPECS["seed-cnn"].with_input(timesteps=4)).eval()
    old = model.layers["conv2d_1"]
    model.layers["conv2d_1"] = copy.deepcopy(old)
    assert model.active_fusions() == {}
    model.layers["conv2d_1"] = old
    assert model.active_fusions() == {"conv2d_1": "pool2d_1"}


# -- graphs ------------------------------------------------------------------------------------------------------

GRAPH = ModelSpec(  # frames, a side sequence and a mask in; a per-step head, the last state and the conv's frames out
    inputs=(InputSpec.frames(3, 6, 5, 2), InputSpec.sequence(3, 4, name="side"), InputSpec.mask(3, name="valid")),
    nodes=(
        Node(Conv2D(3, 3, activation="relu", name="conv"), ("frames",)),
        Node(Flatten(name="flat"), ("conv",)),
        Node(Concatenate(name="joined"), ("flat", "side")),
        Node(GRU(4, return_sequences=True, name="gru"), ("joined",), mask="valid"),
        Node(Dense(2, name="per_step"), ("gru",)),
        Node(LSTM(3, name="last"), ("gru",)),  # the mask carried on through the GRU's sequences
    ),
    outputs=("per_step", "last", "conv"),
    name="graph",
)
BATCH = 2


def _graph_inputs(layout: str = "channels_first") -> dict[str, torch.Tensor]:
    """GRAPH's inputs: frames in ``layout``, the side sequence (B, T, 4), the mask (B, T) of lengths 3 and 2."""
    generator = torch.Generator().manual_seed(1)
    frames = torch.randn(BATCH, 3, 2, 6, 5, generator=generator)  # (B, T, C, H, W)
    return {
        "frames": frames if layout == "channels_first" else frames.permute(0, 1, 3, 4, 2),
        "side": torch.randn(BATCH, 3, 4, generator=generator),
        "valid": torch.tensor([[True, True, True], [True, True, False]]),
    }


def _graph_model(layout: str = "channels_first") -> torch_impl.Lstm2dNet:
    model = torch_impl.build_model(GRAPH, input_layout=layout).eval()
    torch.manual_seed(0)  # the same weights for every model made here
    for parameter in model.parameters():
        torch.nn.init.uniform_(parameter, -0.5, 0.5)
    return model


def test_graph_inputs_positional_or_by_name_and_outputs_in_spec_order():
    model, x = _graph_model(), _graph_inputs()
    with torch.no_grad():
        positional = model(x["frames"], x["side"], x["valid"])  # the spec's input order
        by_name = model({"side": x["side"], "valid": x["valid"], "frames": x["frames"]})  # any order
        by_keyword = model(**x)
    assert isinstance(positional, tuple) and [tuple(o.shape) for o in positional] == [
        (BATCH, 3, 2), (BATCH, 3), (BATCH, 3, 3, 4, 3),  # per_step, last, conv frames (B, T, C, H, W)
    ]  # fmt: skip
    for a, b, c in zip(positional, by_name, by_keyword, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, c, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda x: (x["frames"], x["side"]), ValueError, r"expected 3 inputs \(frames, side, valid\), got 2"),
        (
            lambda x: ({"frames": x["frames"], "side": x["side"], "mask": x["valid"]},),
            ValueError,
            r"expected inputs \['frames', 'side', 'valid'\], got \['frames', 'mask', 'side'\]",
        ),
        (
            lambda x: (x["frames"], x["side"], x["valid"].float()),
            ValueError,
            r"input 'valid' is a mask: expected dtype torch\.bool, got torch\.float32",
        ),
        (
            lambda x: (x["frames"], x["side"].long(), x["valid"]),
            ValueError,
            r"expected a floating-point input 'side', got dtype torch\.int64",
        ),
        (
            lambda x: (x["frames"], x["side"][..., :3], x["valid"]),
            ValueError,
            r"expected input 'side' \(batch, time, features\) = \(\*, 3, 4\), got \(2, 3, 3\)",
        ),
        (
            lambda x: (x["frames"], x["side"], x["valid"][:, :2]),
            ValueError,
            r"expected input 'valid' \(batch, time\) = \(\*, 3\), got \(2, 2\)",
        ),
        (lambda x: (x["frames"], x["side"].numpy(), x["valid"]), TypeError, r"input 'side': expected a torch\.Tensor"),
    ],
    ids=["count", "names", "mask-dtype", "float-dtype", "features", "mask-steps", "not-a-tensor"],
)
def test_graph_refuses_wrong_inputs_saying_what_it_expected(change, error, message):
    with pytest.raises(error, match=message):
        _graph_model()(*change(_graph_inputs()))


def test_a_bool_mask_input_skips_the_padding():
    """Sample 1 has two real steps: what its third step holds changes nothing, and its per-step output there repeats
    the second step's (Keras' masked-step semantics)."""
    model, x = _graph_model(), _graph_inputs()
    padded = {**x, "side": x["side"].clone(), "frames": x["frames"].clone()}
    padded["side"][1, 2] = 50.0
    padded["frames"][1, 2] = -50.0
    with torch.no_grad():
        per_step, last, _ = model(x)
        per_step_padded, last_padded, _ = model(padded)
    torch.testing.assert_close(last_padded, last)
    torch.testing.assert_close(per_step_padded[:, :2], per_step[:, :2])
    torch.testing.assert_close(per_step[1, 2], per_step[1, 1])
    with torch.no_grad():  # control: unmasked, the padding does change the outputs
        _, unmasked, _ = model({**padded, "valid": torch.ones(BATCH, 3, dtype=torch.bool)})
    assert not torch.allclose(unmasked[1], last[1])


def test_channels_last_permutes_only_the_frames():
    """``input_layout="channels_last"``: the frames input is read (B, T, H, W, C) and the frames output given back so;
    the sequence and the mask are read as they are, in both layouts."""
    first, last = _graph_model(), _graph_model("channels_last")
    assert first.spatial_inputs == last.spatial_inputs == [True, False, False]
    assert first.expected_input_shapes() == {"frames": (None, 3, 2, 6, 5), "side": (None, 3, 4), "valid": (None, 3)}
    assert last.expected_input_shapes() == {"frames": (None, 3, 6, 5, 2), "side": (None, 3, 4), "valid": (None, 3)}
    with torch.no_grad():
        out_first = first(_graph_inputs())
        out_last = last(_graph_inputs("channels_last"))
    torch.testing.assert_close(out_last[:2], out_first[:2])
    torch.testing.assert_close(out_last[2], out_first[2].permute(0, 1, 3, 4, 2))  # (B, T, H, W, C)


BACKBONE = ModelSpec(InputSpec.grid(6, 5, 2, name="frame"), (Conv2D(3, 3, name="conv"), Flatten(name="flat")), name="bb")
HEAD = ModelSpec(InputSpec.sequence(3, 5, name="steps"), (LSTM(4, return_sequences=True, name="lstm"), Dense(2, name="dense")))
NESTED = ModelSpec(
    InputSpec.frames(3, 6, 5, 2),
    (TimeDistributed(Submodel(BACKBONE, name="backbone"), name="td"), Dense(5, name="proj"), Submodel(HEAD, name="head")),
    name="nested",
)


def test_nested_models_state_keys():
    assert list(torch_impl.build_model(NESTED).state_dict()) == [
        "layers.td.layer.layers.conv.weight", "layers.td.layer.layers.conv.bias",
        "layers.proj.weight", "layers.proj.bias",
        "layers.head.layers.lstm.weight_ih_l0", "layers.head.layers.lstm.weight_hh_l0",
        "layers.head.layers.lstm.bias_ih_l0", "layers.head.layers.lstm.bias_hh_l0",
        "layers.head.layers.dense.weight", "layers.head.layers.dense.bias",
    ]  # fmt: skip


class _Counted(torch.nn.Module):
    """``module``, scaled by ``scale``, counting its calls."""

    def __init__(self, module: torch.nn.Module, scale: float) -> None:
        super().__init__()
        self.module, self.scale, self.calls = module, scale, 0

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.module(*inputs) * self.scale


@pytest.mark.parametrize(("path", "name"), [(("head",), "dense"), (("td", "layer"), "conv")], ids=["nested", "in-td"])
def test_a_module_replaced_in_a_nested_model_runs(path, name):
    model = torch_impl.build_model(NESTED).eval()
    x = _input(NESTED, BATCH)
    with torch.no_grad():
        before = model(x)
    nested = model.layers[path[0]] if len(path) == 1 else getattr(model.layers[path[0]], path[1])
    replaced = _Counted(nested.layers[name], scale=0.0)
    nested.layers[name] = replaced
    with torch.no_grad():
        after = model(x)
    assert replaced.calls == 1  # once over all B*T frames under TimeDistributed
    assert after.shape == before.shape and not torch.allclose(after, before)
