"""Section 3: accuracy against the planted truth, published PC1 and the baselines.

Numbers come from the step functions and from the outputs of a pipeline run on the
default data (section 1's first run, or one made here): bench_io for compartment
agreement and the DIADEM PC1, bench_train for decoders the pipeline did not train.
"""
from __future__ import annotations

import json

import pandas as pd

from benchlib import CELLS, Config, Section, log, num  # first: puts scripts/ on sys.path

import bench_io  # noqa: E402
from bench_io import DIADEM  # noqa: E402
import bench_train  # noqa: E402
import model as vgae  # noqa: E402
from bench_stages import default_run  # noqa: E402
from compare_embeddings import filter_text  # noqa: E402

def decoder_metrics(run, truth, *, epochs: int) -> list[dict]:
    """metrics.json of the pipeline's model plus one bench_train run per other decoder
    (``truth``: GM12878's planted A/B/N per bin, for the silhouette)."""
    res = run / "results"
    ran = json.loads((res / "GM12878" / "metrics.json").read_text())
    rows = [dict(ran, source="pipeline run")]
    graph = next((run / "processed").glob("GM12878_*.pt"))
    for decoder in vgae.DECODERS:
        if decoder != ran["decoder"]:
            log.info("accuracy: training with the %s decoder", decoder)
            rows.append(dict(bench_train.train_once(graph, decoder=decoder, epochs=epochs, truth=truth),
                             source="`bench_train.train_once`"))
    return rows


def section(cfg: Config) -> Section:
    sec = Section("accuracy", "3. Accuracy")
    run = default_run(cfg)
    raw, res = run / "raw", run / "results"
    out = cfg.dir("accuracy")

    log.info("accuracy: compartments vs the planted truth")
    truth = pd.read_csv(raw / "truth.tsv", sep="\t")
    agree = {c: bench_io.agreement(pd.read_csv(res / c / "compartments_chr21.csv")["compartment"],
                                   truth[f"compartment_{c}"]) for c in CELLS}
    scored = {c: int((truth[f"compartment_{c}"] != "N").sum()) for c in agree}
    sec.add("### Compartment calls vs the planted truth",
            "The pipeline run's `compute_compartments.py` calls (the seed's command, CTCF orientation) on "
            "the default data; "
            "share of the bins the truth marks mappable (A or B) whose call matches (a bin called N counts "
            "as wrong).")
    sec.table(["Cell", "Bins scored", "Agreement"], [[c, scored[c], f"{a:.2%}"] for c, a in agree.items()])
    sec.headline.append(["A/B calls vs planted truth", ", ".join(f"{c} {a:.1%}" for c, a in agree.items()),
                         "unmasked bins"])

    diadem = cfg.real / DIADEM
    sec.add("### Compartment calls vs the published PC1 (DIADEM, IMR90 and MSC, chr21 at 40 kb, hg19)")
    if diadem.is_dir():
        log.info("accuracy: DIADEM PC1")
        pc1 = bench_io.published_pc1_r(cfg.real, out)
        sec.add("Our E1 from the raw cooler (its own balancing weights, whole-arm regions, no orientation "
                "track) against the package's precomputed PC1; |r| because PC1's sign is arbitrary. "
                "Target ≥ 0.95.")
        sec.table(["Cell", "Method", r"\|r\|"], [[*k.split("_", 1), num(r, ".4f")] for k, r in pc1.items()])
        sec.headline.append([r"E1 vs published DIADEM PC1, \|r\|",
                             ", ".join(f"{k.split('_')[0]} {r:.3f}" for k, r in pc1.items()
                                       if k.endswith("pearson")),
                             "target ≥ 0.95 (`--method pearson`)"])
        sec.data["diadem"] = pc1
    else:
        sec.add(f"Skipped: {diadem} is absent.")
        sec.headline.append(["E1 vs published DIADEM PC1", "skipped (no real data)", ""])

    log.info("accuracy: link prediction per decoder")
    dec = decoder_metrics(run, truth["compartment_GM12878"].to_numpy(), epochs=3 if cfg.quick else 300)
    sec.add("### Link prediction (GM12878, held-out test links)",
            "Random negatives are mostly far apart along the genome, so distance alone nearly solves them; "
            "distance-matched negatives (non-contacts at the same distances as the test contacts) remove "
            "that, and the distance-only baseline is 0.5 there by construction.")
    sec.table(["Decoder", "Source", "Epochs (best)", "Test AUC", "Distance-only AUC", "Test AP",
               "Distance-only AP", "AUC, distance-matched", "Distance-only, matched"],
              [[d["decoder"], d["source"], f"{d['epochs_run']} ({d['best_epoch']})", num(d["test_auc"]),
                num(d["distance_test_auc"]), num(d["test_ap"]), num(d["distance_test_ap"]),
                num(d["matched_test_auc"]), num(d["matched_distance_auc"])] for d in dec])
    for d in dec:
        sec.headline.append([f"Test AUC, {d['decoder']} decoder (random / distance-matched negatives)",
                             f"{num(d['test_auc'])} / {num(d['matched_test_auc'])}",
                             f"distance-only {num(d['distance_test_auc'])} / {num(d['matched_distance_auc'])}"])
    sec.data["decoders"] = [{k: v for k, v in d.items() if not isinstance(v, dict)} for d in dec]

    sil = json.loads((res / "figures" / "umap_silhouette.json").read_text())["silhouette"]
    sec.add("### A/B silhouettes next to their baselines",
            "From `visualize_embeddings.py` in the pipeline run: cosine silhouette of A vs B bins in the VGAE "
            "embedding, in the raw node features (CTCF, H3K27me3) and in E1–E3 (cosine), and E1 alone "
            "(euclidean). Against the calls, the E1 baselines are circular (the calls are E1's sign); "
            "compare them against the truth.")
    sec.table(["Cell", "Labels", "A bins", "B bins", "Embedding", "Raw features", "E1–E3", "E1"],
              [[r["cell"], r["labels"], r["n_A"], r["n_B"], num(r["embedding"]), num(r.get("features")),
                num(r["E1_E3"]), num(r["E1"])] for r in sil])
    for r in sil:
        if r["labels"] == "truth":
            sec.headline.append([f"A/B silhouette vs truth, {r['cell']}", f"embedding {num(r['embedding'])}",
                                 f"raw features {num(r.get('features'))}, E1–E3 {num(r['E1_E3'])}"])
    sec.data["silhouette"] = sil

    summ = json.loads(next((res / "figures").glob("*_summary.json")).read_text())
    t, filt = summ["truth"], filter_text(summ["switches"]["filter"])
    sec.add("### Switch calls vs the planted switches",
            f"From `compare_embeddings.py` in the pipeline run; planted: {t['planted_B_to_A']} B→A and "
            f"{t['planted_A_to_B']} A→B bins. A call counts when its bin and direction match.")
    sec.table(["Calls", "Called bins", "True positives", "Precision", "Recall"],
              [[k, v["called"], v["true_positives"], num(v["precision"]), num(v["recall"])]
               for k, v in (("without filter", t["unfiltered"]), (f"with filter ({filt})", t["filtered"]))])
    sec.headline.append(["Switch precision / recall vs planted",
                         f"{num(t['filtered']['precision'])} / {num(t['filtered']['recall'])} ({filt})",
                         f"without filter {num(t['unfiltered']['precision'])} / "
                         f"{num(t['unfiltered']['recall'])}"])
    sec.data.update(agreement=agree, switches=t)
    return sec
