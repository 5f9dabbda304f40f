"""The ENCODE bigWig download step, tested only against local sources."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

import download_data
from conftest import assert_clean_error, closed_port, run_script


def _mirror(root: Path, payload: bytes = b"bigwig-bytes") -> Path:
    """Lay out files the way ENCODE serves them: <acc>/@@download/<acc>.bigWig."""
    for acc in download_data.ENCODE_BIGWIGS.values():
        d = root / acc / "@@download"
        d.mkdir(parents=True)
        (d / f"{acc}.bigWig").write_bytes(payload + acc.encode())
    return root


def test_file_url_mirror_fetches_every_missing_bigwig(tmp_path):
    mirror = _mirror(tmp_path / "mirror")
    raw = tmp_path / "raw"
    proc = run_script("download_data", "--raw-dir", raw, "--base-url", mirror.as_uri())
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in raw.iterdir())
    assert names == ["GM12878_CTCF.bw", "GM12878_H3K27me3.bw", "IMR90_CTCF.bw", "IMR90_H3K27me3.bw"]
    assert (raw / "IMR90_CTCF.bw").read_bytes() == b"bigwig-bytesENCFF770DUD"


def test_existing_files_are_not_fetched_again(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for cell, mark in download_data.ENCODE_BIGWIGS:
        (raw / f"{cell}_{mark}.bw").write_bytes(b"mine")
    assert download_data.planned_downloads(["GM12878", "IMR90"], ["CTCF", "H3K27me3"], raw) == []


@pytest.fixture
def http_mirror(tmp_path):
    root = _mirror(tmp_path / "srv")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_http_mirror_on_loopback(tmp_path, http_mirror):
    raw = tmp_path / "raw"
    proc = run_script("download_data", "--raw-dir", raw, "--base-url", http_mirror, "--cells", "GM12878")
    assert proc.returncode == 0, proc.stderr
    assert (raw / "GM12878_H3K27me3.bw").read_bytes() == b"bigwig-bytesENCFF736CNQ"
    assert not list(raw.glob(".*tmp*")), "temporary files left behind"


def test_offline_failure_lists_urls_and_destinations(tmp_path):
    raw = tmp_path / "raw"
    base = f"http://127.0.0.1:{closed_port()}/files"
    proc = run_script("download_data", "--raw-dir", raw, "--base-url", base, "--timeout", "5")
    err = assert_clean_error(proc, "no network?")
    for acc in download_data.ENCODE_BIGWIGS.values():
        assert f"{base}/{acc}/@@download/{acc}.bigWig" in err
    assert str(raw / "IMR90_H3K27me3.bw") in err
    assert not [p for p in raw.iterdir()], "a failed download left a file"


def test_unknown_cell_names_the_fix(tmp_path):
    proc = run_script("download_data", "--raw-dir", tmp_path, "--cells", "K562")
    assert_clean_error(proc, "no ENCODE accession is known for K562 CTCF")
