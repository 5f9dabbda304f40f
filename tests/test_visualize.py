"""visualize_embeddings.py: the seed's command end to end, silhouettes with baselines, bad input.

UMAP runs in the module fixture and in the determinism test (numba's compile is cached
on disk, see visualize_embeddings.import_umap); the other tests reuse the fixture's
outputs, replace UMAP by a stand-in, or stop before UMAP.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import common
import visualize_embeddings as ve
from conftest import assert_clean_error, run_script
from test_compare import CELLS, write_fake_run

PNG = b"\x89PNG\r\n\x1a\n"


def write_graph(path: Path, comp_csv: Path, *, seed: int = 0) -> Path:
    """A hand-made graph per docs/FORMATS.md whose two features track A/B weakly."""
    comp = pd.read_csv(comp_csv)
    n = len(comp)
    rng = np.random.default_rng(seed)
    a = (comp["compartment"] == "A").to_numpy(float)
    x = np.column_stack([1 + 0.1 * a, 1 + 0.1 * (1 - a)]) + 0.3 * rng.random((n, 2))
    i = np.arange(n - 1)
    common.save_pt(path, {
        "format": common.GRAPH_FORMAT, "format_version": 1,
        "x": torch.tensor(x, dtype=torch.float32), "feature_names": ["CTCF", "H3K27me3"],
        "edge_index": torch.tensor(np.r_["1,2", np.c_[i, i + 1].T, np.c_[i + 1, i].T], dtype=torch.long),
        "edge_weight": torch.ones(2 * (n - 1)), "mask": torch.tensor((comp["compartment"] != "N").to_numpy()),
        "chroms": ["chr21"], "chrom_id": torch.zeros(n, dtype=torch.long),
        "start": torch.tensor(comp["start"].to_numpy()), "end": torch.tensor(comp["end"].to_numpy()),
        "resolution": 25_000, "edge_transform": "log1p", "provenance": {}})
    return path


def viz_args(root: Path, prefix: Path, cells=CELLS, *extra) -> list:
    r = root / "results"
    args = ["--emb", *(r / c / "emb.npy" for c in cells), "--labels", *cells,
            "--compartments", *(r / c / "compartments_chr21.csv" for c in cells), "--prefix", prefix, *extra]
    return [str(a) for a in args]


@pytest.fixture(scope="module")
def visualized(tmp_path_factory):
    """The seed's command, plus --graphs and --truth, on 300 synthetic bins."""
    root = tmp_path_factory.mktemp("viz")
    paths = write_fake_run(root, n=300)
    graphs = [write_graph(root / f"{c}.pt", paths[c] / "compartments_chr21.csv") for c in CELLS]
    prefix = root / "results/figures/umap"
    proc = run_script("visualize_embeddings", *viz_args(root, prefix), "--graphs", *graphs,
                      "--truth", paths["truth"], "--n-neighbors", "10")
    assert proc.returncode == 0, proc.stderr
    return root, prefix


def test_seed_command_renders_every_figure(visualized):
    _, prefix = visualized
    names = [f"{c}_{k}.png" for c in CELLS for k in ("compartment", "position")] + ["joint.png"]
    for name in names:
        png = Path(f"{prefix}_{name}")
        assert png.read_bytes()[:8] == PNG, name
        assert Path(f"{png}.provenance.json").is_file()
    assert Path(f"{prefix}_silhouette.tsv.provenance.json").is_file()


def test_silhouette_table_has_baselines_and_truth(visualized):
    _, prefix = visualized
    tab = pd.read_csv(f"{prefix}_silhouette.tsv", sep="\t")
    assert list(tab.columns) == ["cell", "labels", "n_A", "n_B", "n_N", "n_unscored",
                                 "embedding", "features", "E1_E3", "E1"]
    assert list(zip(tab["cell"], tab["labels"])) == [(c, s) for c in CELLS for s in ("calls", "truth")]
    # embeddings were planted to separate A from B: high silhouette against calls and truth
    assert (tab["embedding"] > 0.5).all()
    assert (tab["embedding"] > tab["features"]).all()
    calls = tab[tab["labels"] == "calls"]
    comp = pd.read_csv(Path(prefix).parents[1] / "GM12878/compartments_chr21.csv")
    assert calls["n_A"].iat[0] == (comp["compartment"] == "A").sum()
    assert calls["n_N"].iat[0] == (comp["compartment"] == "N").sum() == 40
    js = json.loads(Path(f"{prefix}_silhouette.json").read_text())
    assert js["metric"] == "cosine" and js["features_available"] and js["joint"]
    assert js["silhouette"][0]["embedding"] == pytest.approx(tab["embedding"].iat[0], abs=1e-4)


def _scored_cells(tmp_path: Path, *, model: bool = True):
    """Inputs of the pipeline's command (graphs, truth) on 160 synthetic bins, read as _run reads them."""
    import model as vgae

    paths = write_fake_run(tmp_path, n=160)
    truth = pd.read_csv(paths["truth"], sep="\t")
    for c in CELLS:  # the compartment step masks 6 bins that the truth labels A or B
        csv = paths[c] / "compartments_chr21.csv"
        comp = pd.read_csv(csv)
        hide = np.flatnonzero((truth[f"compartment_{c}"] != "N").to_numpy())[10:16]
        comp.loc[hide, ["E1", "E2", "E3"]], comp.loc[hide, "compartment"] = np.nan, "N"
        comp.to_csv(csv, index=False)
    graphs = [write_graph(tmp_path / f"{c}.pt", paths[c] / "compartments_chr21.csv") for c in CELLS]
    args = ve.build_parser().parse_args(viz_args(tmp_path, tmp_path / "fig/umap") + [
        "--graphs", *map(str, graphs), "--truth", str(paths["truth"])])
    hp = vgae.VGAE(in_channels=2, hidden=8, latent=4).hparams if model else None
    return ve._load_inputs(args), hp


def test_silhouette_table_reads_the_baseline_rows_under_one_masking_rule(tmp_path):
    """Each silhouette is computed once: the silhouette table's numbers are the baseline table's,
    and both equal a direct computation on the bins scored_labels keeps (A/B, every set finite)."""
    cells, hp = _scored_cells(tmp_path)
    sil, base = ve.score_cells(cells, hparams=hp)
    assert list(sil.columns) == ["cell", "labels", "n_A", "n_B", "n_N", "n_unscored",
                                 "embedding", "features", "E1_E3", "E1"]
    for cell in cells:
        comp = cell["comp"]
        sets = {"embedding": cell["emb"], "features": cell["features"],
                "E1_E3": comp[["E1", "E2", "E3"]].to_numpy(float), "E1": comp["E1"].to_numpy(float)}
        for source, labels in ve.source_labels(cell).items():
            got = sil[(sil["cell"] == cell["label"]) & (sil["labels"] == source)].iloc[0]
            want = ve.silhouette_rows(cell["label"], source, labels, sets)
            for k, v in want.items():
                assert got[k] == (pytest.approx(v, abs=1e-12) if isinstance(v, float) else v), (source, k)
            rows = base[(base["cell"] == cell["label"]) & (base["labels"] == source)].set_index("representation")
            for col, (name, metric) in ve.SILHOUETTE_FROM.items():
                assert rows.loc[name, metric] == got[col]
    on_truth = sil[sil["labels"] == "truth"]
    # the truth labels bins whose E1 the calls masked: those are unscored in every column
    assert (on_truth["n_unscored"] == 6).all() and (sil[sil["labels"] == "calls"]["n_unscored"] == 0).all()


def test_baseline_rows_are_those_of_baselines_embedding_baselines(tmp_path):
    """score_cells computes each representation once per cell line and the full metrics of AkX's
    best k only; its rows must be what baselines.embedding_baselines gives on the same bins."""
    import baselines

    cells, hp = _scored_cells(tmp_path)
    _, base = ve.score_cells(cells, hparams=hp)
    for cell in cells:
        plain, smoothed, untrained = ve.cell_representations(cell, hparams=hp)
        every = {**plain, **{f"s{k}": v for k, v in smoothed.items()}, **{f"u{i}": v for i, v in enumerate(untrained)}}
        for source, labels in ve.source_labels(cell).items():
            used = ve.scored_labels(labels, every)
            ref = {"embedding": baselines.embedding_metrics(x=cell["emb"], labels=used)}
            ref.update(baselines.embedding_baselines(labels=used, comp=cell["comp"], g=cell["graph"], hparams=hp))
            rows = base[(base["cell"] == cell["label"]) & (base["labels"] == source)]
            assert list(rows["representation"]) == list(ref)
            for r in rows.itertuples():
                for k in (*baselines.EMBEDDING_METRICS, "k", "probe_sd"):
                    want, got = ref[r.representation].get(k), getattr(r, k)
                    if want is None or (isinstance(want, float) and np.isnan(want)):
                        assert got is None or np.isnan(got), (source, r.representation, k)
                    else:
                        assert got == pytest.approx(want, abs=1e-12), (source, r.representation, k)


def test_ab_silhouette_matches_sklearn_and_ignores_n():
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    lab = np.array(["A", "B", "N"])[rng.integers(0, 3, 60)]
    keep = lab != "N"
    ref = silhouette_score(x[keep], lab[keep], metric="cosine")
    assert ve.ab_silhouette(x, lab) == pytest.approx(ref)
    assert np.isnan(ve.ab_silhouette(x, np.where(lab == "B", "N", lab)))


def test_truth_labels_map_any_resolution_and_chrom_naming():
    truth = pd.DataFrame({"chrom": "chr21", "start": [0, 25, 50, 75], "end": [25, 50, 75, 100],
                          "compartment_X": ["A", "A", "N", "B"]})  # a bin takes its midpoint's label
    bins = pd.DataFrame({"chrom": "21", "start": [0, 50, 100], "end": [50, 100, 150]})
    assert ve.truth_labels(truth, bins, "X").tolist() == ["A", "B", "N"]


def test_umap_uses_cosine_and_a_fixed_random_state(monkeypatch):
    umap = ve.import_umap()
    seen = {}

    class Fake:
        def __init__(self, **kw):
            seen.update(kw)

        def fit_transform(self, x):
            return x[:, :2]

    monkeypatch.setattr(umap, "UMAP", Fake)  # the real fit is exercised by the fixture above
    x = np.random.default_rng(0).random((8, 3))
    ve.umap_embed(x, n_neighbors=15, seed=3)
    assert seen["metric"] == "cosine" and seen["random_state"] == 3 and seen["n_neighbors"] == 7
    assert seen["n_epochs"] == ve.UMAP_EPOCHS and seen["init"] == "pca"
    idx, dist, index = seen["precomputed_knn"]  # umap's own per-pair search is not used
    assert idx.shape == dist.shape == (8, 7) and index is None


def test_cosine_knn_is_the_exact_cosine_neighbourhood():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    idx, dist = ve.cosine_knn(x, 6)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    full = 1 - u @ u.T
    assert (idx[:, 0] == np.arange(40)).all()  # each point first, as umap expects
    np.testing.assert_allclose(dist, np.take_along_axis(full, idx, 1), atol=1e-5)
    np.testing.assert_allclose(np.sort(dist, 1), np.sort(full, 1)[:, :6], atol=1e-5)


def test_umap_kernels_are_compiled_into_the_on_disk_cache(visualized):
    """umap's own kernels get numba's cache (the second process loads instead of compiling);
    the parallel twin of the layout epoch, which would share its cache key, does not."""
    import numba

    umap = ve.import_umap()
    layouts, umap_ = umap.layouts, umap.umap_
    for d in (layouts._nb_optimize_layout_euclidean_single_epoch, umap_.smooth_knn_dist,
              umap_.compute_membership_strengths, umap.utils.tau_rand_int):
        assert type(d._cache).__name__ == "FunctionCache", d
    assert type(layouts._nb_optimize_layout_euclidean_single_epoch_parallel._cache).__name__ == "NullCache"
    assert numba.config.CACHE_DIR
    # the fixture's subprocess fitted UMAPs: their compiled layout epoch is on disk
    assert list(Path(numba.config.CACHE_DIR).glob("umap*/layouts._optimize_layout_euclidean_single_epoch*.nbi"))


def test_unwritable_numba_cache_falls_back_to_compiling(tmp_path):
    """Where the cache folder cannot be made (read-only checkout), umap imports as it always did."""
    import subprocess
    import sys

    blocker = tmp_path / "file"
    blocker.write_text("")  # a folder cannot be made under a file
    code = ("import visualize_embeddings as ve; u = ve.import_umap(); "
            "print(type(u.layouts._nb_optimize_layout_euclidean_single_epoch._cache).__name__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(ve.__file__).parent, env={**os.environ, "NUMBA_CACHE_DIR": str(blocker / "numba")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["NullCache"]


def test_single_cell_line_skips_joint_plot_with_a_warning(tmp_path, monkeypatch, capsys):
    write_fake_run(tmp_path, n=120)
    monkeypatch.setattr(ve, "umap_embed", lambda x, **kw: np.asarray(x)[:, :2])  # no JIT here
    prefix = tmp_path / "fig/umap"
    assert ve.main(viz_args(tmp_path, prefix, ["GM12878"])) == 0
    made = sorted(p.name for p in prefix.parent.glob("umap_*") if "provenance" not in p.name)
    assert made == ["umap_GM12878_compartment.png", "umap_GM12878_position.png", "umap_baselines.tsv",
                    "umap_silhouette.json", "umap_silhouette.tsv"]
    base = pd.read_csv(prefix.parent / "umap_baselines.tsv", sep="\t")
    assert {"embedding", "E1", "E1-E3"} <= set(base.representation) and base.probe.notna().all()


# ---------------------------------------------------------------------------- bad input
def _fails_cleanly(root: Path, args: list, *fragments: str) -> None:
    prefix = root / "out/umap"
    proc = run_script("visualize_embeddings", *viz_args(root, prefix, *args))
    assert_clean_error(proc, *fragments)
    assert not (root / "out").exists()


def test_joint_requested_for_a_single_cell_line(tmp_path):
    write_fake_run(tmp_path, n=100)
    _fails_cleanly(tmp_path, [["GM12878"], "--joint"], "--joint needs at least two cell lines")


def test_mismatched_rows_name_both_counts(tmp_path):
    write_fake_run(tmp_path, n=100)
    csv = tmp_path / "results/IMR90/compartments_chr21.csv"
    pd.read_csv(csv).iloc[:90].to_csv(csv, index=False)
    _fails_cleanly(tmp_path, [], "has 100 rows", "has 90")


def test_compartment_csv_without_expected_columns(tmp_path):
    write_fake_run(tmp_path, n=100)
    csv = tmp_path / "results/GM12878/compartments_chr21.csv"
    pd.read_csv(csv).drop(columns=["E2", "E3"]).to_csv(csv, index=False)
    _fails_cleanly(tmp_path, [], "lacks column(s) E2, E3")


def test_nan_rows_in_an_embedding(tmp_path):
    write_fake_run(tmp_path, n=100)
    emb = tmp_path / "results/IMR90/emb.npy"
    e = np.load(emb)
    e[40:47, 2] = np.nan
    np.save(emb, e)
    _fails_cleanly(tmp_path, [], "7 of 100 embedding rows contain NaN", "row 40")


def test_position_plot_has_a_panel_per_chromosome():
    bins = pd.DataFrame({"chrom": ["chr1"] * 30 + ["chr2"] * 20, "start": np.arange(50) * 25_000})
    fig = ve.plot_position(np.random.default_rng(0).random((50, 2)), bins, title="t")
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["chr1", "chr2"]


def test_umap_rows_subsample_is_seeded_sorted_and_bounded():
    import visualize_embeddings as ve

    assert (ve.umap_rows(50, max_bins=100) == np.arange(50)).all()
    a = ve.umap_rows(1000, max_bins=100, seed=3)
    assert len(a) == 100 and len(set(a)) == 100 and (np.diff(a) > 0).all()
    assert (a == ve.umap_rows(1000, max_bins=100, seed=3)).all()
    assert not (a == ve.umap_rows(1000, max_bins=100, seed=4)).all()


def test_umap_layout_is_reproducible_with_the_same_seed():
    """Same seed, same layout. Masked bins share one embedding row; with such a block of
    duplicates umap's default spectral start gave a different layout on every call."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.repeat(rng.normal(size=(1, 8)), 300, 0), np.cumsum(rng.normal(size=(200, 8)), 0)])
    first = ve.umap_embed(x, seed=0)
    assert first.shape == (500, 2) and np.isfinite(first).all()
    np.testing.assert_array_equal(ve.umap_embed(x, seed=0), first)
