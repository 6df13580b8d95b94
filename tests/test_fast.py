"""The fast-path switch (``STYLEGANEX_FAST``, ``--fast``, ``model.fast``) and the compiled hot paths.

Compiled graphs are checked against the reference path on tiny reduced-width models (256 outputs, 32x32
frames); every compile uses ``fullgraph=True``, so a graph break fails the test. fp32 tolerance of a
compiled graph against eager: 1e-5 absolute on outputs of magnitude ~1 (inductor reorders sums).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from styleganex.base.errors import StyleGANEXWarning
from styleganex.dev.testing import random_model
from styleganex.model import fast
from styleganex.model.fast import FastPlan, check_fast, compiled_call, fast_mode, fast_plan, fast_setting

COMPILED_ATOL = 1e-5


# ---- the switch ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value, want", [("0", "0"), ("1", "1"), ("auto", "auto"), (" AUTO ", "auto"),
                                         (True, "1"), (False, "0"), (0, "0"), (1, "1")])
def test_check_fast_accepts(value, want):
    assert check_fast(value) == want


@pytest.mark.parametrize("value", ["2", "yes", "", None, 3, 0.5])
def test_check_fast_refuses_with_the_setting_named(value):
    with pytest.raises(ValueError, match="STYLEGANEX_FAST must be one of auto, 1, 0"):
        check_fast(value)


def test_precedence_block_over_model_over_environment(monkeypatch):
    class M:
        fast = None

    m = M()
    monkeypatch.delenv(fast.FAST_ENV, raising=False)
    assert fast_setting(m) == "auto"
    monkeypatch.setenv(fast.FAST_ENV, "1")
    assert fast_setting(m) == "1" and fast_setting() == "1"
    m.fast = "0"
    assert fast_setting(m) == "0"
    with fast_mode("auto"):
        assert fast_setting(m) == "auto"
        with fast_mode(None):  # leaves the setting alone
            assert fast_setting(m) == "auto"
    assert fast_setting(m) == "0"
    monkeypatch.setenv(fast.FAST_ENV, "fastest")
    with pytest.raises(ValueError, match="STYLEGANEX_FAST"):
        fast_setting()


def test_plan_reference_on_cpu_unless_forced():
    assert fast_plan("cpu", setting="auto") == fast.REFERENCE and not fast.REFERENCE.any
    assert fast_plan("cpu", setting="0") == fast.REFERENCE
    forced = fast_plan("cpu", setting="1")
    assert forced == FastPlan(compile=True, static_loop=True, kernels=False, strict=True)
    cuda = fast_plan("cuda", setting="auto")  # a device name only: nothing runs on it
    assert cuda.compile and cuda.static_loop and not cuda.strict
    assert fast_plan("cuda", setting="0") == fast.REFERENCE


def test_cli_fast_option_sets_the_switch_for_the_command(monkeypatch):
    from styleganex import cli

    monkeypatch.delenv(fast.FAST_ENV, raising=False)
    args = cli.build_parser().parse_args(["edit", "--model", "m.pt", "--fast", "0", "--out", "o.png", "l.pt"])
    assert args.fast == "0"
    with cli._settings(args):
        assert fast_setting() == "0"
    assert fast_setting() == "auto"
    assert cli.main(["edit", "--model", "m.pt", "--fast", "fastest", "--out", "o.png", "l.pt"]) == 2


def test_model_carries_its_own_setting(monkeypatch):
    monkeypatch.setenv(fast.FAST_ENV, "1")
    m = random_model("inversion", seed=0, size=256)
    assert m.fast is None and fast_setting(m) == "1"
    m.fast = "0"
    assert fast_plan("cpu", m) == fast.REFERENCE


# ---- the compile cache and its fallback -----------------------------------------------------------
def _breaks(owner, x):
    if x.sum().item() > 0:  # a data-dependent branch: a graph break, an error with fullgraph=True
        return x + 1
    return x - 1


def test_compile_failure_falls_back_with_a_warning_unless_strict():
    owner = torch.nn.Linear(1, 1)
    x = torch.ones(3)
    with pytest.warns(StyleGANEXWarning, match="using the reference path"):
        out = compiled_call(owner, "breaking", _breaks, ("k",), (x,), lambda x: x * 10)
    assert torch.equal(out, x * 10)
    with warnings.catch_warnings():  # failed once: the reference from now on, silently
        warnings.simplefilter("error")
        assert torch.equal(compiled_call(owner, "breaking", _breaks, ("k",), (x,), lambda x: x * 10), x * 10)
    with pytest.raises(Exception, match="(?i)graph break|data-dependent|item"):
        compiled_call(torch.nn.Linear(1, 1), "breaking", _breaks, ("k",), (x,), lambda x: x * 10, strict=True)


def _double(owner, x):
    return x * 2


def test_compiled_shapes_are_capped(monkeypatch):
    monkeypatch.setattr(fast, "MAX_COMPILED_SHAPES", 2)
    owner = torch.nn.Linear(1, 1)
    calls = []

    def reference(x):
        calls.append(x.shape)
        return x * 2

    for n in (1, 2, 3, 1):
        x = torch.arange(float(n))
        assert torch.equal(compiled_call(owner, "double", _double, (n,), (x,), reference), x * 2)
    assert fast.compiled_keys(owner, "double") == {(1,), (2,)}
    assert calls == [(3,)]  # the third shape ran the reference; the first ran compiled again


# ---- the compiled hot paths against the reference ------------------------------------------------
def test_compiled_decoder_matches_the_reference():
    """The inversion model's decoder compiled (fullgraph, strict), with stored noise: fp32 equal to eager."""
    m = random_model("inversion", seed=2, size=256)
    g = torch.Generator().manual_seed(1)
    with fast_mode("0"):
        latent = m.encode(torch.rand(1, 3, 32, 32, generator=g) * 2 - 1)
        ref = m.decode(latent, noise="stored")
    with fast_mode("1"):
        out = m.decode(latent, noise="stored")
    assert len(fast.compiled_keys(m, "decoder")) == 1
    assert out.abs().max() > 0.1
    torch.testing.assert_close(out, ref, atol=COMPILED_ATOL, rtol=0)


@pytest.mark.slow
def test_compiled_decoder_and_encoder_match_the_reference():
    """The edit model (fusion + attention, editing vector): encoder features and decoder compiled with
    fullgraph=True under setting "1" (strict: a graph break raises), equal to the reference in fp32."""
    m = random_model("edit_age", seed=1, size=256)
    g = torch.Generator().manual_seed(0)
    frame = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    aligned = torch.rand(1, 3, 256, 256, generator=g) * 2 - 1
    with fast_mode("0"):
        ref_latent = m.encode(frame, aligned)
        ref = m.decode(ref_latent, editing_w=1.0)
    with fast_mode("1"), torch.inference_mode():
        latent = m.encode(frame, aligned)
        out = m.decode(latent, editing_w=1.0)
        again = m.decode(latent, editing_w=1.0)  # the cached graph
    assert len(fast.compiled_keys(m, "encoder features")) == 1 and len(fast.compiled_keys(m, "decoder")) == 1
    torch.testing.assert_close(latent.f, ref_latent.f, atol=COMPILED_ATOL, rtol=0)
    for a, b in zip(latent.skips, ref_latent.skips):
        torch.testing.assert_close(a, b, atol=COMPILED_ATOL, rtol=0)
    assert out.shape == ref.shape and out.abs().max() > 0.1
    torch.testing.assert_close(out, ref, atol=COMPILED_ATOL, rtol=0)
    assert torch.equal(out, again)


# ---- bf16 autocast -------------------------------------------------------------------------------
def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [-1, 1], measured on 0..1 (peak 1)."""
    a, b = (a.float().clamp(-1, 1) + 1) / 2, (b.float().clamp(-1, 1) + 1) / 2
    return float(10 * torch.log10(1.0 / (a - b).pow(2).mean()))


@pytest.mark.parametrize("family", ["inversion", "edit_age"])
def test_bf16_autocast_decodes_within_40db_with_fp32_styles(family, monkeypatch):
    from styleganex.model.ops import ModulatedConv2d

    m = random_model(family, seed=1, size=1024)
    g = torch.Generator().manual_seed(0)
    frame = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    edit = 1.0 if family == "edit_age" else None
    with fast_mode("0"):
        ref = m.decode(m.encode(frame), editing_w=edit)
    weights = []
    original = ModulatedConv2d.modulated_weight

    def spy(self, style):
        w = original(self, style)
        weights.append(w.dtype)
        return w
    monkeypatch.setattr(ModulatedConv2d, "modulated_weight", spy)
    with fast_mode("0"), fast.bf16_autocast("cpu"):
        out = m.decode(m.encode(frame), editing_w=edit)
    assert out.dtype == torch.bfloat16 and out.shape == ref.shape  # autocast did run
    assert weights and set(weights) == {torch.float32}  # styles and demodulation in fp32
    assert psnr(out, ref) >= 40.0
    assert psnr(out, ref + 0.05) < 40.0  # the bound can fail: a 0.05 offset is below it


def test_each_model_has_its_own_compile_budget(monkeypatch):
    """Dynamo's recompile limit (8 per code object, a hard error under fullgraph) is per model and entry
    point here: three models with eight shapes each all run compiled, without a warning."""
    monkeypatch.setattr(fast, "COMPILE_BACKEND", "eager")  # dynamo's caches are the point, not codegen
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            owner = torch.nn.Linear(1, 1)
            for n in range(1, fast.MAX_COMPILED_SHAPES + 1):
                x = torch.arange(float(n))
                assert torch.equal(compiled_call(owner, "double", _double, (n,), (x,), None), x * 2)
            assert len(fast.compiled_keys(owner, "double")) == fast.MAX_COMPILED_SHAPES
