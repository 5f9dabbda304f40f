"""compare_embeddings.py: distances, switch calls, the A-vs-B distance test, truth scores, bad input.

``write_fake_run`` (also used by test_visualize.py and test_report.py) lays out a
small synthetic run the way the pipeline does: planted A/B blocks, planted
switches in the second cell line, compartment calls with noisy borders, and
embeddings that separate A from B.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import distance

import compare_embeddings as ce
from visualize_embeddings import read_compartments, read_truth, truth_labels
from conftest import assert_clean_error, run_script

CELLS = ("GM12878", "IMR90")
RES = 25_000


def planted_truth(n: int = 400, *, n_masked: int = 40, n_switches: int = 8, seed: int = 0):
    """Truth labels (A/B/N) for two cells: alternating blocks, then runs of 4-8 bins flipped in cell 2."""
    rng = np.random.default_rng(seed)
    blocks = np.arange(n) % 2
    t1 = np.array(["A", "B"])[np.repeat(blocks, rng.integers(12, 30, n))[:n]]
    t1[:n_masked] = "N"
    t2 = t1.copy()
    starts = np.arange(n_masked, n - 8, 12)
    for s in rng.choice(starts, min(n_switches, len(starts) // 2), replace=False):
        run = slice(s, s + rng.integers(4, 9))
        t2[run] = np.where(t1[run] == "A", "B", "A")
    return t1, t2


def noisy_calls(t: np.ndarray, *, border_noise: float, rng: np.random.Generator) -> np.ndarray:
    """Calls = truth with each A/B border moved by one bin with probability ``border_noise``."""
    c = t.copy()
    b = np.flatnonzero((t[1:] != t[:-1]) & (t[1:] != "N") & (t[:-1] != "N"))
    moved = b[rng.random(len(b)) < border_noise]
    c[moved] = t[moved + 1]
    return c


def write_fake_run(root: Path, *, n: int = 400, seed: int = 0, border_noise: float = 0.3,
                   latent: int = 8, noise: float = 0.35) -> dict:
    """Write results/<cell>/{emb.npy,emb.tsv,compartments_chr21.csv} and truth.tsv under ``root``."""
    rng = np.random.default_rng(seed)
    truth = planted_truth(n, seed=seed)
    bins = pd.DataFrame({"chrom": "chr21", "start": np.arange(n) * RES, "end": np.arange(1, n + 1) * RES})
    centre = {k: rng.normal(size=latent) for k in "ABN"}
    paths = {"truth": root / "truth.tsv"}
    tt = bins.assign(**{f"compartment_{c}": t for c, t in zip(CELLS, truth)}, tad_id=np.arange(n) // 10)
    tt.to_csv(paths["truth"], sep="\t", index=False)
    for cell, t in zip(CELLS, truth):
        d = root / "results" / cell
        d.mkdir(parents=True, exist_ok=True)
        emb = (np.stack([centre[x] for x in t]) + noise * rng.normal(size=(n, latent))).astype(np.float32)
        np.save(d / "emb.npy", emb)
        bins.join(pd.DataFrame(emb, columns=[f"z{i}" for i in range(latent)])).to_csv(
            d / "emb.tsv", sep="\t", index=False)
        calls = noisy_calls(t, border_noise=border_noise, rng=rng)
        e1 = np.where(calls == "A", 1, -1) * rng.uniform(0.2, 1.0, n)
        comp = bins.assign(E1=e1, E2=rng.normal(size=n), E3=rng.normal(size=n), compartment=calls)
        comp.loc[calls == "N", ["E1", "E2", "E3"]] = np.nan
        comp.to_csv(d / "compartments_chr21.csv", index=False)
        paths[cell] = d
    return paths


def seed_args(root: Path, prefix: Path, *extra: str) -> list[str]:
    r = root / "results"
    return ["--emb1", r / "GM12878/emb.npy", "--emb2", r / "IMR90/emb.npy", "--label1", "GM12878",
            "--label2", "IMR90", "--prefix", prefix, *extra]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """The seed's command (compartments found beside emb.npy) plus --truth, run once."""
    root = tmp_path_factory.mktemp("compare")
    paths = write_fake_run(root)
    prefix = root / "results/figures/chr21"
    proc = run_script("compare_embeddings", *seed_args(root, prefix, "--truth", paths["truth"],
                                                       "--n-perm", "300"))
    assert proc.returncode == 0, proc.stderr
    return root, prefix, proc


def test_seed_command_writes_every_output(compared):
    root, prefix, proc = compared
    for suffix in ("delta.csv", "delta.png", "delta.bedGraph", "switches.bed", "summary.json", "summary.md"):
        out = Path(f"{prefix}_{suffix}")
        assert out.is_file() and out.stat().st_size > 0, suffix
        assert Path(f"{out}.provenance.json").is_file(), suffix
    assert Path(f"{prefix}_delta.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    delta = pd.read_csv(f"{prefix}_delta.csv")
    assert list(delta.columns[:6]) == ["chrom", "start", "end", "cosine", "l2", "l1"]
    assert {"compartment_GM12878", "compartment_IMR90", "switch", "switch_kept"} <= set(delta.columns)
    assert "compartments_chr21.csv" in proc.stderr  # found beside emb.npy, and said so
    bg = Path(f"{prefix}_delta.bedGraph").read_text().splitlines()
    assert bg[0].startswith("track type=bedGraph") and len(bg) == 1 + len(delta)
    bed = pd.read_csv(f"{prefix}_switches.bed", sep="\t", skiprows=1, header=None,
                      names=["chrom", "start", "end", "name", "score"])
    assert set(bed["name"]) <= {"B_to_A", "A_to_B"} and (bed["end"] > bed["start"]).all()
    assert bed["score"].sum() == delta["switch_kept"].sum()
    md = Path(f"{prefix}_summary.md").read_text()
    assert "Compartment switches" in md and "min-run 3" in md


def test_summary_tables_match_the_per_bin_file(compared):
    _, prefix, _ = compared
    s = json.loads(Path(f"{prefix}_summary.json").read_text())
    delta = pd.read_csv(f"{prefix}_delta.csv", keep_default_na=False, na_values=[""])
    # stable / high shift / by compartment: only bins usable (called A or B) in both cells
    both = (delta["compartment_GM12878"] != "N") & (delta["compartment_IMR90"] != "N")
    d = delta.loc[both, "cosine"]
    assert s["distance"]["counted_over"] == "bins usable in both cells"
    assert s["distance"]["n_bins"] == both.sum() < len(delta)
    assert s["distance"]["mean"] == pytest.approx(d.mean(), abs=1e-6)
    assert s["distance"]["n_stable"] == (d < 0.1).sum() and s["distance"]["n_shifted"] == (d > 0.5).sum()
    by = {r["compartment"]: r for r in s["distance"]["by_compartment"]}
    assert set(by) == {"A", "B"}
    assert by["B"]["mean"] == pytest.approx(d[delta.loc[both, "compartment_GM12878"] == "B"].mean(), abs=1e-6)
    pair = delta["compartment_GM12878"] + delta["compartment_IMR90"]
    assert s["switches"]["table"] == {"A_to_A": (pair == "AA").sum(), "B_to_B": (pair == "BB").sum(),
                                      "B_to_A": (pair == "BA").sum(), "A_to_B": (pair == "AB").sum()}
    # the circular-shift count tests (a null of two unrelated cell lines) are gone
    assert "permutation" not in s
    assert 0 < s["distance_B_minus_A"]["p"] <= 1 and s["distance_B_minus_A"]["n_bins"] == both.sum()


def test_run_filter_recovers_planted_switches(compared):
    _, prefix, _ = compared
    t = json.loads(Path(f"{prefix}_summary.json").read_text())["truth"]
    raw, filt = t["unfiltered"], t["filtered"]
    assert raw["planted"] == filt["planted"] == t["planted_B_to_A"] + t["planted_A_to_B"] > 0
    assert raw["precision"] < 0.85 <= filt["precision"]  # border noise makes single-bin false switches
    assert filt["recall"] >= 0.85


def test_distances_equal_scipy_per_row_reference():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    d = ce.bin_distances(a, b)
    for i in range(50):
        assert d["cosine"][i] == pytest.approx(distance.cosine(a[i], b[i]), abs=1e-12)
        assert d["l2"][i] == pytest.approx(distance.euclidean(a[i], b[i]), abs=1e-12)
        assert d["l1"][i] == pytest.approx(distance.cityblock(a[i], b[i]), abs=1e-12)
    a[3] = 0
    assert np.isnan(ce.bin_distances(a, b)["cosine"][3])


def test_run_filter_keeps_long_runs_only_and_not_across_chromosomes():
    codes = np.array([1, 1, 1, 0, 2, 2, 0, 1, 1, 1, 1], np.int8)
    new_chrom = np.zeros(len(codes), bool)
    new_chrom[[0, 9]] = True  # the last run of four B->A bins is cut by a chromosome start
    kept = ce.filter_switches(codes, new_chrom, min_run=3)
    assert kept.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert ce.filter_switches(np.stack([codes, codes]), new_chrom, min_run=2).sum() == 2 * 9
    e1 = np.array([0.9, 0.9, 0.1, 0, 1, 1, 0, 1, 1, 1, 1])
    assert ce.filter_switches(codes, new_chrom, min_run=2, delta_e1=e1, min_delta_e1=0.5).tolist() == \
        [1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1]


def test_circular_shifts_stay_within_each_chromosome():
    group = np.repeat([0, 1, 2], [30, 50, 7])
    idx = ce.circular_shifts(group, 200, np.random.default_rng(0))
    assert idx.shape == (200, 87)
    assert (group[idx] == group).all()
    assert all(np.array_equal(np.sort(row), np.arange(87)) for row in idx)
    shift = (idx[:, 0] - 0) % 30
    assert shift.min() >= 1 and shift.max() <= 29


def _blocks(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.array(["A", "B"])[np.repeat(np.arange(n) % 2, rng.integers(5, 25, n))[:n]]


@pytest.mark.parametrize("associated", [True, False])
def test_distance_by_compartment_test(associated):
    rng = np.random.default_rng(3)
    n = 600
    l1 = _blocks(n, rng)
    dist = np.where(l1 == "B", 0.4, 0.1) + 0.05 * rng.normal(size=n) if associated else rng.random(n)
    chrom = np.repeat([0, 1], n // 2)
    usable = np.ones(n, bool)
    usable[:50] = False
    res = ce.distance_by_compartment_test(ce.encode(l1), chrom, dist, usable, n_perm=400,
                                          rng=np.random.default_rng(0))
    assert res["n_bins"] == n - 50
    if associated:
        assert res["p"] < 0.01 and res["observed"] > 0.2
    else:
        assert res["p"] > 0.05


def test_precision_recall_on_a_toy_case():
    planted = np.array([0, 1, 1, 1, 0, 2, 2, 0, 0, 0])
    called = np.array([0, 1, 1, 0, 0, 1, 2, 0, 2, 0])
    r = ce.detection_accuracy(called, planted)
    assert (r["true_positives"], r["called"], r["planted"]) == (3, 5, 5)
    assert r["precision"] == pytest.approx(0.6) and r["recall"] == pytest.approx(0.6)
    assert ce.detection_accuracy(np.zeros(4), np.zeros(4))["precision"] is None


def test_same_seed_same_summary(tmp_path):
    paths = write_fake_run(tmp_path, n=200, seed=2)
    run = {"e1": np.load(paths["GM12878"] / "emb.npy"), "e2": np.load(paths["IMR90"] / "emb.npy")}
    comps = [pd.read_csv(paths[c] / "compartments_chr21.csv") for c in CELLS]
    run.update(bins=comps[0][["chrom", "start", "end"]], comp=comps)
    s = [ce.compare(run, label1="G", label2="I", n_perm=50, rng=np.random.default_rng(5))[1]
         for _ in range(2)]
    assert s[0] == s[1]


# ---------------------------------------------------------------------------- bad input
def _shorter_embedding(r: Path) -> None:
    np.save(r / "IMR90/emb.npy", np.load(r / "IMR90/emb.npy")[:150])
    (r / "IMR90/emb.tsv").unlink()


def _nan_rows(r: Path) -> None:
    e = np.load(r / "GM12878/emb.npy")
    e[[5, 9, 11]] = np.nan
    np.save(r / "GM12878/emb.npy", e)


def _csv_without_columns(r: Path) -> None:
    csv = r / "IMR90/compartments_chr21.csv"
    pd.read_csv(csv).drop(columns=["E1", "compartment"]).to_csv(csv, index=False)


@pytest.mark.parametrize("spoil, fragments", [
    (_shorter_embedding, ("has 200 rows", "has 150")),
    (_nan_rows, ("3 of 200 embedding rows contain NaN", "row 5")),
    (_csv_without_columns, ("lacks column(s) E1, compartment",)),
], ids=["mismatched-rows", "nan-rows", "csv-columns"])
def test_bad_input_fails_cleanly_before_writing(tmp_path, spoil, fragments):
    write_fake_run(tmp_path, n=200)
    spoil(tmp_path / "results")
    r = tmp_path / "results"
    proc = run_script("compare_embeddings", *seed_args(tmp_path, tmp_path / "out/chr21", "--comp1",
                      r / "GM12878/compartments_chr21.csv", "--comp2", r / "IMR90/compartments_chr21.csv"))
    assert_clean_error(proc, *fragments)
    assert not (tmp_path / "out").exists()


def test_delta_figure_has_one_panel_per_chromosome():
    bins = pd.DataFrame({"chrom": ["chr1"] * 30 + ["chr2"] * 20,
                         "start": np.r_[np.arange(30), np.arange(20)] * RES})
    bins["end"] = bins["start"] + RES
    codes = np.zeros(50, np.int8)
    codes[5:9] = 1
    fig = ce.plot_delta(bins, np.random.default_rng(0).random(50), comp1=np.array(list("AB" * 25)),
                        kept=codes > 0, codes=codes)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["chr1", "chr2"]


def test_switch_calls_recover_planted_switches_on_simulated_data(sim_small, tmp_path):
    comps = []
    for cell in CELLS:
        out = tmp_path / f"{cell}.csv"
        run_script("compute_compartments", "--mcool", sim_small / f"{cell}.mcool", "--chrom", "chr21",
                   "--res", "25000", "--bigwig_orient", sim_small / f"{cell}_CTCF.bw", "--out", out, "-q",
                   check=True)
        comps.append(read_compartments(out))
    truth = read_truth(sim_small / "truth.tsv", list(CELLS))
    planted = ce.switch_codes(*(ce.encode(truth_labels(truth, comps[0], c)) for c in CELLS))
    codes, kept = ce.switch_calls(*comps)
    acc = ce.detection_accuracy(np.where(kept, codes, 0), planted)
    assert acc["planted"] > 20 and acc["precision"] >= 0.85 and acc["recall"] >= 0.85, acc


def test_diff_switch_candidates_replace_label_flips():
    """With --diff, the switches are the candidates differential.py tested (e.g. --switch-rule halfway:
    a run that moved towards A without crossing zero), filtered by q(ΔE1) and the run length."""
    n = 12
    bins = pd.DataFrame({"chrom": "chr1", "start": np.arange(n) * RES, "end": np.arange(1, n + 1) * RES})
    lab1 = np.array(list("BBBBBBAAAAAA"))
    lab2 = lab1.copy()
    e1a = np.where(lab1 == "A", 1.0, -1.0)
    e1b = e1a.copy()
    e1b[1:5] = -0.3  # moved 0.7 of the way up, still B in cell 2
    comp = [pd.DataFrame({**{k: bins[k] for k in bins}, "compartment": lab, "E1": e}) for lab, e in
            ((lab1, e1a), (lab2, e1b))]
    sw = np.array([""] * n, dtype=object)
    sw[1:5] = "B_to_A"
    q_e1 = np.full(n, 0.5)
    q_e1[1:5] = 0.01
    diff = pd.DataFrame({**{k: bins[k] for k in bins}, "usable": True, "p_value": 0.5, "q_value": 0.5,
                         "p_E1": q_e1, "q_E1": q_e1, "switch": sw})
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n, 4))
    run = {"e1": emb, "e2": emb + 0.1, "bins": bins, "comp": comp, "diff": diff}
    delta, summary = ce.compare(run, label1=CELLS[0], label2=CELLS[1], min_run=3, n_perm=0)
    assert delta["switch_kept"].tolist() == [False] + [True] * 4 + [False] * 7
    assert summary["switches"]["filtered"] == {"B_to_A": 4, "A_to_B": 0}
    # the same candidates fail the test: nothing is kept
    diff["q_E1"] = 0.5
    delta, summary = ce.compare(run, label1=CELLS[0], label2=CELLS[1], min_run=3, n_perm=0)
    assert not delta["switch_kept"].any() and summary["switches"]["filtered"] == {"B_to_A": 0, "A_to_B": 0}
