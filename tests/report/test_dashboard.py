"""A finished study opens in optuna-dashboard: its HTTP API lists the study and its trials."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pytest

pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        return json.loads(response.read())


def _command() -> list[str]:
    script = Path(sys.executable).with_name("optuna-dashboard")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from optuna_dashboard._cli import main; main()"]


def test_optuna_dashboard_reads_the_study(single_run: Path) -> None:
    url = f"sqlite:///{(single_run / 'study.db').resolve()}"
    expected = optuna.load_study(study_name="single", storage=url).get_trials()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*_command(), url, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        studies = None
        deadline = time.monotonic() + 60
        while studies is None and time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"optuna-dashboard exited: {server.stderr.read().decode()[-2000:]}")
            try:
                studies = _get(f"{base}/api/studies")["study_summaries"]
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert studies is not None, "optuna-dashboard did not answer within 60 s"
        (summary,) = [s for s in studies if s["study_name"] == "single"]
        detail = _get(f"{base}/api/studies/{summary['study_id']}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()
    trials = detail["trials"]
    assert [t["number"] for t in trials] == [t.number for t in expected]
    assert [t["state"].lower() for t in trials] == [t.state.name.lower() for t in expected]
    params = {p["name"] for t in trials for p in t["params"]}
    assert "model.embedding.dim[C1]" in params  # decisions speak the user's words
