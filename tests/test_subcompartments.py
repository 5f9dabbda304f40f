"""Subcompartment calling: naming, N bins, outputs, bad input, recovery on a planted toy."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import call_subcompartments as cs
import common
import subcompartments as sc
import tracks
from conftest import assert_clean_error, call_main

STATES = ["A1", "A2", "B1", "B2", "B3"]
E1_OF = {"A1": 1.0, "A2": 0.5, "B1": -0.3, "B2": -0.7, "B3": -1.0}


def _toy(n: int = 360, *, seed: int = 0, n_masked: int = 20) -> dict:
    """Five planted states in runs of 8-25 bins; marks, contacts, E1 and an 'embedding' follow them."""
    rng = np.random.default_rng(seed)
    runs = rng.integers(8, 25, size=n)
    state = np.repeat(rng.integers(0, 5, size=n), runs)[:n]
    means = rng.normal(0, 1.5, size=(5, 6))
    x = np.exp(0.5 * (means[state] + rng.normal(0, 1.0, (n, 6))))
    i, j = np.triu_indices(n, 1)
    near = (j - i) <= 15
    i, j = i[near], j[near]
    w = (j - i) ** -0.8 * (1 + 2.0 * (state[i] == state[j]))
    emb = means[state] @ rng.normal(size=(6, 8)) + rng.normal(0, 1.5, (n, 8))
    mask = np.arange(n) >= n_masked
    x[~mask] = 0
    e1 = np.array([E1_OF[STATES[s]] for s in state]) + rng.normal(0, 0.2, n)
    start = np.arange(n, dtype=np.int64) * 25_000
    g = {"format": common.GRAPH_FORMAT, "format_version": 1, "x": torch.tensor(x, dtype=torch.float32),
         "feature_names": ["CTCF", "H3K27ac", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3"],
         "edge_index": torch.tensor(np.r_[[np.r_[i, j]], [np.r_[j, i]]], dtype=torch.long),
         "edge_weight": torch.tensor(np.r_[w, w], dtype=torch.float32), "mask": torch.tensor(mask),
         "chroms": ["chr21"], "chrom_id": torch.zeros(n, dtype=torch.long), "start": torch.tensor(start),
         "end": torch.tensor(start + 25_000), "resolution": 25_000, "edge_transform": "log1p", "provenance": {}}
    return {"graph": g, "state": np.array(STATES, dtype=object)[state], "emb": emb.astype(np.float32),
            "e1": e1, "mask": mask}


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("subcomp")
    t = _toy()
    n = len(t["e1"])
    common.save_pt(d / "g.pt", t["graph"])
    bins = common.bins_frame(t["graph"])
    np.save(d / "emb.npy", t["emb"])
    bins.assign(**{f"z{k}": t["emb"][:, k] for k in range(t["emb"].shape[1])}).to_csv(
        d / "emb.tsv", sep="\t", index=False)
    e1 = np.where(t["mask"], t["e1"], np.nan)
    e1[100:104] = np.nan  # compartment N bins inside the usable part
    comp = bins.assign(E1=e1, E2=np.random.default_rng(1).normal(size=n), E3=0.0,
                       compartment=np.where(np.isnan(e1), "N", np.where(e1 > 0, "A", "B")))
    comp.to_csv(d / "comp.csv", index=False)
    truth = bins.assign(compartment_toy=np.where(t["mask"], np.where(t["e1"] > 0, "A", "B"), "N"),
                        subcompartment_toy=np.where(t["mask"], t["state"], "N"), tad_id=0)
    truth.to_csv(d / "truth.tsv", sep="\t", index=False)
    return {"dir": d, "graph": d / "g.pt", "emb": d / "emb.npy", "comp": d / "comp.csv",
            "truth": d / "truth.tsv", "toy": t, "comp_n": np.isnan(e1)}


def test_naming_is_stable_under_label_permutation():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, 200)
    e1 = np.array([1.0, -1.0, 0.4, -0.3, -0.6])[labels] + rng.normal(0, 0.05, 200)
    base = sc.named(labels, e1)
    for _ in range(5):
        perm = rng.permutation(5)
        assert (sc.named(perm[labels], e1) == base).all()
    assert sorted(set(base)) == STATES
    assert set(base[labels == 0]) == {"A1"} and set(base[labels == 1]) == {"B3"}


def test_matched_accuracy_and_ari_ignore_label_names():
    ref = np.array(list("AABBBCC"))
    pred = np.array(["2", "2", "0", "0", "0", "1", "1"])
    s = sc.score_labels(ref, pred)
    assert s["ari"] == pytest.approx(1.0) and s["accuracy"] == pytest.approx(1.0)
    pred[0] = "1"
    assert sc.score_labels(ref, pred)["accuracy"] == pytest.approx(6 / 7)
    # N on either side is left out
    assert sc.score_labels(np.append(ref, "N"), np.append(pred, "0"))["n_bins"] == 7


def test_labels_from_intervals_rebins_by_overlap():
    bins = pd.DataFrame({"chrom": "chr21", "start": [0, 40, 80, 120], "end": [40, 80, 120, 160]})
    bed = pd.DataFrame({"chrom": ["21", "21", "21"], "start": [0, 50, 100], "end": [50, 100, 110],
                        "label": ["A1", "B2", "B1"]})
    # bin 0: all A1; bin 1: 10 A1 / 30 B2; bin 2: 20 B2 + 10 B1 of 40 (75% covered); bin 3: none
    assert list(sc.labels_from_intervals(bed, bins)) == ["A1", "B2", "B2", "N"]


def test_genome_smooth_never_bridges_masked_gaps():
    x = np.arange(10, dtype=float)[:, None]
    usable = np.ones(10, bool)
    usable[5] = False
    out = sc.genome_smooth(x, usable, np.zeros(10, int), window=3)
    assert out[4, 0] == pytest.approx(3.5)  # neighbours 3, 4 only
    assert out[6, 0] == pytest.approx(6.5)
    assert out[5, 0] == 5


def test_recovers_planted_states(toy_files):
    t = toy_files["toy"]
    g = t["graph"]
    usable = t["mask"]
    marks = sc.log_marks(g["x"].numpy())
    names, post, info = sc.call_subcompartments(t["emb"], usable=usable, chrom_id=np.zeros(len(usable), int),
                                                e1=t["e1"], marks=marks, k=5)
    assert info["states"] == STATES and info["features"] == "HMM over PCA([embedding, marks])"
    assert (names[~usable] == "N").all()
    assert np.allclose(post[usable].sum(1), 1)
    s = sc.score_labels(t["state"][usable], names[usable])
    assert s["ari"] > 0.8, s
    # names follow E1 on this toy
    assert s["accuracy"] > 0.9 and (names[usable] == t["state"][usable]).mean() > 0.9


def test_step_end_to_end_keeps_n_bins_and_writes_everything(toy_files, tmp_path):
    out = tmp_path / "toy" / "subcompartments_chr21.csv"
    args = ["--emb", toy_files["emb"], "--graph", toy_files["graph"], "--compartments", toy_files["comp"],
            "--truth", toy_files["truth"], "--cell", "toy", "--out", out, "-q"]
    r = call_main(cs.main, *args)
    assert r.returncode == 0, r.stderr
    paths = cs.output_paths(out)
    for p in paths.values():
        assert p.is_file(), p
    table = pd.read_csv(out)
    assert list(table.columns[:4]) == ["chrom", "start", "end", "subcompartment"]
    assert [c for c in table.columns if c.startswith("p_")] == [f"p_{s}" for s in STATES]
    n_expected = ~toy_files["toy"]["mask"] | toy_files["comp_n"]
    assert (table["subcompartment"][n_expected] == "N").all()
    assert (table["subcompartment"][~n_expected] != "N").all()
    assert table.loc[n_expected, "p_A1"].isna().all()
    bed = pd.read_csv(paths["bed"], sep="\t", header=None)
    assert bed.shape[1] == 9 and "N" not in set(bed[3]) and bed[8].str.count(",").eq(2).all()
    bw = tracks.read_bin_bigwig(paths["bw"], table)
    assert np.isnan(bw[n_expected]).all() and np.isfinite(bw[~n_expected]).all()
    summary = json.loads(paths["json"].read_text())
    assert summary["k"] == 5 and summary["provenance"]["parameters"]["k"] == 5
    scores = summary["scores"]
    assert scores["method"]["ari"] > 0.7
    assert "kmeans: marks" in scores["baselines"] and "HMM: Â^2X marks (no training)" in scores["baselines"]
    assert "HMM: marks + E1-E3 (the step without the embedding)" in scores["baselines"]
    assert summary["features"] == "HMM over PCA([embedding, marks, E1-E3])"
    assert scores["best_baseline"] in scores["baselines"]
    md = cs.report_markdown({"toy": summary}, {})
    assert "| step |" in md and f"{scores['method']['ari']:.3f}" in md and "kmeans: marks" in md
    # same seed, same calls
    first = out.read_bytes()
    assert call_main(cs.main, *args).returncode == 0
    assert out.read_bytes() == first
    # a failing re-run leaves the previous outputs exactly as they were, and no temporary files
    bad = call_main(cs.main, *args[:-3], "--k", "1", "--out", out)
    assert bad.returncode != 0
    assert out.read_bytes() == first
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]


def test_k_auto_reports_the_criterion(toy_files, tmp_path):
    out = tmp_path / "auto.csv"
    r = call_main(cs.main, "--emb", toy_files["emb"], "--graph", toy_files["graph"], "--compartments",
                  toy_files["comp"], "--k", "auto", "--k-range", "3", "6", "--no-baselines", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    s = json.loads(out.with_suffix(".json").read_text())
    assert s["k_choice"]["criterion"].startswith("BIC")
    assert set(map(int, s["k_choice"]["bic"])) == {3, 4, 5, 6} and s["k"] == s["k_choice"]["k"]


@pytest.mark.parametrize("case,fragments", [
    ("k1", ("--k", "at least 2")),
    ("rows", ("rows",)),
    ("krange", ("--k-range",)),
])
def test_bad_input_one_line_error(toy_files, tmp_path, case, fragments):
    emb = toy_files["emb"]
    extra = []
    if case == "k1":
        extra = ["--k", "1"]
    elif case == "rows":
        emb = tmp_path / "short.npy"
        np.save(emb, np.load(toy_files["emb"])[:-7])
    elif case == "krange":
        extra = ["--k", "auto", "--k-range", "6", "3"]
    r = call_main(cs.main, "--emb", emb, "--graph", toy_files["graph"], "--out", tmp_path / "o.csv", *extra)
    assert_clean_error(r, *fragments)
    assert not (tmp_path / "o.csv").exists()


def test_graph_smooth_is_the_baselines_smoothing_on_the_encoders_edges():
    """subcompartments.graph_smooth = baselines.smoothed_features on model.prepare_graph's edges."""
    import baselines
    import model as vgae

    g = _toy(120, n_masked=10)["graph"]
    usable = g["mask"].numpy().astype(bool)
    marks = sc.log_marks(g["x"].numpy())
    data = vgae.prepare_graph(g)
    want = baselines.smoothed_features(x=marks, edge_index=data.edge_index.numpy(),
                                       edge_weight=data.edge_weight.numpy(), mask=usable, steps=(2,))[2]
    got = sc.graph_smooth(marks, g["edge_index"].numpy(), g["edge_weight"].numpy(), usable, hops=2)
    assert np.allclose(got[usable], want[usable], atol=1e-5)
    # smoothing changes the usable bins (it is not the identity) and never reaches an unusable one
    z = sc.standardise(marks, usable)
    assert not np.allclose(got[usable], z[usable]) and np.allclose(got[~usable], z[~usable])


def test_n_bins_stay_n_and_never_move_the_calls():
    """An unusable bin is N whatever its values; the calls of the other bins do not depend on them."""
    t = _toy(240, n_masked=12)
    usable = t["mask"].copy()
    usable[100:103] = False
    marks = sc.log_marks(t["graph"]["x"].numpy())
    kw = dict(usable=usable, chrom_id=np.zeros(len(usable), int), e1=t["e1"], k=5)
    names, post, _ = sc.call_subcompartments(t["emb"], marks=marks, **kw)
    assert (names[~usable] == "N").all() and (names[usable] != "N").all()
    assert np.isnan(post[~usable]).all()
    emb2, marks2 = t["emb"].copy(), marks.copy()
    emb2[~usable] = 1e6
    marks2[~usable] = -1e6
    names2, _, _ = sc.call_subcompartments(emb2, marks=marks2, **kw)
    assert (names2 == names).all()


@pytest.mark.parametrize("bad", ["k", "emb_rows", "marks_rows"])
def test_call_subcompartments_bad_input_is_a_data_error(bad):
    t = _toy(120, n_masked=5)
    usable, emb = t["mask"], t["emb"]
    marks = sc.log_marks(t["graph"]["x"].numpy())
    kw = dict(usable=usable, chrom_id=np.zeros(len(usable), int), marks=marks, k=5)
    if bad == "k":
        kw["k"] = 1
    elif bad == "emb_rows":
        emb = emb[:-3]
    else:
        kw["marks"] = marks[:-1]
    with pytest.raises(common.DataError) as err:
        sc.call_subcompartments(emb, **kw)
    assert "\n" not in str(err.value) and ("at least 2" in str(err.value) or "rows" in str(err.value))


def test_ten_eigs_come_from_the_compartment_csv_when_it_has_them(toy_files, tmp_path, monkeypatch):
    """With E1..E10 in the CSV the cooler is not read (and a missing --mcool is no error)."""
    comp = pd.read_csv(toy_files["comp"])
    rng = np.random.default_rng(4)
    for i in range(4, 11):
        comp[f"E{i}"] = rng.normal(size=len(comp))
    cols = ["chrom", "start", "end", *[f"E{i}" for i in range(1, 11)], "compartment"]
    path = tmp_path / "comp10.csv"
    comp[cols].to_csv(path, index=False)

    def no_cooler(*a, **k):
        raise AssertionError("the cooler was read although the CSV has E1-E10")

    monkeypatch.setattr(cs, "ten_eigs", no_cooler)
    args = cs.build_parser().parse_args(["--emb", str(toy_files["emb"]), "--graph", str(toy_files["graph"]),
                                         "--compartments", str(path), "--mcool", str(tmp_path / "absent.mcool"),
                                         "--out", str(tmp_path / "o.csv")])
    run = cs.load_inputs(args)
    assert run["eigs"].shape[1] == 10 and np.allclose(run["e123"], run["eigs"][:, :3], equal_nan=True)
    # a CSV with only E1-E3 and no --mcool: E1-E3 for the baseline
    args.compartments, args.mcool = str(toy_files["comp"]), None
    assert cs.load_inputs(args)["eigs"].shape[1] == 3


def test_bench_reruns_a_stage_whose_code_changed(tmp_path, monkeypatch):
    """bench_subcompartments.invalidate_stale: a stage whose script is newer than its last run
    loses its .cmd (so run_pipeline.sh re-runs it); the others keep theirs."""
    import os
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_subcompartments as bs

    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for f in ("train_vgae.py", "model.py", "build_graph.py"):
        (scripts / f).write_text("")
    logs = tmp_path / "results" / "logs"
    logs.mkdir(parents=True)
    for stage in ("train", "graph"):
        (logs / f"{stage}.cmd").write_text("cmd")
    os.utime(scripts / "build_graph.py", (1_000, 1_000))
    os.utime(logs / "graph.cmd", (2_000, 2_000))
    os.utime(logs / "train.cmd", (2_000, 2_000))
    os.utime(scripts / "train_vgae.py", (3_000, 3_000))  # edited after the last training
    os.utime(scripts / "model.py", (1_000, 1_000))
    monkeypatch.setattr(bs, "ROOT", tmp_path)
    assert bs.invalidate_stale(tmp_path / "results") == ["train"]
    assert not (logs / "train.cmd").exists() and (logs / "graph.cmd").exists()


def test_graph_marks_leave_out_the_map_derived_columns():
    """build_graph adds E1-E3 (signed) as node features: they are not marks (no log1p of a clipped E1)."""
    g = dict(_toy(60, n_masked=0)["graph"])
    e = np.random.default_rng(0).normal(size=(60, 3))
    g["x"] = torch.cat([g["x"], torch.tensor(e, dtype=torch.float32)], 1)
    g["feature_names"] = [*g["feature_names"], "E1", "E2", "E3"]
    marks, names = sc.graph_marks(g)
    assert names == g["feature_names"][:6] and marks.shape == (60, 6)
    assert np.allclose(marks, sc.log_marks(g["x"][:, :6].numpy()))
    g["x"], g["feature_names"] = g["x"][:, 6:], ["E1", "E2", "E3"]
    assert sc.graph_marks(g) == (None, [])


def test_prediction_strength_tells_structure_from_noise():
    """Planted states reproduce across the two halves of the genome; pure noise does not."""
    t = _toy(400, n_masked=0)
    usable = t["mask"]
    marks = sc.log_marks(t["graph"]["x"].numpy())
    f = sc.method_features(t["emb"], usable, marks=marks)
    lengths = sc.run_lengths_of(usable, np.zeros(len(usable), int))
    real = sc.prediction_strength(f, lengths, k=5)
    noise = sc.prediction_strength(np.random.default_rng(0).normal(size=f.shape), lengths, k=5)
    assert real > 0.5 and noise < 0.2, (real, noise)
    # runs cut at the middle of the genome; same seed, same number
    assert sc.prediction_strength(f, [150, 100, 150], k=3) == pytest.approx(
        sc.prediction_strength(f, [150, 100, 150], k=3))


def test_shared_emission_hmm_gives_hmmlearns_numbers():
    """The E-step that computes the emissions of all rows at once fits, decodes and scores
    exactly as hmmlearn's per-run computation (several runs, uneven lengths)."""
    from hmmlearn.hmm import GaussianHMM

    rng = np.random.default_rng(1)
    f = rng.standard_normal((600, 3)) + np.repeat(rng.integers(0, 3, 12), 50)[:, None]
    lengths = [100, 37, 200, 63, 200]

    def fitted(cls):
        h = cls(n_components=3, covariance_type="tied", n_iter=20, tol=1e-3, random_state=0,
                init_params="", params="stmc", min_covar=1e-3)
        h.startprob_ = np.full(3, 1 / 3)
        h.transmat_ = np.full((3, 3), 0.05) + 0.85 * np.eye(3)
        h.means_ = f[[0, 250, 500]]
        h.covars_ = np.eye(3)
        return h.fit(f, lengths)

    a, b = fitted(GaussianHMM), fitted(sc._shared_emission_hmm())
    assert a.monitor_.iter == b.monitor_.iter > 1
    assert np.array_equal(a.means_, b.means_) and np.array_equal(a.transmat_, b.transmat_)
    with b.rows_of(f):
        assert np.array_equal(a.predict_proba(f, lengths), b.predict_proba(f, lengths))
        assert np.array_equal(a.predict(f, lengths), b.predict(f, lengths))
