"""The command line: fit / predict / info round trip, the demo, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.io import imread

from tcomp import TensorCompletion, io
from tcomp.cli import main
from tcomp.datasets import make_low_rank, make_mask


def test_fit_predict_info_round_trip(tmp_path, capsys):
    data = make_low_rank("cp", (8, 9, 10), 2, random_state=0)
    mask = make_mask(data.tensor.shape, 0.5, random_state=0)
    np.save(tmp_path / "x.npy", np.where(mask, data.tensor, np.nan))
    assert (
        main(
            [
                "fit",
                str(tmp_path / "x.npy"),
                "--format",
                "cp",
                "--rank",
                "2",
                "--n-iter",
                "200",
                "--quiet",
                "--output",
                str(tmp_path / "m.h5"),
            ]
        )
        == 0
    )
    assert "saved" in capsys.readouterr().out
    idx = np.argwhere(~mask)[:5]
    np.savetxt(tmp_path / "idx.csv", idx, fmt="%d", delimiter=",")
    assert main(["predict", str(tmp_path / "m.h5"), str(tmp_path / "idx.csv")]) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.strip().splitlines()]
    printed = np.array([float(r[-1]) for r in rows])
    np.testing.assert_array_equal(printed, io.load(tmp_path / "m.h5").predict(idx))
    assert main(["info", str(tmp_path / "m.h5")]) == 0
    out = capsys.readouterr().out
    assert "kind: estimator" in out and "format: cp" in out


@pytest.mark.filterwarnings("ignore:the fitted model predicts:UserWarning")  # 10 iterations
def test_fit_from_csv(tmp_path, capsys):
    rows = np.array([[0, 0, 1.0], [1, 2, 2.0], [2, 1, 3.0], [1, 1, 1.5], [0, 2, 0.5], [2, 2, 2.5]])
    np.savetxt(tmp_path / "e.csv", rows, delimiter=",", header="i,j,value", comments="")
    with pytest.warns(UserWarning, match="no observed entry"):  # column 3 is unobserved
        assert (
            main(
                [
                    "fit",
                    str(tmp_path / "e.csv"),
                    "--format",
                    "tt",
                    "--rank",
                    "1",
                    "--shape",
                    "3,4",
                    "--no-early-stopping",
                    "--n-iter",
                    "10",
                    "--quiet",
                    "--output",
                    str(tmp_path / "m.h5"),
                ]
            )
            == 0
        )
    assert isinstance(io.load(tmp_path / "m.h5"), TensorCompletion)
    assert io.read_info(tmp_path / "m.h5")["shape"] == (3, 4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "missing.npy", "--output", "m.h5"], "no such file"),
        (["info", "missing.h5"], "no such file"),
        (["fit", "data.txt", "--output", "m.h5"], "unsupported input"),
        (["predict", "data.txt", "data.txt"], "not a readable HDF5"),
        (["demo", "--size", "30"], "power of two"),
    ],
)
def test_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.txt").write_text("1,2,3\n")
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tcomp: error:") and message in err and "\n" not in err


def test_bad_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "x.npy", "--rank", "two", "--output", "m.h5"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_demo_reduced_size(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--size", "16", "--n-iter", "20", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gd" in text and "das" in text and "PSNR" in text
    image = imread(out)
    assert image.shape[0] == 16 and image.shape[1] > 4 * 16 and image.shape[2] == 3
