"""The pretrained models shipped in the package: listed, loaded, referenced, re-measured."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from promethium import api, pretrained
from promethium.errors import ConfigError
from promethium.ml.model_card import read_card
from promethium.models import PromethiumModel
from promethium.tasks.builders import build_module, initial_weights
from promethium.tasks.common import execute, resolve_checkpoint
from tests.helpers import ROOT, write_f3_line

SHIPPED = {"marmousi_interp", "marmousi_denoise", "f3_denoise"}


def build_script():
    """``scripts/build_pretrained.py`` as a module: the specs and data the models were made with."""
    spec = importlib.util.spec_from_file_location(
        "build_pretrained", ROOT / "scripts/build_pretrained.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_package_lists_its_models_and_their_measured_figures():
    models = pretrained.list()
    assert {m.name for m in models} >= SHIPPED
    for model in models:
        assert model.path.is_file(), model.path
        assert model.path.stat().st_size < 8_000_000  # a few MB: shipped in the wheel
        assert model.reference == f"pretrained:{model.name}@{model.version}"
        assert np.isfinite(model.score) and model.baselines
        assert model.train and model.evaluate[0] == "task=evaluate"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_model_loads_and_infers_with_its_card(name: str):
    net = pretrained.load(name)  # in its amplitude contract (NormalizedNetwork)
    assert isinstance(getattr(net, "net", net), PromethiumModel) and not net.training
    gather = np.random.default_rng(0).normal(size=(40, 96)).astype(np.float32)
    out = api.infer(gather, ckpt_path=f"pretrained:{name}", dt=0.004)
    assert out.shape == gather.shape and np.isfinite(out).all()
    card = pretrained.card(name)
    entry = pretrained.find(name)
    assert card["pretrained"]["name"] == name and card["pretrained"]["version"] == entry.version
    assert card["evaluation"]["network"] == pytest.approx(entry.score, abs=1e-3)
    assert card["data"]["fingerprint"] and card["amplitude"]["rms"] > 0
    resolved = card["model"]  # every constructor argument, defaults included
    assert resolved["name"] and ("stem_stride" in resolved or resolved["name"] != "unet")


def test_unknown_names_and_versions_list_what_is_shipped():
    with pytest.raises(ConfigError, match="no such pretrained model; allowed: .*marmousi_interp"):
        pretrained.find("marmousi_interpolation")
    with pytest.raises(ConfigError, match=r"marmousi_interp@9: no such version; allowed: 1"):
        resolve_checkpoint("pretrained:marmousi_interp@9")
    with pytest.raises(ConfigError, match="pretrained:NAME or pretrained:NAME@VERSION"):
        resolve_checkpoint("pretrained:")


def test_references_resolve_to_the_shipped_files():
    latest = pretrained.find("marmousi_denoise")
    assert resolve_checkpoint("pretrained:marmousi_denoise") == latest.path
    assert resolve_checkpoint(f"pretrained:marmousi_denoise@{latest.version}") == latest.path
    assert read_card(latest.path)["pretrained"]["name"] == "marmousi_denoise"


def test_init_from_a_pretrained_model_fine_tunes_it(tmp_path: Path):
    line = tmp_path / "line.sgy"
    write_f3_line(line)
    overrides = [
        "experiment=field_denoise",
        f"data.path={line}",
        "init_from=pretrained:f3_denoise",
        "logger=none",
        "trainer.max_epochs=1",
        "data.samples_per_epoch=32",
    ]
    cfg = api.compose([*overrides, f"paths.cache_dir={tmp_path / 'cache'}"], tmp_path / "run")
    module = build_module(cfg)
    initial_weights(module.net, cfg)
    shipped = pretrained.load("f3_denoise").net.state_dict()  # without its contract
    started = module.net.state_dict()
    assert shipped.keys() == started.keys()
    assert all(torch.equal(shipped[k], started[k]) for k in shipped)
    metrics = execute(cfg)
    assert np.isfinite(metrics[cfg.task.monitor])
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_each_card_figure_is_measured_again_within_0_3_db(
    name: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
):
    """``task=evaluate`` with the card's own command gives the card's figure (+-0.3 dB)."""
    script = build_script()
    spec = next(s for s in script.SPECS if s.name == name)
    entry = pretrained.find(name)
    assert entry.evaluate == tuple(spec.evaluate)
    paths = script.make_data(spec, tmp_path)
    cache = tmp_path_factory.getbasetemp() / "pretrained_cache"  # Marmousi shots modelled once
    overrides = [
        *script.filled(list(entry.evaluate), paths),
        f"ckpt_path={entry.reference}",
        f"paths.cache_dir={cache}",
    ]
    metrics = execute(api.compose(overrides, tmp_path / "evaluate"))
    assert metrics[entry.metric] == pytest.approx(entry.score, abs=0.3)
    written = json.loads((tmp_path / "evaluate" / "metrics.json").read_text())
    assert written[entry.metric] == pytest.approx(metrics[entry.metric])
