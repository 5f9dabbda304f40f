"""Repository-level promises: pins, licence, citation metadata."""
from __future__ import annotations

import re

import yaml

from conftest import ROOT


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip().lstrip("- ").strip()
        if "==" in line:
            name, ver = line.split("==")
            out[name.lower()] = ver
    return out


def test_env_yml_mirrors_requirements():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "env.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip) == req
    assert req["torch"] == "2.13.0", "torch must stay pinned exactly (CPU wheel)"


def test_citation_cff_is_valid_1_2_0():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors"):
        assert key in cff
    assert cff["cff-version"] == "1.2.0"
    assert all("family-names" in a or "name" in a for a in cff["authors"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_step_scripts_exist_and_share_the_encoder():
    for name in ("build_graph", "compute_compartments", "train_vgae", "encode_graph",
                 "visualize_embeddings", "compare_embeddings", "model"):
        assert (ROOT / "scripts" / f"{name}.py").is_file(), name
    for user in ("train_vgae", "encode_graph"):
        assert re.search(r"^(from model import|import model)", (ROOT / "scripts" / f"{user}.py").read_text(), re.M)
