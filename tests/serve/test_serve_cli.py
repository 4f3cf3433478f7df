"""`openhoi serve`: which model it serves, where it binds, and its errors (uvicorn stubbed)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import uvicorn

from openhoi.cli import main


@pytest.fixture
def served(monkeypatch):
    """Record what `openhoi serve` would hand to uvicorn instead of serving forever."""
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


def test_without_a_demo_it_says_how_to_get_a_model(tmp_path, served, capsys):
    assert main(["serve", "--demo-dir", str(tmp_path / "openhoi-demo")]) == 2
    err = capsys.readouterr().err
    assert "openhoi demo" in err and "--checkpoint" in err and "Traceback" not in err
    assert served == []


def test_serves_the_demo_model_on_localhost_by_default(tmp_path, served, checkpoints, capsys):
    demo = tmp_path / "openhoi-demo"
    (demo / "run" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(checkpoints[0], demo / "run" / "checkpoints" / "last.pt")
    shutil.copyfile(checkpoints[1], demo / "run" / "model.safetensors")  # preferred
    assert main(["serve", "--demo-dir", str(demo), "--device", "cpu"]) == 0
    ((app, kw),) = served
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8000
    (model,) = app.state.registry.models
    assert model.checkpoint == demo / "run" / "model.safetensors"
    assert "http://127.0.0.1:8000/" in capsys.readouterr().out


def test_several_checkpoints_and_limits(served, checkpoints):
    args = ["serve", "--device", "cpu", "--port", "9123", "--max-upload-mb", "1.5",
            "--max-pixels", "1000"]
    for path in (*checkpoints, checkpoints[0]):
        args += ["--checkpoint", str(path)]
    assert main(args) == 0
    ((app, kw),) = served
    registry = app.state.registry
    assert [m.name for m in registry.models] == ["tiny", "other", "tiny-2"]
    assert registry.limits.max_body_bytes == int(1.5 * 2**20)
    assert registry.limits.max_pixels == 1000
    assert kw["port"] == 9123


@pytest.mark.parametrize("args,message", [
    (["--checkpoint", "missing.pt"], "missing.pt: checkpoint file not found"),
    (["--port", "70000"], "--port must be in 0..65535"),
    (["--max-pixels", "0"], "max_pixels must be at least 1"),
])
def test_bad_arguments_exit_2(args, message, served, checkpoints, capsys):
    if "--checkpoint" not in args:
        args = [*args, "--checkpoint", str(checkpoints[0])]
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err
    assert served == []


def test_real_server_process_answers_and_stops_on_ctrl_c(checkpoints, photos):
    """The installed command end to end: start, answer on 127.0.0.1, stop cleanly on SIGINT."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "openhoi", "serve", "--checkpoint",
                             str(checkpoints[0]), "--port", str(port), "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        while True:
            try:
                models = httpx.get(f"{url}/api/models").json()["models"]
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert [m["name"] for m in models] == ["tiny"]
        with photos["astronaut.jpg"].open("rb") as f:
            answer = httpx.post(f"{url}/api/predict", files={"image": f}, timeout=120)
        assert answer.status_code == 200 and answer.json()["width"] == 512
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out
