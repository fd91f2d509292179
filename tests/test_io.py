"""HDF5 round trips and refusal of foreign, newer and truncated files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from conftest import make_model

from tcomp import ObservedTensor, TensorCompletion, io
from tcomp.datasets import make_low_rank
from tcomp.formats import FORMATS


@pytest.mark.parametrize("name", FORMATS)
def test_model_round_trip_is_exact(tmp_path, name):
    model = make_model(name)
    io.save(model, tmp_path / "m.h5")
    back = io.load(tmp_path / "m.h5")
    assert type(back) is type(model) and back.rank == model.rank
    assert torch.equal(back.full(), model.full())
    info = io.read_info(tmp_path / "m.h5")
    assert info["kind"] == "model" and info["format"] == name and info["n_params"] == model.n_params


def test_observed_round_trip(tmp_path):
    obs = ObservedTensor([[0, 1], [2, 2]], np.array([1.5, -2.0], dtype=np.float32), (3, 4))
    io.save(obs, tmp_path / "o.h5")
    back = io.load(tmp_path / "o.h5")
    assert back.shape == obs.shape and torch.equal(back.indices, obs.indices)
    assert torch.equal(back.values, obs.values)


@pytest.mark.filterwarnings("ignore:the fitted model predicts:UserWarning")  # 30 iterations
@pytest.mark.parametrize("name", FORMATS)
def test_estimator_round_trip_bit_for_bit(tmp_path, name):
    data = make_low_rank("cp", (8, 9, 10), 2, random_state=0)
    rank = {"cp": 2, "tucker": (2, 2, 2), "tt": 2, "tr": 2}[name]
    est = TensorCompletion(
        format=name, rank=rank, n_iter=30, random_state=0, validation_groups=(0, 1)
    ).fit(data.tensor)
    io.save(est, tmp_path / "e.h5")
    back = io.load(tmp_path / "e.h5")
    idx = np.argwhere(np.ones((8, 9, 10), bool))
    np.testing.assert_array_equal(back.predict(idx), est.predict(idx))
    assert back.get_params() == est.get_params()
    assert back.history_["loss"] == est.history_["loss"]
    assert back.history_["core_sq_norms"] == est.history_["core_sq_norms"]
    assert back.n_iter_ == est.n_iter_ and back.result_.message == est.result_.message
    with h5py.File(tmp_path / "e.h5") as f:  # readable by plain HDF5 tools
        assert f["model/core_0"].shape == tuple(est.model_.cores[0].shape)


def test_refuses_foreign_newer_truncated_and_missing(tmp_path):
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f.create_dataset("x", data=np.ones(3))
    with pytest.raises(ValueError, match="not one written by tcomp"):
        io.load(tmp_path / "foreign.h5")
    io.save(make_model("cp"), tmp_path / "new.h5")
    with h5py.File(tmp_path / "new.h5", "a") as f:
        f.attrs["file_version"] = io.FILE_VERSION + 1
    with pytest.raises(ValueError, match="newer"):
        io.load(tmp_path / "new.h5")
    io.save(make_model("tr"), tmp_path / "full.h5")
    data = (tmp_path / "full.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated|corrupt"):
        io.load(tmp_path / "cut.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        io.load(tmp_path / "text.h5")
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "absent.h5")


def test_save_refuses_unfitted_and_unknown(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        io.save(TensorCompletion(), tmp_path / "x.h5")
    with pytest.raises(TypeError, match="save expects"):
        io.save({"a": 1}, tmp_path / "x.h5")
    est = TensorCompletion(format="cp", rank=1, n_iter=5, random_state=np.random.RandomState(0))
    est.fit(np.ones((3, 4)))
    with pytest.raises(TypeError, match="random_state as an int"):
        io.save(est, tmp_path / "x.h5")
