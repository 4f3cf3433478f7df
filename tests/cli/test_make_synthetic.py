from openhoi.cli import main


def test_make_synthetic_writes_and_refuses_to_clobber(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["make-synthetic", "--out", str(out), "--images", "4", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "wrote 3 train and 1 test images" in text and "interaction" in text
    assert (out / "annotations" / "trainval_hico.json").is_file()
    assert (out / "annotations" / "corre_hico.npy").is_file()
    assert main(["make-synthetic", "--out", str(out), "--images", "4"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["make-synthetic", "--out", str(out), "--images", "4", "--overwrite"]) == 0
