"""The JSON-rate study: real econ.evaluate runs against the loopback server, structured, plain and refused."""

from __future__ import annotations

import pytest

from experiments import commitment_json_rate


@pytest.mark.slow
def test_structured_commitments_are_json_and_a_refusing_server_falls_back(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ECON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    commitment_json_rate.main(
        ["--out", str(tmp_path / "out"), "--limit", "2", "--loopback", "agents.belief_dim=16", "agents.entity_dim=32"]
    )
    table = capsys.readouterr().out
    assert "| plain | loopback | 2 | 0% | 100% |" in table
    assert "| structured | loopback | 2 | 100% | 0% |" in table
    assert "| refused | loopback | 2 | 0% | 100% |" in table
    assert "refused response_format" in (tmp_path / "out" / "refused" / "evaluate.log").read_text()
