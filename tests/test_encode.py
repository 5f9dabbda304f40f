"""encode_graph: same numbers as training, BatchNorm refit, feature checks, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import common
import encode_graph
import model as vgae
import train_vgae
from conftest import PickleBomb, assert_clean_error, call_main, run_script, toy_graph

FAST = ("--epochs", "12", "--patience", "5", "--hidden", "16", "--latent", "8")


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> dict[str, Path]:
    """A trained model and graphs to encode with it."""
    d = tmp_path_factory.mktemp("encode")
    g = toy_graph()
    paths = {"graph": common.save_pt(d / "GM12878_chr21.pt", g)}
    assert call_main(train_vgae.main, "--graph", paths["graph"], *FAST, "--outdir", d / "GM12878",
                     "-q").returncode == 0
    paths["model"], paths["emb"] = d / "GM12878/model.pt", d / "GM12878/emb.npy"
    shifted = toy_graph()
    shifted["x"] = shifted["x"] * torch.tensor([3.0, 0.5]) + torch.tensor([5.0, -1.0])
    paths["shifted"] = common.save_pt(d / "shifted.pt", shifted)
    paths["other"] = common.save_pt(d / "IMR90_chr21.pt", toy_graph(90, seed=5))
    paths["three"] = common.save_pt(d / "three.pt", toy_graph(feature_names=("CTCF", "H3K27me3", "H3K4me3")))
    paths["renamed"] = common.save_pt(d / "renamed.pt", toy_graph(feature_names=("CTCF", "H3K9me3")))
    return paths


def test_seed_command_reproduces_the_training_embedding(kit, tmp_path):
    out = tmp_path / "results/IMR90/emb.npy"  # folder created on the way
    proc = run_script("encode_graph", "--model", kit["model"], "--graph", kit["graph"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == kit["emb"].read_bytes()  # frozen BN on the training graph = training
    tsv = pd.read_csv(out.with_suffix(".tsv"), sep="\t")
    assert list(tsv.columns) == ["chrom", "start", "end", *[f"z{k}" for k in range(8)]] and len(tsv) == 120
    for p in (out, out.with_suffix(".tsv")):
        assert Path(f"{p}.provenance.json").is_file()


def test_another_graph_gets_one_row_per_bin(kit):
    model, ckpt = encode_graph.load_model(kit["model"])
    g = common.load_graph(kit["other"])
    emb = encode_graph.encode_graph(model, vgae.prepare_graph(g))
    assert emb.shape == (90, 8) and emb.dtype == np.float32 and np.isfinite(emb).all()


def test_refit_changes_only_the_batchnorm_statistics(kit):
    model, _ = encode_graph.load_model(kit["model"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = vgae.prepare_graph(common.load_graph(kit["shifted"]))
    encode_graph.refit_batchnorm(model, data)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed <= {"encoder.bn.running_mean", "encoder.bn.running_var", "encoder.bn.num_batches_tracked"}
    xm = data.x[data.mask]
    assert torch.allclose(after["encoder.bn.running_mean"], xm.mean(0), atol=1e-5)
    assert torch.allclose(after["encoder.bn.running_var"], xm.var(0), rtol=1e-4)
    assert not model.training


def test_refit_undoes_an_affine_shift_of_the_features(kit):
    """Features scaled and shifted per mark: refit recovers the training embedding, frozen does not."""
    train_emb = np.load(kit["emb"])
    g = common.load_graph(kit["shifted"])
    frozen = encode_graph.encode_graph(encode_graph.load_model(kit["model"])[0], vgae.prepare_graph(g))
    refit = encode_graph.encode_graph(encode_graph.load_model(kit["model"])[0], vgae.prepare_graph(g),
                                      bn="refit")
    assert np.allclose(refit, train_emb, atol=1e-4)
    assert not np.allclose(frozen, train_emb, atol=1e-2)


@pytest.mark.parametrize("bn", encode_graph.BN_MODES)
def test_window_encoding_gives_the_same_embedding(kit, bn):
    """--batch window (genomic windows with an exact halo) = one batch, up to float round-off."""
    g = common.load_graph(kit["other"])
    full = encode_graph.encode_graph(encode_graph.load_model(kit["model"])[0], vgae.prepare_graph(g), bn=bn,
                                     batch="full")
    win = encode_graph.encode_graph(encode_graph.load_model(kit["model"])[0], vgae.prepare_graph(g), bn=bn,
                                    batch="window", window_edges=300)
    assert np.abs(win - full).max() < 1e-5 and np.abs(full).max() > 1e-2
    assert np.array_equal(encode_graph.encode_graph(encode_graph.load_model(kit["model"])[0],
                                                    vgae.prepare_graph(g), bn=bn), full)  # auto: one batch here


# ----------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("model, graph, extra, fragments", [
    ("model", "three", (), ("feature count differ", "['CTCF', 'H3K27me3']", "H3K4me3")),
    ("model", "renamed", (), ("feature names differ", "H3K27me3", "H3K9me3", "renamed.pt")),
    ("graph", "graph", (), ("is not a chromatin-gnn model (format 'chromatin-gnn/graph'",)),
    ("evil", "graph", (), ("not a safe chromatin-gnn model",)),
    ("model", "evil", (), ("not a safe chromatin-gnn graph",)),
    ("model", "graph", ("--device", "tpu"), ("unknown device 'tpu'",)),
    ("model", "graph", ("--window-edges", "0"), ("--window-edges", "positive integer")),
    ("model", "graph", ("--out", "{blocker}/emb.npy"), ("cannot create output directory",)),
    ("model", "graph", ("--out", "{tmp}/out/emb.txt"), ("--out must end in .npy",)),
])
def test_bad_input(kit, tmp_path, model, graph, extra, fragments):
    files = dict(kit, evil=tmp_path / "evil.pt", blocker=tmp_path / "a_file")
    torch.save({"format": common.MODEL_FORMAT, "payload": PickleBomb(tmp_path / "PWNED")}, files["evil"])
    files["blocker"].write_text("a file, not a folder")
    out = ("--out", str(tmp_path / "out/emb.npy"))
    extra = tuple(e.format(tmp=tmp_path, **files) for e in extra)
    proc = call_main(encode_graph.main, "--model", files[model], "--graph", files[graph],
                     *(extra if "--out" in extra else out + extra))
    assert_clean_error(proc, *fragments)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "PWNED").exists(), "unpickling ran code"
