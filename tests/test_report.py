"""make_report.py: the report holds the numbers of the run's own files; missing inputs are named."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import compare_embeddings
import make_report
import visualize_embeddings
from conftest import assert_clean_error, run_script
from test_compare import CELLS, write_fake_run

METRICS = {"epochs_run": 47, "best_epoch": 27, "stopped_early": True, "decoder": "inner",
           "val_auc": 0.7712, "test_auc": 0.7834, "test_ap": 0.7655, "distance_test_auc": 0.7021,
           "distance_test_ap": 0.6843, "matched_test_auc": 0.6123, "matched_test_ap": 0.6011,
           "matched_distance_auc": 0.5, "split": {"usable_bins": 160}}


@pytest.fixture(scope="module")
def fake_results(tmp_path_factory):
    """A results folder as run_pipeline.sh lays it out (UMAP replaced by a stand-in)."""
    root = tmp_path_factory.mktemp("report")
    paths = write_fake_run(root, n=200)
    res = root / "results"
    (res / "GM12878/metrics.json").write_text(json.dumps(METRICS))
    emb = [str(res / c / "emb.npy") for c in CELLS]
    comp = [str(res / c / "compartments_chr21.csv") for c in CELLS]
    mp = pytest.MonkeyPatch()
    mp.setattr(visualize_embeddings, "umap_embed", lambda x, **kw: np.asarray(x)[:, :2])
    try:
        assert visualize_embeddings.main(["--emb", *emb, "--labels", *CELLS, "--compartments", *comp,
                                          "--prefix", str(res / "figures/umap"), "-q"]) == 0
    finally:
        mp.undo()
    assert compare_embeddings.main(["--emb1", emb[0], "--emb2", emb[1], "--label1", CELLS[0],
                                    "--label2", CELLS[1], "--comp1", comp[0], "--comp2", comp[1],
                                    "--truth", str(paths["truth"]), "--n-perm", "99",
                                    "--prefix", str(res / "figures/chr21"), "-q"]) == 0
    return res


def _report(res: Path, *extra: str) -> str:
    proc = run_script("make_report", "--results", res, "--labels", *CELLS, "--chrom-tag", "chr21", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_report_holds_the_numbers_of_the_json_files(fake_results):
    res = fake_results
    _report(res)
    text = (res / "report.md").read_text()
    for key in ("test_auc", "test_ap", "distance_test_auc", "matched_test_auc", "val_auc"):
        assert f"{METRICS[key]:.3f}" in text, key
    assert "Best epoch 27 of 47" in text
    sil = json.loads((res / "figures/umap_silhouette.json").read_text())["silhouette"]
    for row in sil:
        assert f"{row['embedding']:.3f}" in text and f"{row['E1_E3']:.3f}" in text
    assert "Raw node features: not available" in text
    s = json.loads((res / "figures/chr21_summary.json").read_text())
    assert f"| Mean | {s['distance']['mean']:.3f} |" in text
    by = {r["compartment"]: r for r in s["distance"]["by_compartment"]}
    assert f"| B | {by['B']['n']:,} | {by['B']['mean']:.3f} | {by['B']['median']:.3f} |" in text
    sw = s["switches"]
    assert f"| B | A | {sw['table']['B_to_A']} | {sw['filtered']['B_to_A']} |" in text
    assert "calls: min-run 3" in text and "circular shifts" in text
    assert f"{s['truth']['filtered']['precision']:.3f}" in text
    assert "![UMAP of GM12878 by compartment](figures/umap_GM12878_compartment.png)" in text
    assert "![Per-bin cosine distance](figures/chr21_delta.png)" in text
    assert "Training curve: not available" in text and "Compartment QC: not available" in text
    assert (res / "report.md.provenance.json").is_file()


def test_headline_prints_the_key_numbers(fake_results):
    out = _report(fake_results, "--headline")
    assert "test AUC 0.783" in out and "distance-only baseline AUC 0.702" in out
    assert "A/B silhouette GM12878" in out and "Switch recovery vs planted truth" in out
    assert len(out.strip().splitlines()) == 6


def test_report_path_and_figure_links_follow_out(fake_results, tmp_path):
    _report(fake_results, "--out", tmp_path / "sub/report.md")
    text = (tmp_path / "sub/report.md").read_text()
    rel = Path(make_report.os.path.relpath(fake_results / "figures/chr21_delta.png", tmp_path / "sub"))
    assert f"]({rel.as_posix()})" in text


def test_missing_required_input_names_the_file_and_its_stage(fake_results, tmp_path):
    out = tmp_path / "report.md"
    proc = run_script("make_report", "--results", fake_results, "--labels", *CELLS, "--chrom-tag", "chr22",
                      "--out", out)
    assert_clean_error(proc, "chr22_summary.json not found", "compare_embeddings.py")
    assert not out.exists()
