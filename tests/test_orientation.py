"""E1 orientation: signed tracks, chosen per arm, order-independent; warnings and bad input."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

import compute_compartments as cc
import orientation
import synth_hic
from conftest import ROOT, assert_clean_error, call_main


@pytest.mark.parametrize("name,sign", [
    ("GM12878_H3K27ac", 1), ("IMR90_H4K20me1.bw", 1), ("hg19_TSS_density_40kb", 1), ("hg19_GC_10kb.bw", 1),
    ("H2A.Z", 1), ("CTCF", 1), ("GM12878_rep2_H3K9me3", -1), ("H3K27me3", 0), ("cell_K27", None),
    ("my_track", None),
])
def test_known_sign(name, sign):
    assert orientation.known_sign(name) == sign


def test_resolve_signs_explicit_auto_and_counts(caplog):
    assert orientation.resolve_signs(["CTCF", "H3K9me3", "H3K27me3"], ["auto"]) == [1, -1, 0]
    assert orientation.resolve_signs(["x", "y"], ["-1", "+1"]) == [-1, 1]
    with caplog.at_level("WARNING", logger="chromatin_gnn"):
        assert orientation.resolve_signs(["mystery"], ["auto"]) == [1]
    assert "assuming +1" in caplog.text
    with pytest.raises(orientation.DataError, match="2 --orient-sign values for 3"):
        orientation.resolve_signs(["a", "b", "c"], ["+1", "-1"])


def test_choose_prefers_active_and_ignores_order():
    rng = np.random.default_rng(0)
    e1 = rng.normal(size=200)
    active = e1 + rng.normal(0, 2.0, 200)  # weak positive
    rep = -e1 + rng.normal(0, 0.3, 200)  # strong, repressive
    t = orientation.Tracks(np.c_[rep, active], ["H3K27me3", "H3K27ac"], [-1, 1])
    t2 = orientation.Tracks(np.c_[active, rep], ["H3K27ac", "H3K27me3"], [1, -1])
    a, b = orientation.choose(e1, t), orientation.choose(e1, t2)
    assert t.names[a["index"]] == t2.names[b["index"]] == "H3K27ac"
    assert orientation.choose(e1, t, pick="first")["index"] == 0
    # without an active track the repressive one orients, sign applied
    only = orientation.Tracks(rep[:, None], ["H3K9me3"], [-1])
    assert orientation.choose(e1, only)["r"][0] > 0.9
    # a track with values on too few bins cannot orient
    sparse = np.where(np.arange(200) < 50, active, np.nan)
    assert orientation.choose(e1, orientation.Tracks(sparse[:, None], ["H3K27ac"], [1]))["index"] is None


@pytest.fixture(scope="module")
def sim_calls(sim_small, tmp_path_factory):
    """compute_compartments on simulated GM12878 with the seed's two marks in several orders/signs."""
    out = tmp_path_factory.mktemp("orient")
    runs = {"CTCF H3K27me3": [], "H3K27me3 CTCF": [], "H3K27me3 -1": ["--orient-sign", "-1"],
            "H3K27me3 +1": ["--orient-sign", "+1"]}
    res = {}
    for key, extra in runs.items():
        marks = key.split()[:2] if "1" not in key else ["H3K27me3"]
        target = out / (key.replace(" ", "_").replace("+", "p") + ".csv")
        proc = call_main(cc.main, "--mcool", sim_small / "GM12878.mcool", "--res", "25000", "--chrom", "chr21",
                         "--bigwig_orient", *[sim_small / f"GM12878_{m}.bw" for m in marks],
                         "--orient-names", *marks, *extra, "--out", target)
        assert proc.returncode == 0, proc.stderr
        res[key] = (pd.read_csv(target), json.loads(target.with_suffix(".qc.json").read_text()), proc.stderr)
    return res


def test_mark_order_does_not_change_calls(sim_calls, sim_small):
    a, qa, _ = sim_calls["CTCF H3K27me3"]
    b, qb, _ = sim_calls["H3K27me3 CTCF"]
    pd.testing.assert_frame_equal(a, b)
    truth = pd.read_csv(sim_small / "truth.tsv", sep="\t")["compartment_GM12878"].to_numpy()
    used = truth != "N"
    assert (a["compartment"].to_numpy()[used] == truth[used]).mean() >= 0.95
    for q in (qa, qb):
        assert q["orientation"]["used_by_region"] == {"chr21": "CTCF"}
        region = q["regions"][0]
        assert region["orient_track"] == "CTCF" and region["orient_sign"] == 1 and region["orient_abs_r"] > 0.2
        assert region["orient_candidates_r"]["H3K27me3"] < 0  # unsigned: plain r (B-high in the simulator)
    assert qb["orientation"]["signs"] == [0, 1]


def test_h3k27me3_alone_needs_an_explicit_sign(sim_calls, sim_small, tmp_path):
    out = tmp_path / "o" / "c.csv"
    proc = call_main(cc.main, "--mcool", sim_small / "GM12878.mcool", "--res", "25000", "--chrom", "chr21",
                     "--bigwig_orient", sim_small / "GM12878_H3K27me3.bw", "--out", out)
    assert_clean_error(proc, "H3K27me3 cannot orient E1 on its own", "--orient-sign")
    assert not out.parent.exists() or not any(out.parent.iterdir())
    a = sim_calls["CTCF H3K27me3"][0]["compartment"]
    alone, q, _ = sim_calls["H3K27me3 -1"]  # B-high in the simulator: -1 is right there
    assert (alone["compartment"] == a).all() and q["regions"][0]["orient_sign"] == -1
    flipped = sim_calls["H3K27me3 +1"][0]["compartment"]  # the other explicit sign inverts A/B
    called = a != "N"
    assert (flipped[called] != a[called]).all()


def test_disagreeing_track_is_warned_about(sim_small, tmp_path):
    # CTCF given twice, once with the wrong sign: the pick (an active +1 track) is the right CTCF,
    # and the other is reported as disagreeing
    bw = sim_small / "GM12878_CTCF.bw"
    out = tmp_path / "c.csv"
    proc = call_main(cc.main, "--mcool", sim_small / "GM12878.mcool", "--res", "25000", "--chrom", "chr21",
                     "--bigwig_orient", bw, bw, "--orient-names", "CTCF", "flippedCTCF",
                     "--orient-sign", "+1", "-1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "disagrees with flippedCTCF" in proc.stderr
    qc = json.loads(out.with_suffix(".qc.json").read_text())
    assert qc["orientation"]["disagree_by_region"] == {"chr21": ["flippedCTCF"]}


def test_track_not_covering_the_chromosome_fails_cleanly(sim_small, tmp_path):
    import pyBigWig

    with pyBigWig.open(str(sim_small / "GM12878_CTCF.bw")) as src:  # noqa: SIM117
        length = src.chroms()["chr21"]
    part = synth_hic.write_bigwig(tmp_path / "part_CTCF.bw", {"chr21": np.r_[np.ones(40), np.full(440, np.nan)] + 0},
                                  step=25_000, lengths={"chr21": length})
    out = tmp_path / "o" / "c.csv"
    proc = call_main(cc.main, "--mcool", sim_small / "GM12878.mcool", "--res", "25000", "--chrom", "chr21",
                     "--bigwig_orient", part, "--out", out)
    assert_clean_error(proc, "do not cover chr21", "pass a track that covers the chromosome")
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_run_pipeline_marks_in_either_order_give_the_same_calls(sim_calls, sim_small, tmp_path):
    """`run_pipeline.sh --marks H3K27me3 CTCF` gives the calls of the seed's order `--marks CTCF H3K27me3`
    (the pipeline's compartments command for that order is the fixture's "CTCF H3K27me3" run)."""
    res = tmp_path / "results"
    proc = subprocess.run(["bash", str(ROOT / "run_pipeline.sh"), "--raw", str(sim_small),
                           "--processed", str(tmp_path / "processed"), "--results", str(res),
                           "--marks", "H3K27me3", "CTCF", "--only", "compartments"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CHROMATIN_GNN_PYTHON": os.environ.get("CHROMATIN_GNN_PYTHON", "")
                               or str(ROOT / ".venv/bin/python")})
    assert proc.returncode == 0, proc.stderr
    pd.testing.assert_frame_equal(pd.read_csv(res / "GM12878/compartments_chr21.csv"), sim_calls["CTCF H3K27me3"][0])
    qc = json.loads((res / "IMR90/compartments_chr21.qc.json").read_text())
    assert qc["orientation"]["tracks"] == ["H3K27me3", "CTCF"] and qc["orientation"]["used_by_region"] == {
        "chr21": "CTCF"}
    assert (res / "GM12878/compartments_chr21.E1.bw").is_file()


def test_known_tracks_keeps_the_signed_columns_only():
    values = np.arange(12, dtype=float).reshape(3, 4)
    t = orientation.known_tracks(values, ["GM12878_H3K27ac", "H3K27me3", "foo", "H3K9me3"])
    assert t.names == ["GM12878_H3K27ac", "H3K9me3"] and t.signs == [1, -1]
    assert (t.values == values[:, [0, 3]]).all()
    assert orientation.known_tracks(values[:, 1:3], ["H3K27me3", "foo"]) is None
