import subprocess
import sys

import pytest

from openhoi.cli import COMMANDS, main


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "openhoi", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for name, _, _ in COMMANDS:
        assert name in out


def test_user_errors_exit_2_without_traceback(capsys):
    assert main(["label-space", "no-such-space"]) == 2
    err = capsys.readouterr().err
    assert "no-such-space" in err and "Traceback" not in err


def test_label_space_command_prints_sizes(capsys):
    assert main(["label-space", "synthetic"]) == 0
    assert "interactions  13" in capsys.readouterr().out


def _help_examples(module):
    """Example command lines of a subcommand's description, continuation lines joined."""
    import shlex

    lines, out = (module.__doc__ or "").splitlines(), []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("openhoi ") and lines[i].startswith("  "):
            text = lines[i]
            while text.rstrip().endswith("\\"):
                i += 1
                text = text.rstrip()[:-1] + " " + lines[i].strip()
            out.append(shlex.split(text.split("#")[0])[1:])
        i += 1
    return out


def test_help_examples_parse_and_stay_on_their_own_lines(capsys):
    """Every example in `openhoi CMD --help` is a valid command line, printed apart from the
    next one (they used to be run together), and the train/predict/export help name the files
    training writes."""
    from openhoi.cli import build_parser

    parser = build_parser()
    names = {module: name for name, module, _ in COMMANDS}
    seen = 0
    for module, name in names.items():
        for argv in _help_examples(module):
            parser.parse_args(argv)  # SystemExit on an unknown option or missing argument
            seen += 1
        try:
            main([name, "--help"])
        except SystemExit:
            pass
        text = capsys.readouterr().out
        for line in (module.__doc__ or "").splitlines():
            if line.startswith("  openhoi "):
                assert line.replace("\\\\", "\\") in text.splitlines(), (name, line)
    assert seen >= 12
    for name in ("train", "predict", "export"):
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        assert ".pt" in text and ".safetensors" in text, name


@pytest.mark.parametrize(("argv", "applies"), [
    (["predict", "missing.jpg", "--checkpoint", "missing.pt"], True),
    (["evaluate", "--dataset", "synthetic", "--checkpoint", "missing.pt"], True),
    (["label-space", "synthetic"], False),
])
def test_model_commands_keep_freed_host_memory(argv, applies, monkeypatch, tmp_path):
    """predict / evaluate / recognize / detect-instances / serve apply openhoi's host-memory
    policy (training applies it in ``fit``); other commands leave malloc alone."""
    import openhoi.cli as cli

    calls = []
    monkeypatch.setattr(cli, "apply_host_memory_env", lambda: calls.append(1))
    monkeypatch.chdir(tmp_path)
    main(argv)
    assert calls == ([1] if applies else [])
