"""The bad-input battery: every case a user can plausibly hit, per script.

Each case runs the script as a user would and must: exit non-zero, print exactly
one ``error:`` line that names the problem (fragment checked), print no
traceback, and leave no new or half-written file in the output folder.
One positive case sits beside them: a ``chr21`` cooler with a ``21`` bigWig works.
"""
from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT, PickleBomb, assert_clean_error, call_main, run_script
from synth_hic import write_bigwig


# ----------------------------------------------------------------------------
# inputs shared by the cases
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kit(sim_small, tmp_path_factory):
    """Everything the cases need, made once: graphs, a tiny model, embeddings, broken files."""
    d = tmp_path_factory.mktemp("bad_inputs")
    mcool = sim_small / "GM12878.mcool"
    bws = [sim_small / "GM12878_CTCF.bw", sim_small / "GM12878_H3K27me3.bw"]
    run_script("build_graph", "--mcool", mcool, "--chrom", "chr21", "--res", 25000,
               "--bigwigs", *bws, "--out", d / "g.pt", check=True)
    run_script("train_vgae", "--graph", d / "g.pt", "--epochs", 2, "--outdir", d / "model", check=True)
    run_script("compute_compartments", "--mcool", mcool, "--chrom", "chr21", "--res", 25000,
               "--bigwig_orient", bws[0], "--out", d / "comp.csv", check=True)
    k = {"mcool": mcool, "bw": bws, "graph": d / "g.pt", "model": d / "model" / "model.pt",
         "emb": d / "model" / "emb.npy", "comp": d / "comp.csv"}

    (d / "text.mcool").write_text("chrom\tstart\tend\ncounts and more counts\n")
    raw = mcool.read_bytes()
    (d / "trunc.mcool").write_bytes(raw[: len(raw) // 3])
    # an unbalanced copy: same cooler without weight columns
    import h5py
    shutil.copy(mcool, d / "unbalanced.mcool")
    with h5py.File(d / "unbalanced.mcool", "r+") as f:
        for res in f["resolutions"]:
            if "weight" in f[f"resolutions/{res}/bins"]:
                del f[f"resolutions/{res}/bins/weight"]
    # a cooler whose second chromosome has bins but no contacts at all
    import cooler
    bins = pd.DataFrame({"chrom": ["chr21"] * 40 + ["chr22"] * 40,
                         "start": np.r_[np.arange(40), np.arange(40)] * 25_000})
    bins["end"] = bins["start"] + 25_000
    i, j = np.triu_indices(40)
    cooler.create_cooler(str(d / "nocontacts.cool"), bins,
                         pd.DataFrame({"bin1_id": i, "bin2_id": j, "count": 5}), ordered=True)
    cooler.balance_cooler(cooler.Cooler(str(d / "nocontacts.cool")), store=True, cis_only=True,
                          ignore_diags=1, min_nnz=0, mad_max=0)

    n = 480
    write_bigwig(d / "nan.bw", {"chr21": np.full(n, np.nan)}, step=25_000)
    write_bigwig(d / "flat.bw", {"chr21": np.ones(n)}, step=25_000)
    write_bigwig(d / "other_chrom.bw", {"chr1": np.ones(n)}, step=25_000)
    rng = np.random.default_rng(0)
    write_bigwig(d / "GM_21.bw", {"21": rng.gamma(2, 1, n)}, step=25_000)
    write_bigwig(d / "two_chroms.bw", {"chr21": rng.gamma(2, 1, 40), "chr22": rng.gamma(2, 1, 40)},
                 step=25_000)

    torch.save({"weights": torch.zeros(3)}, d / "foreign.pt")
    torch.save(torch.zeros(3, 3), d / "tensor.pt")
    k["marker"] = d / "PAYLOAD_RAN"
    torch.save({"format": "chromatin-gnn/graph", "x": PickleBomb(k["marker"])}, d / "evil.pt")

    g = torch.load(k["graph"], weights_only=True)
    g3 = dict(g, x=torch.cat([g["x"], g["x"][:, :1]], 1), feature_names=[*g["feature_names"], "H3K4me3"])
    torch.save(g3, d / "g3.pt")
    g_renamed = dict(g, feature_names=["CTCF", "H3K9me3", *g["feature_names"][2:]])
    torch.save(g_renamed, d / "g_renamed.pt")
    g_empty = dict(g, mask=torch.zeros_like(g["mask"]))
    torch.save(g_empty, d / "g_empty.pt")

    emb = np.load(k["emb"])
    np.save(d / "emb_short.npy", emb[:-5])
    nan = emb.copy()
    nan[10:13] = np.nan
    np.save(d / "emb_nan.npy", nan)
    pd.read_csv(k["comp"]).drop(columns=["compartment"]).to_csv(d / "comp_nocol.csv", index=False)
    (d / "a_file").write_text("not a folder")
    k.update({p.stem: p for p in d.iterdir() if p.is_file()})
    k["unwritable"] = d / "a_file" / "sub"
    return k


# ----------------------------------------------------------------------------
# the table
# ----------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    script: str
    args: tuple          # entries are literals or "{key}" looked up in the kit
    message: str         # fragment of the one error line


def _graph_args(mcool="{mcool}", chrom="chr21", res="25000", bws=("{bw0}", "{bw1}")):
    return ("--mcool", mcool, "--chrom", chrom, "--res", res, "--bigwigs", *bws)


def _comp_args(mcool="{mcool}", chrom="chr21", res="25000", bw="{bw0}"):
    return ("--mcool", mcool, "--chrom", chrom, "--res", res, "--bigwig_orient", bw)


CASES = [
    # build_graph.py
    Case("graph-missing-file", "build_graph", _graph_args(mcool="{out}/nope.mcool"), "not found"),
    Case("graph-text-as-mcool", "build_graph", _graph_args(mcool="{text}"), "not a cooler"),
    Case("graph-truncated-mcool", "build_graph", _graph_args(mcool="{trunc}"), "mcool"),
    Case("graph-absent-resolution", "build_graph", _graph_args(res="10000"), "available: 25000, 50000, 100000"),
    Case("graph-unknown-chrom", "build_graph", _graph_args(chrom="chr99"), "available: chr21"),
    Case("graph-unbalanced", "build_graph", _graph_args(mcool="{unbalanced}"), "cooler balance"),
    Case("graph-no-contacts", "build_graph",
         ("--mcool", "{nocontacts}", "--chrom", "chr22", "--bigwigs", "{two_chroms}"), "no contacts"),
    Case("graph-all-nan-bigwig", "build_graph", _graph_args(bws=("{bw0}", "{nan}")), "NaN"),
    Case("graph-constant-feature", "build_graph", _graph_args(bws=("{bw0}", "{flat}")), "constant"),
    Case("graph-bigwig-lacks-chrom", "build_graph", _graph_args(bws=("{bw0}", "{other_chrom}")), "chr1"),
    Case("graph-res-as-text", "build_graph", _graph_args(res="25kb"), "--res"),
    Case("graph-unwritable-out", "build_graph", _graph_args(), "cannot create output directory",),
    # compute_compartments.py
    Case("comp-missing-file", "compute_compartments", _comp_args(mcool="{out}/nope.mcool"), "not found"),
    Case("comp-text-as-mcool", "compute_compartments", _comp_args(mcool="{text}"), "not a cooler"),
    Case("comp-truncated-mcool", "compute_compartments", _comp_args(mcool="{trunc}"), "mcool"),
    Case("comp-absent-resolution", "compute_compartments", _comp_args(res="10000"), "available: 25000"),
    Case("comp-unknown-chrom", "compute_compartments", _comp_args(chrom="chrX"), "available: chr21"),
    Case("comp-unbalanced", "compute_compartments", _comp_args(mcool="{unbalanced}"), "cooler balance"),
    Case("comp-all-nan-track", "compute_compartments", _comp_args(bw="{nan}"), "NaN"),
    Case("comp-bigwig-lacks-chrom", "compute_compartments", _comp_args(bw="{other_chrom}"), "chr1"),
    Case("comp-res-as-text", "compute_compartments", _comp_args(res="abc"), "--res"),
    # train_vgae.py
    Case("train-missing-graph", "train_vgae", ("--graph", "{out}/nope.pt"), "not found"),
    Case("train-foreign-pt", "train_vgae", ("--graph", "{foreign}"), "not a chromatin-gnn graph"),
    Case("train-tensor-pt", "train_vgae", ("--graph", "{tensor}"), "not a chromatin-gnn graph"),
    Case("train-malicious-pickle", "train_vgae", ("--graph", "{evil}"), "weights_only"),
    Case("train-no-edges-after-mask", "train_vgae", ("--graph", "{g_empty}"), "edge"),
    Case("train-negative-epochs", "train_vgae", ("--graph", "{graph}", "--epochs", "-3"), "--epochs"),
    Case("train-unknown-device", "train_vgae", ("--graph", "{graph}", "--device", "tpu"), "device"),
    Case("train-unwritable-outdir", "train_vgae", ("--graph", "{graph}",), "cannot create output directory"),
    # encode_graph.py
    Case("encode-feature-count", "encode_graph", ("--model", "{model}", "--graph", "{g3}"), "feature"),
    Case("encode-feature-names", "encode_graph", ("--model", "{model}", "--graph", "{g_renamed}"), "H3K9me3"),
    Case("encode-graph-as-model", "encode_graph", ("--model", "{graph}", "--graph", "{graph}"), "not a chromatin-gnn model"),
    Case("encode-malicious-model", "encode_graph", ("--model", "{evil}", "--graph", "{graph}"), "weights_only"),
    # visualize_embeddings.py
    Case("viz-row-mismatch", "visualize_embeddings",
         ("--emb", "{emb_short}", "--labels", "GM12878", "--compartments", "{comp}"), "475"),
    Case("viz-nan-rows", "visualize_embeddings",
         ("--emb", "{emb_nan}", "--labels", "GM12878", "--compartments", "{comp}"), "NaN"),
    Case("viz-missing-columns", "visualize_embeddings",
         ("--emb", "{emb}", "--labels", "GM12878", "--compartments", "{comp_nocol}"), "compartment"),
    # compare_embeddings.py
    Case("compare-row-mismatch", "compare_embeddings",
         ("--emb1", "{emb}", "--emb2", "{emb_short}", "--label1", "a", "--label2", "b"), "475"),
    Case("compare-missing-file", "compare_embeddings",
         ("--emb1", "{emb}", "--emb2", "{out}/nope.npy", "--label1", "a", "--label2", "b"), "not found"),
]

#: where each script's output goes; "{out}" is a fresh folder per case
OUT = {"build_graph": ("--out", "{out}/g.pt"), "compute_compartments": ("--out", "{out}/c.csv"),
       "train_vgae": ("--outdir", "{out}/model"), "encode_graph": ("--out", "{out}/emb.npy"),
       "visualize_embeddings": ("--prefix", "{out}/umap"), "compare_embeddings": ("--prefix", "{out}/cmp")}
UNWRITABLE = {"build_graph": ("--out", "{unwritable}/g.pt"), "train_vgae": ("--outdir", "{unwritable}")}


def _fill(args, kit, out):
    table = {**{k: str(v) for k, v in kit.items()}, "bw0": str(kit["bw"][0]), "bw1": str(kit["bw"][1]),
             "out": str(out)}
    return [a.format(**table) if isinstance(a, str) else str(a) for a in args]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, kit, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    tail = UNWRITABLE[case.script] if "unwritable" in case.id else OUT[case.script]
    # in-process (imports once, so the battery stays fast); a subprocess variant follows
    proc = call_main(importlib.import_module(case.script).main, *_fill(case.args + tail, kit, out))
    assert_clean_error(proc, case.message)
    assert list(out.iterdir()) == [], f"output left behind: {list(out.iterdir())}"
    assert not kit["marker"].exists(), "the malicious pickle's payload ran"


@pytest.mark.parametrize("script,args", [
    ("build_graph", _graph_args(res="10000") + ("--out", "{out}/g.pt")),
    ("train_vgae", ("--graph", "{evil}", "--outdir", "{out}/m")),
])
def test_bad_input_as_a_subprocess(script, args, kit, tmp_path):
    """The same contract holds for a real process (exit status, stderr, no files)."""
    proc = run_script(script, *_fill(args, kit, tmp_path))
    assert_clean_error(proc)
    assert list(tmp_path.iterdir()) == []
    assert not kit["marker"].exists()


def test_debug_shows_the_traceback(kit, tmp_path):
    proc = run_script("train_vgae", "--graph", kit["foreign"], "--outdir", tmp_path, "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_chrom_naming_mismatch_between_cooler_and_bigwig_works(kit, tmp_path):
    proc = run_script("build_graph", *_fill(_graph_args(chrom="21", bws=("{GM_21}",)), kit, tmp_path),
                      "--out", tmp_path / "g.pt")
    assert proc.returncode == 0, proc.stderr
    g = torch.load(tmp_path / "g.pt", weights_only=True)
    assert g["x"].shape == (480, 4) and g["x"][:, 0].abs().sum() > 0  # the bigWig's column, then E1-E3
    assert "'21'" in proc.stderr or "21" in proc.stderr


def test_malicious_pickle_is_refused_by_every_loader(kit):
    import common

    for expect in (common.GRAPH_FORMAT, common.MODEL_FORMAT):
        with pytest.raises(common.DataError, match="weights_only"):
            common.load_pt(kit["evil"], expect=expect)
    assert not kit["marker"].exists()
    # and the payload is real: unrestricted unpickling would have run it
    torch.load(kit["evil"], weights_only=False)
    assert kit["marker"].exists()
    kit["marker"].unlink()


SYSTEM_PYTHON = Path("/root/.pyenv/shims/python3")


#: Every step script (a file of scripts/ that runs as a program).
STEP_SCRIPTS = sorted(f.stem for f in (ROOT / "scripts").glob("*.py")
                      if 'if __name__ == "__main__":' in f.read_text())


def test_every_step_script_is_checked_for_its_environment():
    assert {"build_graph", "train_vgae", "encode_graph", "visualize_embeddings", "compare_embeddings",
            "call_subcompartments", "differential", "simulate_data"} <= set(STEP_SCRIPTS)


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="no system python3 without the project's packages")
@pytest.mark.parametrize("script", STEP_SCRIPTS)
def test_script_without_its_venv_says_how_to_activate_it(script):
    """`python scripts/build_graph.py --help` with a Python lacking torch: one line naming the venv."""
    import subprocess

    check = subprocess.run([str(SYSTEM_PYTHON), "-c", "import torch"], capture_output=True)
    if check.returncode == 0:
        pytest.skip("the system python3 has torch")
    proc = subprocess.run([str(SYSTEM_PYTHON), str(ROOT / "scripts" / f"{script}.py"), "--help"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and not proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}.py: error: ")
    assert "torch" in lines[0] or "more" in lines[0]
    assert ".venv/bin/activate" in lines[0] and ".venv/bin/python" in lines[0]
