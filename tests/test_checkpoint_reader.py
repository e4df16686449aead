"""The torch-free checkpoint reader (`model.checks`) on files torch itself wrote: a real frontside checkpoint, the
same cut short, a plain tensor file, pickles of other things. It must give what torch.load(weights_only=True)
gives, refuse the rest with one error naming the file, never run code from a file, and never import torch."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from frontside.errors import DataIntegrityError, FrontsideError, InputFormatError
from frontside.learning.checkpoint.format import WEIGHT_NAMES, names_digest
from frontside.learning.checkpoint.reader import StoredTensor, read_checkpoint, stored_arrays
from frontside.learning.checkpoint.saving import check_checkpoint, load_checkpoint, save_checkpoint
from frontside.learning.checkpoint.validation import check_checkpoint_file
from frontside.learning.networks.registry import build
from tools.weight_names import weight_names_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A real checkpoint of a tiny prn, with the optimizer and scheduler state of one step."""
    torch.manual_seed(0)
    net = build("prn", width=0.25)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 5)
    net(torch.rand(1, 3, 256, 256)).mean().backward()
    optimizer.step()
    scheduler.step()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", network=net, optimizer=optimizer,
                           scheduler=scheduler, epoch=1, best_val=0.25, config={"lr": 1e-4, "data": ["/x"]},
                           history=[{"epoch": 1, "val": 0.25}])


def _same(read: object, loaded: object, where: str = "") -> None:
    """`read` (read_checkpoint's) holds what `loaded` (torch.load's) holds, tensors as equal arrays."""
    if isinstance(loaded, torch.Tensor):
        assert isinstance(read, StoredTensor), where
        array = stored_arrays({"t": read})["t"]
        loaded = loaded.detach()
        want = loaded.float().numpy() if loaded.dtype == torch.bfloat16 else loaded.numpy()
        assert array.shape == tuple(loaded.shape) and array.dtype == want.dtype, where
        np.testing.assert_array_equal(array, want, err_msg=where)
    elif isinstance(loaded, dict):
        assert isinstance(read, dict) and list(read) == list(loaded), where
        for key in loaded:
            _same(read[key], loaded[key], f"{where}.{key}")
    elif isinstance(loaded, (list, tuple)):
        assert type(read) is type(loaded) and len(read) == len(loaded), where
        for i, (a, b) in enumerate(zip(read, loaded)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert read == loaded, where


@pytest.mark.slow
def test_a_frontside_checkpoint_reads_as_torch_loads_it(checkpoint):
    state = read_checkpoint(checkpoint)
    _same(state, torch.load(checkpoint, weights_only=True))
    assert check_checkpoint_file(checkpoint)["spec"]["arch"] == "prn"
    assert check_checkpoint(checkpoint)["epoch"] == 1  # and the weights fit their network


def test_dtypes_views_and_shared_storages(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    values = {"t": base.t(), "row": base[2], "cut": base[1:3, 2:5],  # one storage, three views
              "half": torch.linspace(-2, 2, 5, dtype=torch.float16), "bf16": torch.tensor([1.5, -3.0, 1e30],
                                                                                          dtype=torch.bfloat16),
              "double": torch.tensor([np.pi]), "long": torch.tensor([-(2 ** 40)]), "bool": torch.tensor([True, False]),
              "byte": torch.tensor([255], dtype=torch.uint8), "scalar": torch.tensor(3.0), "empty": torch.zeros(0, 3),
              "parameter": torch.nn.Parameter(torch.ones(2)), "plain": {"list": [1, 2.5, "x", None, (True,)],
                                                                        "bytes": b"\x00\xff"}}
    torch.save(values, tmp_path / "mixed.pt")
    _same(read_checkpoint(tmp_path / "mixed.pt"), torch.load(tmp_path / "mixed.pt", weights_only=True))


def test_a_truncated_checkpoint_is_refused_at_every_length(checkpoint, tmp_path):
    data = checkpoint.read_bytes()
    for cut in (1, 30, 100, 1000, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1):
        (tmp_path / "cut.pt").write_bytes(data[:cut])
        with pytest.raises(DataIntegrityError, match=r"cut\.pt: not a (readable )?frontside checkpoint"):
            read_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(InputFormatError, match=r"empty\.pt: file: is empty"):
        read_checkpoint(tmp_path / "empty.pt")


def test_a_missing_or_compressed_member_is_named(checkpoint, tmp_path):
    with zipfile.ZipFile(checkpoint) as src, zipfile.ZipFile(tmp_path / "holed.pt", "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("/data/3"):
                dst.writestr(info, src.read(info))
    with pytest.raises(DataIntegrityError, match=r"holed\.pt: archive/data/3: missing from the archive"):
        read_checkpoint(tmp_path / "holed.pt")
    with zipfile.ZipFile(checkpoint) as src, zipfile.ZipFile(tmp_path / "packed.pt", "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))  # could inflate to any size: refused unread
    with pytest.raises(DataIntegrityError, match=r"packed\.pt: archive/data\.pkl: compressed"):
        read_checkpoint(tmp_path / "packed.pt")


def test_other_torch_files_are_no_frontside_checkpoints(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    assert read_checkpoint(tmp_path / "tensor.pt").shape == (3,)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "dict.pt")
    torch.save(torch.zeros(3), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name, problem in (("tensor", r"no 'spec'/'model'"), ("dict", r"no 'spec'/'model'"),
                          ("legacy", r"not the zip archive torch\.save writes")):
        with pytest.raises(DataIntegrityError, match=rf"{name}\.pt: not a frontside checkpoint \({problem}"):
            check_checkpoint_file(tmp_path / f"{name}.pt")


class _Payload:
    """Unpickling this runs `touch MARKER`: a reader that ran it would leave the marker behind."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickles_of_anything_else_are_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model": _Payload(marker), "spec": {"arch": "prn"}, "format": 3}, tmp_path / "code.pt")
    torch.save({"model": Path("/etc")}, tmp_path / "path.pt")
    for name, global_ in (("code", r"(posix|os)\.system"), ("path", r"pathlib\.PosixPath")):
        with pytest.raises(DataIntegrityError, match=rf"{name}\.pt: not a readable frontside checkpoint \(it "
                                                     rf"holds a {global_}"):
            read_checkpoint(tmp_path / f"{name}.pt")
    (tmp_path / "bare.pkl").write_bytes(pickle.dumps({"model": {}, "spec": {}}))  # a pickle, not torch's zip
    with pytest.raises(DataIntegrityError, match=r"bare\.pkl: not a frontside checkpoint"):
        read_checkpoint(tmp_path / "bare.pkl")
    assert not marker.exists()


def test_weights_that_do_not_fit_are_named(checkpoint, tmp_path):
    good = torch.load(checkpoint, weights_only=True)
    for spec, message in (
            ({"arch": "twoview-thesis"}, r"named as those of a prn network, not as those of the "
                                         r"twoview-thesis network"),  # no torch needed
            ({"width": 0.5}, r"\(221 of another shape, e.g. encoder.1.weight: \(4, 3, 4, 4\), the "
                             r"network's \(8, 3, 4, 4\)\)")):  # the check that builds the network
        torch.save({**good, "arch": spec.get("arch", "prn"), "spec": {**good["spec"], **spec}}, tmp_path / "x.pt")
        with pytest.raises(DataIntegrityError, match=rf"x\.pt: field 'model' does not fit field 'spec' .*{message}"):
            check_checkpoint(tmp_path / "x.pt")
    torch.save({**good, "arch": "frontonly"}, tmp_path / "two.pt")
    with pytest.raises(DataIntegrityError, match=r"two\.pt: field 'arch' is 'frontonly', but field 'spec'"):
        check_checkpoint_file(tmp_path / "two.pt")
    model = dict(good["model"])
    model["encoder.1.weight"] = model["encoder.1.weight"].clone().fill_(float("inf"))
    torch.save({**good, "model": model}, tmp_path / "inf.pt")
    with pytest.raises(DataIntegrityError, match=r"inf\.pt: field 'model': 1 tensors hold NaN or infinity"):
        check_checkpoint_file(tmp_path / "inf.pt")


def test_the_checks_never_import_torch(checkpoint, tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    code = ("import sys\nfrom frontside.errors import FrontsideError\nfrom frontside.learning.checkpoint.validation import "
            "check_checkpoint_file\nfor path in sys.argv[1:]:\n    try:\n        check_checkpoint_file(path)\n"
            "    except FrontsideError:\n        pass\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(checkpoint), str(tmp_path / "notes.txt")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.slow
def test_weight_names_file_is_what_the_networks_have(builtin_model):
    table = weight_names_table()
    assert json.loads(WEIGHT_NAMES.read_text()) == table, \
        "a network changed: run `python -m tools.weight_names` to rewrite weight_names.json"
    # the table is made at one width and input size: the names must not depend on them
    for arch, options in (("prn", {}), ("twoview-thesis", {"decoder_norm": "batch"}), ("frontonly", {"input_size": 96})):
        network = build(arch, **options)
        key = f"{arch}|stack|{options.get('decoder_norm')}"
        assert names_digest(network.state_dict()) == table[key], key


def test_load_checkpoint_applies_the_same_checks(checkpoint, tmp_path):
    state = load_checkpoint(checkpoint)
    torch.save({**state, "spec": {**state["spec"], "arch": "nosuch"}, "arch": "nosuch"}, tmp_path / "odd.pt")
    for check in (load_checkpoint, check_checkpoint_file):
        with pytest.raises(FrontsideError, match=r"odd\.pt: field 'arch': 'nosuch' is not one of"):
            check(tmp_path / "odd.pt")
