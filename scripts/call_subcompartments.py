"""Call subcompartments (A1, A2, B1, B2, B3) from the embedding, the graph's marks and E1.

    python scripts/call_subcompartments.py --emb results/GM12878/emb.npy \\
        --graph data/processed/GM12878_chr21.pt --compartments results/GM12878/compartments_chr21.csv \\
        --out results/GM12878/subcompartments_chr21.csv [--truth data/raw/truth.tsv --cell GM12878]

Method and baselines: see ``subcompartments.py``. Writes, beside ``--out``:

* ``<out>.csv``  ``chrom,start,end,subcompartment,p_A1..`` (posteriors; ``N`` = unusable bin)
* ``<stem>.bed`` BED9 of merged state runs with itemRgb colours (IGV / HiGlass)
* ``<stem>.bw``  bigWig of the subcompartment score (posterior-weighted state E1)
* ``<stem>.png`` state track under the E1 track, mean-mark heat map per state
* ``<stem>.json`` k (and its choice), state sizes, mark enrichment, baselines and scores

``--truth`` is a ``truth.tsv`` with ``subcompartment_<cell>`` (simulated data) or a BED
``chrom start end label`` (e.g. Rao 2014), rebinned by overlap; ``--truth-name`` says what
it is (label SNIPER calls as predictions).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import common  # first: one line naming the fix when the environment is missing

import numpy as np
import pandas as pd

import subcompartments as sc
import tracks
import visualize_embeddings as ve

log = logging.getLogger("chromatin_gnn.call_subcompartments")


def _k_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2 or 'auto', got {text!r}") from None
    if k < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (or 'auto'), got {k}")
    return k


def build_parser() -> common.ArgumentParser:
    p = common.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--emb", required=True, help="embedding .npy (bins from the .tsv beside it or --graph)")
    p.add_argument("--graph", help="graph .pt: marks (node features), contacts and the mask")
    p.add_argument("--compartments", help="compartment CSV: E1 for naming, N bins stay N")
    p.add_argument("--mcool", help="Hi-C file for the E1-E10 baseline when the compartment CSV has fewer "
                   "eigenvectors (else the CSV's E1..En)")
    p.add_argument("--res", type=int, help="resolution of --mcool (for a multi-resolution file)")
    p.add_argument("--out", required=True, help="output CSV (other outputs are named from it)")
    p.add_argument("--k", type=_k_arg, default=5, help="number of states, or 'auto' (lowest BIC over --k-range)")
    p.add_argument("--k-range", nargs=2, type=int, default=[3, 8], metavar=("LO", "HI"),
                   help="k values tried by --k auto (inclusive)")
    p.add_argument("--hops", type=int, default=sc.DEFAULT_HOPS,
                   help="graph smoothing steps of the Â^hops X baselines")
    p.add_argument("--truth", help="reference labels: truth.tsv (subcompartment_<cell>) or a BED")
    p.add_argument("--cell", help="cell name for the truth.tsv column (default: the embedding's folder)")
    p.add_argument("--truth-name", default=None, help="what the reference is (e.g. 'SNIPER prediction')")
    p.add_argument("--no-baselines", action="store_true", help="skip the baselines (faster)")
    p.add_argument("--seed", type=int, default=0)
    return p


# ----------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------
def load_inputs(args: argparse.Namespace) -> dict:
    """Embedding, bins, marks, graph and E1, checked against each other."""
    emb, bins = ve.read_embedding(args.emb)
    run: dict = {"emb": emb, "marks": None, "feature_names": None, "smoothed": None, "eigs": None,
                 "e1": None, "e123": None, "graph": None}
    usable = np.ones(len(emb), bool)
    if args.graph:
        g = common.load_graph(args.graph)
        gb = common.bins_frame(g)
        common.check_rows(len(emb), len(gb), args.emb, args.graph)
        if bins is not None:
            ve.check_same_bins(bins, gb, args.emb, args.graph)
        bins = gb
        usable &= g["mask"].numpy().astype(bool)
        marks, names = sc.graph_marks(g)  # the bigWig marks, not the E1-E3 build_graph adds
        run.update(graph=g, marks=marks, feature_names=names)
        chrom_id = g["chrom_id"].numpy()
    if args.compartments:
        comp = ve.read_compartments(args.compartments)
        common.check_rows(len(emb), len(comp), args.emb, args.compartments)
        if bins is not None:
            ve.check_same_bins(bins, comp, args.emb, args.compartments)
        bins = comp[["chrom", "start", "end"]] if bins is None else bins
        run["e1"] = comp["E1"].to_numpy(float)
        run["eigs"] = csv_eigs(args.compartments, comp)  # E1..En, every one the CSV has
        run["e123"] = run["eigs"][:, :3]
        usable &= (comp["compartment"] != "N").to_numpy() & np.isfinite(run["e1"])
    if bins is None:
        raise common.DataError(f"no bin table for {args.emb}: put emb.tsv beside it or pass --graph "
                               "or --compartments")
    if not args.graph:
        chrom_id = pd.factorize(bins["chrom"].astype(str))[0]
    run.update(bins=bins.reset_index(drop=True), usable=usable, chrom_id=np.asarray(chrom_id))
    if run["graph"] is not None and run["marks"] is not None:
        g = run["graph"]
        run["smoothed"] = sc.graph_smooth(run["marks"], g["edge_index"].numpy(), g["edge_weight"].numpy(),
                                          usable, hops=args.hops)
    if args.mcool and (run["eigs"] is None or run["eigs"].shape[1] < N_BASELINE_EIGS):
        run["eigs"] = ten_eigs(args.mcool, res=args.res, bins=run["bins"], e1=run["e1"])
    elif args.mcool:
        log.info("E1-E%d for the baseline from %s; --mcool not read", run["eigs"].shape[1], args.compartments)
    return run


#: Eigenvectors of the E1..En baseline (the issue's E1-E10).
N_BASELINE_EIGS = 10


def csv_eigs(path: str | Path, comp: pd.DataFrame) -> np.ndarray:
    """``[n, m]`` E1..Em of a compartment CSV (``comp``: its checked E1-E3 table), as far as
    the ``E<i>`` columns run unbroken (compute_compartments writes E1-E3)."""
    head = pd.read_csv(path, nrows=0).columns
    cols = ["E1", "E2", "E3"]
    while f"E{len(cols) + 1}" in head:
        cols.append(f"E{len(cols) + 1}")
    if len(cols) == 3:
        return comp[cols].to_numpy(float)
    extra = pd.read_csv(path, usecols=cols[3:]).apply(pd.to_numeric, errors="coerce")
    return np.hstack([comp[cols[:3]].to_numpy(float), extra[cols[3:]].to_numpy(float)])


def ten_eigs(mcool: str, *, res: int | None, bins: pd.DataFrame, e1: np.ndarray | None) -> np.ndarray:
    """E1-E10 of each chromosome (``compute_compartments.call_compartments``), oriented by E1.

    Read only when the compartment CSV holds fewer than ten eigenvectors (its E1..En are
    reused otherwise)."""
    import compute_compartments as cc
    import hicio

    clr = hicio.open_cooler(mcool, res=res)
    out = []
    for chrom in dict.fromkeys(bins["chrom"].astype(str)):
        c = common.resolve_chrom(chrom, list(clr.chromnames), where=mcool)
        block = hicio.read_cis(clr, c)
        sel = (bins["chrom"].astype(str) == chrom).to_numpy()
        common.check_rows(int(sel.sum()), block.n, f"bins of {chrom}", f"{mcool} {c}")
        table, _ = cc.call_compartments(block, None if e1 is None else e1[sel], n_eigs=10)
        out.append(table[[f"E{i + 1}" for i in range(10)]].to_numpy(float))
    return np.vstack(out)


def reference_labels(args: argparse.Namespace, bins: pd.DataFrame) -> tuple[np.ndarray, str] | None:
    """Reference label per bin (``N`` where none) and its description, or ``None``."""
    if not args.truth:
        return None
    p = common.require_file(args.truth, "truth table")
    first = p.read_text().split("\n", 1)[0].split("\t")
    if "chrom" in first:  # truth.tsv
        cell = args.cell or Path(args.emb).resolve().parent.name
        col = f"subcompartment_{cell}"
        if col not in first:
            raise common.DataError(f"{p} has no column {col} (has: {', '.join(first[:12])}); "
                                   "pass --cell with the right name, or simulate with five states")
        truth = pd.read_csv(p, sep="\t", dtype={"chrom": str})
        t = truth[["chrom", "start", "end"]].assign(**{f"compartment_{cell}": truth[col].fillna("N")})
        return ve.truth_labels(t, bins, cell), args.truth_name or f"planted ({col})"
    bed = pd.read_csv(p, sep="\t", header=None, usecols=[0, 1, 2, 3], names=["chrom", "start", "end", "label"],
                      dtype={"chrom": str})
    return sc.labels_from_intervals(bed, bins), args.truth_name or f"BED labels ({p.name})"


# ----------------------------------------------------------------------------
# outputs
# ----------------------------------------------------------------------------
def output_paths(out: str | Path) -> dict[str, Path]:
    o = Path(out)
    stem = o.with_suffix("")
    return {"csv": o, "bed": stem.with_suffix(".bed"), "bw": stem.with_suffix(".bw"),
            "png": stem.with_suffix(".png"), "json": stem.with_suffix(".json")}


def bed9(bins: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    """Merged runs of equal state (N left out) as BED9 rows with colours."""
    chrom = bins["chrom"].astype(str).to_numpy()
    names = np.asarray(names, dtype=object)
    new = np.r_[True, (names[1:] != names[:-1]) | (chrom[1:] != chrom[:-1])]
    rid = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(names)] - 1
    df = pd.DataFrame({"chrom": chrom[first], "start": bins["start"].to_numpy()[first],
                       "end": bins["end"].to_numpy()[last], "name": names[first],
                       "score": np.minimum(1000, np.bincount(rid)), "strand": "."})
    df = df[df["name"] != "N"].reset_index(drop=True)
    df["thickStart"], df["thickEnd"] = df["start"], df["end"]
    df["itemRgb"] = df["name"].map(sc.STATE_COLOURS).fillna("0,0,0")
    return df


def figure(bins: pd.DataFrame, names: np.ndarray, e1: np.ndarray | None, enrich: pd.DataFrame,
           states: list[str], *, title: str):
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    fig = plt.figure(figsize=(12, 3.6))
    gs = fig.add_gridspec(2, 2, width_ratios=[4, 1], height_ratios=[1.4, 1], wspace=0.25, hspace=0.08)
    ax_e1, ax_st, ax_hm = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[:, 1])
    x = np.arange(len(bins))
    if e1 is not None:
        v = np.nan_to_num(e1)
        ax_e1.fill_between(x, v, where=v > 0, color="#c0392b", lw=0)
        ax_e1.fill_between(x, v, where=v < 0, color="#2c6fbb", lw=0)
    ax_e1.set_ylabel("E1")
    ax_e1.set_xlim(0, len(bins))
    ax_e1.set_xticks([])
    ax_e1.set_title(title, fontsize=10)
    codes = {s: i for i, s in enumerate(states + ["N"])}
    cmap = ListedColormap([tuple(int(c) / 255 for c in sc.STATE_COLOURS.get(s, "0,0,0").split(","))
                           for s in states + ["N"]])
    ax_st.imshow(np.array([[codes.get(n, len(states)) for n in names]]), aspect="auto", cmap=cmap,
                 vmin=-0.5, vmax=len(states) + 0.5, interpolation="nearest")
    ax_st.set_yticks([])
    mb = bins["start"].to_numpy() / 1e6
    ticks = np.linspace(0, len(bins) - 1, 6).astype(int)
    ax_st.set_xticks(ticks, [f"{mb[t]:.0f}" for t in ticks])
    ax_st.set_xlabel(f"{bins['chrom'].iat[0]} position (Mb)" if bins["chrom"].nunique() == 1 else "bin")
    for s in states:
        ax_st.plot([], [], "s", color=cmap(codes[s]), label=s)
    ax_st.legend(ncol=len(states), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.55), frameon=False)
    if not enrich.empty and enrich.shape[1] > 1:
        m = enrich.drop(columns="n_bins").reindex(states)
        lim = float(np.nanmax(np.abs(m.to_numpy()))) or 1.0
        im = ax_hm.imshow(m.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax_hm.set_yticks(range(len(states)), states)
        ax_hm.set_xticks(range(m.shape[1]), m.columns, rotation=60, fontsize=7, ha="right")
        fig.colorbar(im, ax=ax_hm, fraction=0.08, label="mean z")
        ax_hm.set_title("marks per state", fontsize=9)
    else:
        ax_hm.axis("off")
    return fig


def summarise_baselines(run: dict, ref: np.ndarray | None, names: np.ndarray, *, k: int, seed: int) -> dict:
    """Scores of the method and every baseline against ``ref`` (when given)."""
    feats = sc.baseline_features(usable=run["usable"], chrom_id=run["chrom_id"], marks=run["marks"],
                                 smoothed_marks=run["smoothed"], eigs=run["eigs"], emb=run["emb"])
    name = "HMM: marks + E1-E3 (the step without the embedding)"
    if name in feats and run["e123"] is not None and np.isfinite(run["e123"][run["usable"]]).all():
        # the same E1-E3 as the step (the CSV's, per arm), not the first three of --mcool's E1-E10
            feats[name] = ("hmm_blocks", sc.method_features(None, run["usable"], marks=run["marks"],
                                                            eigs=run["e123"], seed=seed))
    labels = sc.run_baselines(feats, usable=run["usable"], chrom_id=run["chrom_id"], k=k, seed=seed)
    rows = {}
    for name, lab in labels.items():
        as_str = np.where(lab >= 0, lab.astype(str), "N")
        rows[name] = sc.score_labels(ref, as_str) if ref is not None else {}
    out = {"method": sc.score_labels(ref, names) if ref is not None else {}, "baselines": rows}
    if ref is not None:
        best = max(rows, key=lambda r: -1 if rows[r]["ari"] is None else rows[r]["ari"])
        out["best_baseline"] = best
        if out["method"]["ari"] is not None and rows[best]["ari"] is not None:
            out["ari_minus_best_baseline"] = out["method"]["ari"] - rows[best]["ari"]
    return out


def _run(args: argparse.Namespace) -> None:
    if args.k_range[0] < 2 or args.k_range[1] < args.k_range[0]:
        raise common.DataError(f"--k-range {args.k_range[0]} {args.k_range[1]} must satisfy 2 <= LO <= HI")
    common.seed_everything(args.seed)
    paths = output_paths(args.out)
    run = load_inputs(args)
    usable = run["usable"]
    act = sc.activity_score(run["marks"], run["feature_names"], usable)
    choice = None
    k = args.k
    if k == "auto":
        f = sc.method_features(run["emb"], usable, marks=run["marks"], eigs=run["e123"], seed=args.seed)
        choice = sc.choose_k(f, sc.run_lengths_of(usable, run["chrom_id"]),
                             k_range=range(args.k_range[0], args.k_range[1] + 1), seed=args.seed)
        k = choice["k"]
        log.info("k = %d by %s", k, choice["criterion"])
    names, post, info = sc.call_subcompartments(run["emb"], usable=usable, chrom_id=run["chrom_id"],
                                                e1=run["e1"], marks=run["marks"], eigs=run["e123"],
                                                activity=act, k=k, seed=args.seed)
    states = info["states"]
    bins = run["bins"]
    table = bins.copy()
    table["subcompartment"] = names
    for i, s in enumerate(states):
        table[f"p_{s}"] = np.round(post[:, i], 5)
    e1 = run["e1"]
    state_e1 = ({s: float(np.nanmean(e1[names == s])) for s in states} if e1 is not None
                else {s: float(len(states) - 1 - i) for i, s in enumerate(states)})
    score = sc.subcompartment_score(np.nan_to_num(post), states, state_e1)
    score[~usable] = np.nan
    enrich = (sc.mark_enrichment(names, run["marks"], run["feature_names"], usable)
              if run["marks"] is not None else pd.DataFrame())
    ref = reference_labels(args, bins)
    summary = {"k": k, "k_choice": choice, **info,
               "n_bins": {s: int((names == s).sum()) for s in [*states, "N"]},
               "state_mean_E1": state_e1 if e1 is not None else None,
               "mark_enrichment": {s: {m: float(v) for m, v in row.items()} for s, row in
                                   enrich.drop(columns="n_bins").iterrows()} if not enrich.empty else None,
               "reference": None if ref is None else ref[1]}
    if not args.no_baselines:
        summary["scores"] = summarise_baselines(run, None if ref is None else ref[0], names, k=k, seed=args.seed)
        if ref is not None:
            s = summary["scores"]
            log.info("ARI vs %s: method %.3f, best baseline %s %.3f", ref[1], s["method"]["ari"] or np.nan,
                     s["best_baseline"], s["baselines"][s["best_baseline"]]["ari"] or np.nan)
    elif ref is not None:
        summary["scores"] = {"method": sc.score_labels(ref[0], names)}
    inputs = [p for p in (args.emb, args.graph, args.compartments, args.mcool, args.truth) if p]
    prov = common.provenance(args, inputs=inputs, seed=args.seed)
    common.write_table(paths["csv"], table)
    common.write_provenance(paths["csv"], prov)
    common.write_table(paths["bed"], bed9(bins, names), header=False)
    common.write_provenance(paths["bed"], prov)
    tracks.write_bin_bigwig(paths["bw"], bins, score)
    common.write_provenance(paths["bw"], prov)
    title = f"{Path(args.emb).resolve().parent.name}: {k} states ({info['features']})"
    common.save_figure(figure(bins, names, e1, enrich, states, title=title), paths["png"])
    common.write_provenance(paths["png"], prov)
    common.write_json(paths["json"], {**summary, "provenance": prov})
    log.info("wrote %s (+ .bed .bw .png .json)", paths["csv"])


def report_markdown(subs: dict[str, dict], insul: dict[str, dict]) -> str:
    """The run report's section: per cell, the states, the step against its best baselines
    (when a reference was given) and the insulation summary."""
    parts = []
    for cell, s in subs.items():
        sizes = ", ".join(f"{k} {v}" for k, v in s.get("n_bins", {}).items())
        parts.append(f"**{cell}**: k = {s['k']}"
                     + (f" (chosen by {s['k_choice']['criterion']})" if s.get("k_choice") else "")
                     + f"; {s.get('features', '')}; bins per state: {sizes}.")
        sc_ = s.get("scores") or {}
        if sc_.get("method") and sc_.get("baselines"):
            rows = [["step", common.fmt_num(sc_["method"].get("ari")), common.fmt_num(sc_["method"].get("accuracy"))]]
            rows += [[name, common.fmt_num(v.get("ari")), common.fmt_num(v.get("accuracy"))]
                     for name, v in sorted(sc_["baselines"].items(), key=lambda kv: -(kv[1].get("ari") or -1))]
            from compare_embeddings import md_table

            parts.append(f"Against {s.get('reference')}:\n\n" + md_table(["calls (k-state)", "ARI", "matched accuracy"], rows))
        elif not s.get("reference"):
            parts.append("No reference labels (no --truth): ARI not computed.")
    for cell, i in insul.items():
        n_b = sum(c["n_boundaries"] for c in i.get("chromosomes", []))
        line = f"**{cell}** insulation: window {i['window_bp']:,} bp, {n_b} boundaries"
        br = (i.get("evaluation") or {}).get("boundary_recovery")
        if br:
            line += (f"; planted TAD borders (±1 bin): precision {common.fmt_num(br['insulation']['precision'])}, "
                     f"recall {common.fmt_num(br['insulation']['recall'])}")
        parts.append(line + ".")
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return common.run_cli(_run, args)


if __name__ == "__main__":
    sys.exit(main())
