"""differential.py: per-bin test against pseudo-replicates, calibration, calls, regions, attribution."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import attribution
import common
import compare_embeddings
import compute_compartments
import differential as D
import encode_graph
import model as vgae
import thin
import tracks
from conftest import assert_clean_error, call_main

CELLS = ("GM12878", "IMR90")


# ----------------------------------------------------------------------------
# unit tests of the statistics
# ----------------------------------------------------------------------------
def test_between_and_within_are_exchangeable_under_no_difference():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(4, 3, 4000, 8))  # 4 iid halves, 3 splits
    b, w = D.replicate_statistics(*h, kind="cosine")
    assert b.shape == w.shape == (4000,)
    assert abs(np.median(b) - np.median(w)) < 0.02
    b, w = D.replicate_statistics(*h[:, :, :, 0], kind="signed")
    assert abs(np.std(b) - np.std(w)) < 0.03 * np.std(w)
    # a real difference moves only the between-cell statistic
    h2 = h.copy()
    h2[2:, :, :, 0] += 3.0
    b2, w2 = D.replicate_statistics(*h2[:, :, :, 0], kind="signed")
    np.testing.assert_allclose(w2, w)
    assert np.mean(b2) == pytest.approx(-3.0, abs=0.05)


def test_coverage_matched_p_values_are_uniform_where_noise_depends_on_coverage():
    rng = np.random.default_rng(1)
    n = 3000
    cov = rng.lognormal(5, 1, n)
    sd = 1 / np.sqrt(cov)
    between, within = rng.normal(0, sd), rng.normal(0, sd)
    ok = np.ones(n, bool)
    t = D.test_bins(between, within, cov, ok, two_sided=True)
    low = cov < np.median(cov)
    for sel in (low, ~low):  # calibrated in low- and in high-coverage bins, not only overall
        assert 0.03 <= (t["p"][sel] <= 0.05).mean() <= 0.07
    # without the coverage scaling the low-coverage bins would be called far too often
    raw = D.empirical_p(np.abs(between), np.abs(within), ok)
    assert (raw[low] <= 0.05).mean() > 0.08


def test_empirical_null_widens_to_the_between_cell_bulk():
    rng = np.random.default_rng(2)
    n = 4000
    cov = np.ones(n)
    ok = np.ones(n, bool)
    within = rng.normal(0, 1, n)
    # the halves explain the between-cell bulk: no widening, calibrated either way
    same = rng.normal(0, 1, n)
    t = D.test_bins(same, within, cov, ok, two_sided=True, empirical=True)
    assert t["inflation"] == pytest.approx(1.0, abs=0.1)
    assert 0.03 <= (t["p"] <= 0.05).mean() <= 0.07
    # replicate-level noise 3x the halves' and shifted, plus 2 % of bins truly changed
    between = 0.5 + rng.normal(0, 3, n)
    between[:80] += 40.0
    plain = D.test_bins(between, within, cov, ok, two_sided=True)
    emp = D.test_bins(between, within, cov, ok, two_sided=True, empirical=True)
    assert (plain["p"][80:] <= 0.05).mean() > 0.4  # the halves' null calls replicate noise
    assert emp["inflation"] == pytest.approx(3.0, rel=0.15) and emp["centre"] == pytest.approx(0.5, abs=0.3)
    assert 0.02 <= (emp["p"][80:] <= 0.05).mean() <= 0.08
    assert (emp["q"][:80] <= 0.05).mean() > 0.9  # the real changes are still found
    # a distance (one-sided): the ratio of medians
    d = D.test_bins(np.abs(between), np.abs(within), cov, ok, two_sided=False, empirical=True)
    assert d["inflation"] > 2


def test_benjamini_hochberg_matches_the_definition():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, np.nan])
    q = D.bh_q(p)
    m = 8
    ranked = np.minimum.accumulate((p[:m] * m / np.arange(1, m + 1))[::-1])[::-1]
    np.testing.assert_allclose(q[:m], np.minimum(ranked, 1))
    assert np.isnan(q[-1])


def test_calls_and_regions():
    bins = pd.DataFrame({"chrom": ["chr1"] * 6 + ["chr2"] * 4, "start": np.r_[0:6, 0:4] * 10,
                         "end": np.r_[1:7, 1:5] * 10})
    codes = np.array([1, 1, 1, 0, 0, 2, 2, 0, 0, 1], np.int8)
    q_e1 = np.array([.01, .01, .01, .5, .5, .01, .5, .5, .5, .01])
    q_emb = np.array([.5, .5, .5, .01, .01, .5, .5, .5, .01, .5])
    calls = D.call_bins(codes, q_e1, q_emb, fdr=0.05)
    assert calls.tolist() == [1, 1, 1, 3, 3, 2, 0, 0, 3, 1]
    # min-run drops short switch runs; a run never crosses a chromosome
    assert D.call_bins(codes, q_e1, q_emb, fdr=0.05, new_chrom=D.chrom_codes(bins)[1], min_run=2).tolist() == \
        [1, 1, 1, 3, 3, 0, 0, 0, 3, 0]
    reg = D.merge_regions(bins, calls, {"q_value": q_emb, "cosine": np.arange(10.0)})
    assert reg[["chrom", "start", "end", "kind", "n_bins"]].values.tolist() == [
        ["chr1", 0, 30, "B_to_A", 3], ["chr1", 30, 50, "changed", 2], ["chr1", 50, 60, "A_to_B", 1],
        ["chr2", 20, 30, "changed", 1], ["chr2", 30, 40, "B_to_A", 1]]
    assert reg["q_value"].tolist()[1] == 0.01 and reg["cosine"].tolist()[1] == 3.5
    assert D.merge_regions(bins, np.zeros(10, np.int8), {"q_value": q_emb}).empty


def test_local_gap_follows_the_local_a_b_levels():
    n = 400
    chrom = np.repeat([0, 1], n // 2)
    lab = np.tile(np.repeat([0, 1], 10), n // 20)  # A/B blocks of 10 bins
    scale = np.where(chrom == 0, 1.0, 0.25)  # chromosome 2 compartmentalised 4x less
    e1 = np.where(lab == 0, 1.0, -1.0) * scale
    ok = np.ones(n, bool)
    ok[:15] = False
    gap = D.local_gap([e1, e1], [lab, lab], ok, chrom, window=41)
    np.testing.assert_allclose(gap[chrom == 0], 2.0)
    np.testing.assert_allclose(gap[chrom == 1], 0.5)
    # no B bin at all on a chromosome: no gap there
    assert np.isnan(D.local_gap([e1], [np.where(chrom == 1, 0, lab)], ok, chrom, window=41)[chrom == 1]).all()


def test_switch_rules():
    c1 = np.array([1, 1, 1, 0, 0, 0, 1, 2], np.int8)
    e1a = np.array([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, 0.0])
    e1b = np.array([0.2, 0.0, -0.8, -0.2, 0.3, 1.5, -1.5, 1.0])
    c2 = np.where(e1b > 0, 0, 1).astype(np.int8)
    c2[-1] = 0
    gap = np.full(8, 2.0)
    # sign: the labels differ (bins 0 and 3); halfway: moved >= 1.0 towards the other side (0, 1 and 3)
    assert D.switch_candidates(e1a, e1b, c1, c2, rule="sign").tolist() == [1, 0, 0, 2, 0, 0, 0, 0]
    assert D.switch_candidates(e1a, e1b, c1, c2, rule="halfway", gap=gap).tolist() == [1, 1, 0, 2, 0, 0, 0, 0]
    # a smaller local gap makes the same move a switch
    assert D.switch_candidates(e1a, e1b, c1, c2, rule="halfway", gap=gap / 2).tolist() == [1, 1, 0, 2, 2, 0, 0, 0]
    with pytest.raises(ValueError):
        D.switch_candidates(e1a, e1b, c1, c2, rule="halfway")


# ----------------------------------------------------------------------------
# on simulated maps
# ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kit(sim_small, tmp_path_factory):
    """Graphs, full-depth compartments and a fixed (untrained) encoder for the small simulation."""
    import build_graph

    d = tmp_path_factory.mktemp("diff")
    out = {"dir": d}
    for c in CELLS:
        bws = sorted(str(p) for p in sim_small.glob(f"{c}_*.bw"))
        assert build_graph.main(["--mcool", str(sim_small / f"{c}.mcool"), "--chrom", "chr21", "--res", "25000",
                                 "--bigwigs", *bws, "--out", str(d / f"{c}.pt"), "-q"]) == 0
        assert compute_compartments.main(["--mcool", str(sim_small / f"{c}.mcool"), "--chrom", "chr21",
                                          "--res", "25000", "--bigwig_orient", bws[0],
                                          "--out", str(d / f"comp_{c}.csv"), "-q"]) == 0
    g = common.load_graph(d / f"{CELLS[0]}.pt")
    torch.manual_seed(0)
    model = vgae.build_model({"in_channels": g["x"].shape[1], "hidden": 16, "latent": 8, "dropout": 0.0})
    data = vgae.prepare_graph(g)
    model.train()
    model.encode(data)  # BatchNorm statistics of cell 1, as training would set them
    model.eval()
    common.save_pt(d / "model.pt", {"format": common.MODEL_FORMAT, "format_version": common.FORMAT_VERSION,
                                    "state_dict": model.state_dict(), "hparams": model.hparams,
                                    "feature_names": list(g["feature_names"])})
    for c in CELLS:
        gc = common.load_graph(d / f"{c}.pt")
        vgae.save_embedding(str(d / f"emb_{c}.npy"), vgae.embed(model, vgae.prepare_graph(gc)), gc, {})
    out["model"] = d / "model.pt"
    return out


def _cell(blocks, graph, model, e1):
    return {"blocks": blocks, "graph": graph, "model": model, "bn": "frozen", "e1": e1, "replicate": None}


def test_same_cell_against_itself_false_positive_rate_near_alpha(kit, sim_small):
    """Two pseudo-replicates of one cell: every difference is technical, so p must be ~uniform."""
    model, _ = encode_graph.load_model(str(kit["model"]))
    g = common.load_graph(kit["dir"] / f"{CELLS[0]}.pt")
    comp = pd.read_csv(kit["dir"] / f"comp_{CELLS[0]}.csv")
    blocks = D.read_blocks(str(sim_small / f"{CELLS[0]}.mcool"), g["chroms"], res=25000)
    fprs = {"embedding": [], "E1": []}
    for seed in (11, 12):  # two independent halvings of the same map
        rng = np.random.default_rng(seed)
        half1, half2 = D.cell_halves(blocks, rng=rng)
        cells = [_cell(h, g, model, comp["E1"].to_numpy()) for h in (half1, half2)]
        reps = D.pseudo_replicates(cells, n_splits=1, seed=seed, centromeres={"chr21": None})
        emb = [D.embed_graph(model, D.half_graph(h, g)) for h in (half1, half2)]
        cov = np.minimum(*(np.concatenate([b.coverage for b in h]) for h in (half1, half2)))
        usable = g["mask"].numpy() & np.isfinite(comp["E1"].to_numpy())
        t = D.differential(reps, full_emb=emb, full_e1=[comp["E1"].to_numpy()] * 2,
                           comp=[comp["compartment"].to_numpy(str)] * 2, coverage=cov, usable=usable,
                           bins=common.bins_frame(g))
        tested = t["tested"].to_numpy(bool)
        assert tested.sum() > 250
        fprs["embedding"].append((t.loc[tested, "p_value"] <= 0.05).mean())
        fprs["E1"].append((t.loc[tested, "p_E1"] <= 0.05).mean())
        # no bin survives the FDR when nothing differs (or almost none)
        assert (t["q_value"] <= 0.05).mean() <= 0.02 and (t["q_E1"] <= 0.05).mean() <= 0.02
    for k, v in fprs.items():
        assert 0.01 <= np.mean(v) <= 0.10, (k, v)


def test_mark_null_covers_mark_noise(kit, sim_small):
    """Same contacts, marks that differ only by noise: with the Hi-C-only null the embedding test
    calls the mark noise significant; with --mark-null shift the p-values are near uniform."""
    import torch

    model, _ = encode_graph.load_model(str(kit["model"]))
    g = common.load_graph(kit["dir"] / f"{CELLS[0]}.pt")
    comp = pd.read_csv(kit["dir"] / f"comp_{CELLS[0]}.csv")
    e1 = comp["E1"].to_numpy()
    blocks = D.read_blocks(str(sim_small / f"{CELLS[0]}.mcool"), g["chroms"], res=25000)
    half1, half2 = D.cell_halves(blocks, rng=np.random.default_rng(5))
    x = g["x"].numpy()
    noise = np.random.default_rng(6).normal(size=x.shape) * 2.0 * x.std(axis=0)
    g2 = dict(g, x=torch.as_tensor(x + noise * g["mask"].numpy()[:, None], dtype=g["x"].dtype))
    cells = [_cell(half1, g, model, e1), _cell(half2, g2, model, e1)]
    emb = [D.embed_graph(model, D.half_graph(h, gg)) for h, gg in ((half1, g), (half2, g2))]
    cov = np.minimum(*(np.concatenate([b.coverage for b in h]) for h in (half1, half2)))
    usable = g["mask"].numpy() & np.isfinite(e1)
    fpr = {}
    for null in ("none", "shift"):
        reps = D.pseudo_replicates(cells, n_splits=1, seed=3, centromeres={"chr21": None}, mark_null=null)
        assert ("emb_marks" in reps) == (null == "shift")
        t = D.differential(reps, full_emb=emb, full_e1=[e1, e1], comp=[comp["compartment"].to_numpy(str)] * 2,
                           coverage=cov, usable=usable, bins=common.bins_frame(g))
        tested = t["tested"].to_numpy(bool)
        fpr[null] = (t.loc[tested, "p_value"] <= 0.05).mean()
        # the E1 test sees contacts only: calibrated either way
        assert 0.01 <= (t.loc[tested, "p_E1"] <= 0.05).mean() <= 0.10
    assert fpr["none"] > 0.2, fpr
    assert 0.01 <= fpr["shift"] <= 0.10, fpr


def test_half_graphs_recompute_contact_features(sim_small, tmp_path):
    """E1-E3 and coverage node features come from each half's contacts, signed like the graph's."""
    import build_graph

    bws = sorted(str(p) for p in sim_small.glob(f"{CELLS[0]}_*.bw"))
    out = tmp_path / "g.pt"
    assert build_graph.main(["--mcool", str(sim_small / f"{CELLS[0]}.mcool"), "--chrom", "chr21", "--res", "25000",
                             "--bigwigs", *bws, "--structural", "coverage", "E1", "E2", "E3",
                             "--feature-norm", "none", "--out", str(out), "-q"]) == 0
    g = common.load_graph(out)
    names = list(g["feature_names"])
    blocks = D.read_blocks(str(sim_small / f"{CELLS[0]}.mcool"), g["chroms"], res=25000)
    half = next(D.cell_halves(blocks, rng=np.random.default_rng(0)))
    x, xh = g["x"].numpy(), D.half_features(half, g)
    ok = g["mask"].numpy() & np.concatenate([b.mask for b in half])
    marks = D.mark_columns(names)
    assert len(marks) == len(bws)
    np.testing.assert_array_equal(xh[:, marks], x[:, marks])
    for n in ("E1", "coverage"):
        k = names.index(n)
        r = np.corrcoef(xh[ok, k], x[ok, k])[0, 1]
        assert 0.8 < r < 1.0 - 1e-9, (n, r)  # the same sign and shape, with the half's noise
    k = names.index("coverage")
    assert abs(np.median(xh[ok, k] - x[ok, k])) < 0.1  # coverage scaled back to full depth
    hg = D.half_graph(half, g)
    assert hg["feature_names"] == names and not torch.equal(hg["x"], g["x"])


def test_shifted_mark_noise_keeps_the_values_and_moves_them():
    rng = np.random.default_rng(0)
    diff = rng.normal(size=(300, 2))
    ok = np.ones(300, bool)
    ok[:20] = False
    chrom = np.repeat([0, 1], 150)
    out = D.shifted_mark_noise(diff, ok, chrom, rng=rng)
    assert (out[~ok] == 0).all()
    for c in (0, 1):
        sel = ok & (chrom == c)
        np.testing.assert_allclose(np.sort(out[sel], axis=0), np.sort(diff[sel], axis=0))
        assert not np.allclose(out[sel], diff[sel])


def test_attributions_add_up_to_the_change_from_the_marks(kit):
    model, _ = encode_graph.load_model(str(kit["model"]))
    g1, g2 = (common.load_graph(kit["dir"] / f"{c}.pt") for c in CELLS)
    mu1 = np.load(kit["dir"] / f"emb_{CELLS[0]}.npy")
    ok = np.flatnonzero(g2["mask"].numpy())
    regions = [ok[:20], ok[100:130]]
    attr = attribution.region_attributions(model, g2, x_base=g1["x"], mu_ref=mu1, regions=regions, n_steps=64)
    assert attr.shape == (2, g2["x"].shape[1])
    # completeness: the attributions sum to f(x2) - f(x1) on cell 2's contacts
    data = vgae.prepare_graph(g2)
    f = []
    for x in (g1["x"], g2["x"]):
        d = data.clone()
        d.x = x.float()
        mu = vgae.embed(model, d)
        f.append([D.cosine_distance(mu[r], mu1[r]).mean() for r in regions])
    change = np.subtract(f[1], f[0])
    np.testing.assert_allclose(attr.sum(1), change, atol=0.02 * np.abs(change).max() + 1e-4)
    assert attribution.top_marks(np.array([[0.1, 0.9], [-1.0, -1.0]]), ["CTCF", "H3K27me3"]) == \
        ["H3K27me3", "contacts"]


def _cli_args(kit, sim_small, prefix, **extra):
    d = kit["dir"]
    args = ["--model", kit["model"], "--prefix", prefix, "--n-splits", "1", "--ig-steps", "8", "-q"]
    for k, c in enumerate(CELLS, 1):
        args += [f"--mcool{k}", sim_small / f"{c}.mcool", f"--graph{k}", d / f"{c}.pt",
                 f"--emb{k}", d / f"emb_{c}.npy", f"--comp{k}", d / f"comp_{c}.csv", f"--label{k}", c]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", v]
    return args


def test_cli_writes_every_output_and_compare_uses_it(kit, sim_small, tmp_path):
    prefix = tmp_path / "chr21"
    r = call_main(D.main, *_cli_args(kit, sim_small, prefix, truth=sim_small / "truth.tsv"))
    assert r.returncode == 0, r.stderr
    out = D.output_paths(prefix)
    for p in out.values():
        assert p.is_file() and p.with_name(p.name + ".provenance.json").is_file(), p
    t = pd.read_csv(out["differential.csv"])
    assert {"p_value", "q_value", "p_E1", "q_E1", "call", "marks_delta", "smoothed_marks_delta",
            "E1_move"} <= set(t.columns)
    assert t.loc[~t["tested"], "p_value"].isna().all()
    # the bigWigs hold the CSV's values (float32), gaps where the CSV has none
    bins = t[["chrom", "start", "end"]]
    np.testing.assert_allclose(tracks.read_bin_bigwig(out["delta.bw"], bins), t["cosine"], rtol=1e-5)
    # (the CSV holds q to 6 digits: near q = 1, -log10 q is known to ~1e-6 absolute)
    np.testing.assert_allclose(tracks.read_bin_bigwig(out["mlog10q.bw"], bins), -np.log10(t["q_value"]),
                               rtol=1e-5, atol=1e-5)
    s = json.loads(out["differential.json"].read_text())
    assert s["truth"]["switch_calls"]["precision"] is None or s["truth"]["switch_calls"]["precision"] >= 0.8
    reg = pd.read_csv(out["regions.tsv"], sep="\t")
    if len(reg):
        assert "top_marks" in reg and {f"attr_{m}" for m in ("CTCF", "H3K27me3")} <= set(reg.columns)
    d = kit["dir"]
    cmp_prefix = tmp_path / "cmp"
    r = call_main(compare_embeddings.main, "--emb1", d / f"emb_{CELLS[0]}.npy", "--emb2", d / f"emb_{CELLS[1]}.npy",
                  "--label1", CELLS[0], "--label2", CELLS[1], "--comp1", d / f"comp_{CELLS[0]}.csv",
                  "--comp2", d / f"comp_{CELLS[1]}.csv", "--diff", out["differential.csv"],
                  "--prefix", cmp_prefix, "--n-perm", "50", "-q")
    assert r.returncode == 0, r.stderr
    delta = pd.read_csv(f"{cmp_prefix}_delta.csv")
    np.testing.assert_array_equal(delta["q_value"].to_numpy(), t["q_value"].to_numpy())
    kept = delta["switch_kept"].to_numpy(bool)
    assert (delta.loc[kept, "q_E1"] <= 0.05).all()
    cs = json.loads(open(f"{cmp_prefix}_summary.json").read())
    assert cs["distance"]["counted_over"] == "bins usable in both cells"
    assert cs["distance"]["n_bins"] == int((t["usable"] & (delta[f"compartment_{CELLS[0]}"] != "N")
                                            & (delta[f"compartment_{CELLS[1]}"] != "N")).sum())


def test_cli_bad_input(kit, sim_small, tmp_path):
    args = _cli_args(kit, sim_small, tmp_path / "x")
    i = args.index("--mcool2")
    other = tmp_path / "other.cool"
    thin.thin_cooler(f"{sim_small / 'GM12878.mcool'}::resolutions/50000", other, fraction=0.5, seed=0)
    bad = args[:i + 1] + [other] + args[i + 2:]
    assert_clean_error(call_main(D.main, *bad), "resolution")
    bad = args[:i + 1] + [tmp_path / "missing.mcool"] + args[i + 2:]
    assert_clean_error(call_main(D.main, *bad), "not found")
    assert not list(tmp_path.glob("x_*"))


def test_fast_attribution_equals_captum(kit):
    model, _ = encode_graph.load_model(str(kit["model"]))
    g1, g2 = (common.load_graph(kit["dir"] / f"{c}.pt") for c in CELLS)
    mu1 = np.load(kit["dir"] / f"emb_{CELLS[0]}.npy")
    ok = np.flatnonzero(g2["mask"].numpy())
    regions = [ok[:10], ok[50:60], ok[200:203]]
    kw = dict(x_base=g1["x"], mu_ref=mu1, regions=regions, n_steps=8)
    ref = attribution.captum_attributions(model, g2, **kw)
    # equal up to ReLU kinks a central difference may straddle
    np.testing.assert_allclose(attribution.region_attributions(model, g2, **kw), ref, rtol=1e-3,
                               atol=1e-3 * np.abs(ref).max())


def test_local_attribution_equals_whole_graph(kit):
    """Integrated gradients on the regions' hop neighbourhoods only give the whole-graph numbers."""
    import batching

    model, _ = encode_graph.load_model(str(kit["model"]))
    g1, g2 = (common.load_graph(kit["dir"] / f"{c}.pt") for c in CELLS)
    mu1 = np.load(kit["dir"] / f"emb_{CELLS[0]}.npy")
    ok = np.flatnonzero(g2["mask"].numpy())
    regions = [ok[:4], ok[6:9], ok[-5:]]
    data = vgae.prepare_graph(g2, use_edge_weight=model.hparams["use_edge_weight"])
    parts = batching.spans(regions, data.edge_index, data.num_nodes, model.encoder.hops)
    assert len(parts) == 2 and parts[0][2] == [0, 1] and parts[0][1] < data.num_nodes  # a real restriction
    kw = dict(x_base=g1["x"], mu_ref=mu1, regions=regions, n_steps=4)
    np.testing.assert_allclose(attribution.region_attributions(model, g2, **kw),
                               attribution.region_attributions(model, g2, local=False, **kw), rtol=1e-9, atol=1e-12)
