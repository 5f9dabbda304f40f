"""Scored detection of planted changes (simulated data): A/B switches and subcompartment-only changes.

Every statistic in the differential table is scored as a detector of the planted
changes, side by side with its simple baselines:

* ``cosine`` -- the embedding's full-depth cosine Δ;
* ``z_embedding`` -- the same Δ at half depth, scaled by its coverage-matched null;
* ``abs_delta_E1`` -- |ΔE1| at full depth (E1 alone);
* ``marks_delta`` -- distance between the two cells' rank-normalised marks (the marks alone);
* ``smoothed_marks_delta`` -- the same after averaging each bin's marks over its neighbours in
  its own cell's contact graph (the marks and the contacts, without a model).

A/B switches (a planted compartment flip) and subcompartment-only changes (the
subcompartment differs, the compartment does not) are reported separately: on the
latter E1 should be blind, and that is where an embedding can add something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

import common

SCORES = ("cosine", "z_embedding", "abs_delta_E1", "marks_delta", "smoothed_marks_delta")


def rank_features(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Each column's rank among the ``ok`` rows, scaled to [0, 1] (NaN elsewhere)."""
    from scipy.stats import rankdata

    out = np.full(x.shape, np.nan)
    n = int(ok.sum())
    if n > 1:
        out[ok] = (rankdata(x[ok], axis=0) - 1) / (n - 1)
    return out


def marks_delta(x1: np.ndarray, x2: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Euclidean distance between the cells' rank-normalised mark vectors, per bin."""
    return np.linalg.norm(rank_features(np.asarray(x1, float), ok) - rank_features(np.asarray(x2, float), ok),
                          axis=1)


def graph_smooth(x: np.ndarray, graph: dict, ok: np.ndarray) -> np.ndarray:
    """Mean of ``x`` over each bin and its neighbours in ``graph`` (edges between ``ok`` bins only;
    NaN off ``ok``)."""
    import scipy.sparse as sp

    n = len(x)
    ei = graph["edge_index"]
    ei = ei.numpy() if hasattr(ei, "numpy") else np.asarray(ei)
    keep = ok[ei[0]] & ok[ei[1]]
    a = sp.csr_matrix((np.ones(int(keep.sum())), (ei[0][keep], ei[1][keep])), shape=(n, n))
    a = ((a + a.T) > 0).astype(np.float64) + sp.diags(ok.astype(np.float64))
    deg = np.asarray(a.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a @ np.nan_to_num(x)) / deg[:, None]
    return np.where(ok[:, None], out, np.nan)


def smoothed_marks_delta(x1: np.ndarray, x2: np.ndarray, g1: dict, g2: dict, ok: np.ndarray) -> np.ndarray:
    """Euclidean distance between the cells' rank-normalised marks, each averaged over its own
    cell's graph neighbourhood (:func:`graph_smooth`)."""
    r = [graph_smooth(rank_features(np.asarray(x, float), ok), g, ok) for x, g in ((x1, g1), (x2, g2))]
    return np.linalg.norm(r[0] - r[1], axis=1)


def auc(score: np.ndarray, positive: np.ndarray, ok: np.ndarray) -> float | None:
    """ROC AUC of ``score`` for ``positive`` among ``ok`` bins (None without both classes)."""
    from sklearn.metrics import roc_auc_score

    sel = ok & np.isfinite(score)
    y = positive[sel]
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, score[sel]))


def precision_recall(called: np.ndarray, planted: np.ndarray) -> dict:
    """Precision/recall of codes ``called`` vs ``planted`` (0 = none; a hit needs the same code)."""
    tp = int(((called > 0) & (called == planted)).sum())
    n_called, n_planted = int((called > 0).sum()), int((planted > 0).sum())
    return {"called": n_called, "planted": n_planted, "true_positives": tp,
            "precision": tp / n_called if n_called else None,
            "recall": tp / n_planted if n_planted else None}


def planted(truth_path: str | Path, bins: pd.DataFrame, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Planted A/B switch codes (1 B->A, 2 A->B) and, when ``truth.tsv`` has
    ``subcompartment_<cell>``, subcompartment-only changes, per bin of ``bins``."""
    from differential import encode, switch_codes
    from visualize_embeddings import read_truth, truth_labels

    truth = read_truth(truth_path, list(labels))
    ab = [truth_labels(truth, bins, lab) for lab in labels]
    out = {"switch": switch_codes(encode(ab[0]), encode(ab[1])),
           "N": (ab[0] == "N") | (ab[1] == "N")}
    sub_cols = [f"subcompartment_{lab}" for lab in labels]
    raw = pd.read_csv(truth_path, sep="\t", nrows=1)
    score_cols = [f"score_{lab}" for lab in labels]
    if all(c in raw.columns for c in score_cols):  # the simulator's noiseless compartment score
        sc = pd.read_csv(truth_path, sep="\t", usecols=["chrom", "start", "end", *score_cols])
        key = pd.MultiIndex.from_frame(bins[["chrom", "start"]].astype({"chrom": str, "start": np.int64}))
        sc = sc.set_index(["chrom", "start"]).reindex(key)
        out["score"] = [sc[c].to_numpy(np.float64) for c in score_cols]
    if all(c in raw.columns for c in sub_cols):
        full = pd.read_csv(truth_path, sep="\t", usecols=["chrom", "start", "end", *sub_cols])
        sub = [truth_labels(full.rename(columns={c: f"compartment_{lab}"}).fillna({c: "N"}), bins, lab)
               for c, lab in zip(sub_cols, labels)]
        out["sub_only"] = (sub[0] != sub[1]) & (out["switch"] == 0) & ~out["N"] \
            & (sub[0] != "N") & (sub[1] != "N")
    return out


def score_table(table: pd.DataFrame, truth_path: str | Path, labels: Sequence[str]) -> dict:
    """Precision/recall of the calls and AUC of every score in :data:`SCORES`, against the truth.

    ``table`` is :func:`differential.differential`'s output (with ``marks_delta``).
    """
    from differential import switch_codes

    bins = table[["chrom", "start", "end"]]
    t = planted(truth_path, bins, labels)
    tested = table["tested"].to_numpy(bool) & ~t["N"]
    scores = {"cosine": table["cosine"].to_numpy(float),
              "z_embedding": table["z_embedding"].to_numpy(float),
              "abs_delta_E1": np.abs(table["delta_E1"].to_numpy(float)),
              "marks_delta": table["marks_delta"].to_numpy(float)}
    if "smoothed_marks_delta" in table:
        scores["smoothed_marks_delta"] = table["smoothed_marks_delta"].to_numpy(float)
    call = table["call"].to_numpy(str)
    called_sw = np.select([call == "B_to_A", call == "A_to_B"], [1, 2], 0)
    sw = t["switch"]
    out = {"planted_B_to_A": int((sw == 1).sum()), "planted_A_to_B": int((sw == 2).sum()),
           "switch_calls": precision_recall(np.where(tested, called_sw, 0), np.where(tested, sw, 0)),
           "switch_calls_all_bins": precision_recall(called_sw, sw),
           "switch_auc": {k: auc(v, sw > 0, tested) for k, v in scores.items()}}
    if "score" in t:
        # ceiling of any sign-based caller: the sign of the simulator's noiseless score (no Hi-C noise)
        s1, s2 = t["score"]
        lab = [np.select([s > 0, s < 0], [0, 1], 2) for s in (s1, s2)]
        oracle = np.where(tested & np.isfinite(s1) & np.isfinite(s2), switch_codes(lab[0], lab[1]), 0)
        out["switch_calls_noiseless_sign"] = precision_recall(oracle, np.where(tested, sw, 0))
    if "sub_only" in t:
        sub = t["sub_only"]
        neg_or_sub = tested & (sw == 0)  # bins without an A/B switch: sub-only vs unchanged
        out["planted_sub_only"] = int(sub.sum())
        out["sub_only_auc"] = {k: auc(v, sub, neg_or_sub) for k, v in scores.items()}
        changed = (call == "changed") & neg_or_sub
        tp = int((changed & sub).sum())
        out["sub_only_calls"] = {"called": int(changed.sum()), "planted": int((sub & neg_or_sub).sum()),
                                 "true_positives": tp,
                                 "precision": tp / changed.sum() if changed.any() else None,
                                 "recall": tp / (sub & neg_or_sub).sum() if (sub & neg_or_sub).any() else None}
    return common.strict_json(out)
