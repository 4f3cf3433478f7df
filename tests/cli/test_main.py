import subprocess
import sys

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
