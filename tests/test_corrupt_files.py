"""Every file jaxglass reads, corrupted: a member failing its CRC, a missing member, a truncated zip,
bad JSON, wrong shapes, NaN tables, binary garbage. Each reader must raise ``UserError`` naming the
file (never a bare zipfile / KeyError / numpy error), and the command line must exit 2 with no traceback.
"""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _toy import fake_record

from jaxglass import data, structure
from jaxglass.cli.main import main
from jaxglass.data import build, schema, transfer
from jaxglass.errors import UserError
from jaxglass.models import load_model
from jaxglass.models.linear import fit_ridge, save_linear
from jaxglass.potentials import from_spec, read_setfl, read_tersoff_file, read_vashishta_file
from jaxglass.potentials.tersoff import SIC_TERSOFF_1989
from jaxglass.potentials.vashishta import SIC_VASHISHTA_2007

# -- ways to damage a file ----------------------------------------------------------------------


def flip_crc(path: Path, member: str) -> None:
    """Flip one byte inside ``member``'s stored data: its CRC check fails when it is read."""
    b = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    h = info.header_offset
    name_len, extra_len = (int.from_bytes(b[h + k : h + k + 2], "little") for k in (26, 28))
    start = h + 30 + name_len + extra_len
    b[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(b))


def drop_member(path: Path, member: str) -> None:
    with zipfile.ZipFile(path) as zi:
        items = [(it, zi.read(it.filename)) for it in zi.infolist() if it.filename != member]
    with zipfile.ZipFile(path, "w") as zo:
        for it, blob in items:
            zo.writestr(it, blob)


def replace_member(path: Path, member: str, value) -> None:
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    d[member] = value
    np.savez(path, **d)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


# -- the files ----------------------------------------------------------------------------------

CFG = data.DatasetConfig.make("lj2d", 2, n_atoms=56, n_freq=20, n_r=10, r_max=2.5)


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """One intact file of every kind (built without physics: fake records, a ridge fit on noise)."""
    root = tmp_path_factory.mktemp("originals")
    ds = root / "ds"
    build.prepare_manifest(ds, CFG)
    for k in range(CFG.n_structures):
        schema.write_record(ds, k, fake_record(CFG, k))
    transfer.export_dataset(ds, root / "export.npz")
    rng = np.random.default_rng(0)
    save_linear(fit_ridge(rng.random((6, 5)), rng.random((6, 3)), 1e-2), root / "model.npz")
    (root / "SiC.tersoff").write_text(SIC_TERSOFF_1989)
    (root / "SiC.vashishta").write_text(SIC_VASHISHTA_2007)
    (root / "Cu.eam.alloy").write_text(
        "comment\ncomment\ncomment\n1 Cu\n5 0.1 5 0.5 2.0\n29 63.546 3.615 fcc\n"
        + "0 -1 -2 -3 -4\n" + "1 0.8 0.5 0.2 0\n" + "0 0.5 0.2 0.1 0\n")
    s = structure.make_structure(rng.random((4, 3)) * 4 + [[0, 0, 0], [2, 0, 0], [0, 2, 0], [2, 2, 2]],
                                 ["Cu"] * 4, 6.0, min_distance=None)
    structure.write(str(root / "frame.extxyz"), s)
    return root


def _dataset(root):
    return root / "ds"


def _record(root):
    return schema.record_path(root / "ds", 1)


def _manifest(root):
    return root / "ds" / "manifest.json"


def _edit_manifest(edit):
    def apply(path):
        man = json.loads(path.read_text())
        edit(man)
        path.write_text(json.dumps(man))
    return apply


def _bad_record_shape(path):
    rec = fake_record(CFG, 1)
    rec["rdf_total"] = rec["rdf_total"][:3]
    np.savez(path, **rec)


def _bad_nan_setfl(path):
    path.write_text(path.read_text().replace("0 -1 -2 -3 -4", "0 -1 nan -3 -4"))


def _nan_frame(path):
    lines = path.read_text().splitlines()
    cols = lines[2].split()
    lines[2] = " ".join([cols[0], "nan", *cols[2:]])
    path.write_text("\n".join(lines) + "\n")


load_ds = data.load_dataset
export = lambda p: transfer.export_dataset(p, p.parent / "out.npz")  # noqa: E731
import_ = lambda p: transfer.import_dataset(p, p.parent / "imported")  # noqa: E731

#: (case id, file of the originals, damage, reader, text the message must hold besides the path).
CASES = [
    # dataset records (read when a dataset is loaded, exported, resumed)
    ("record-crc", "ds/structures/00001.npz", lambda p: flip_crc(p, "positions.npy"), None, "Bad CRC"),
    ("record-missing-member", "ds/structures/00001.npz", lambda p: drop_member(p, "rdf_total.npy"), None,
     "missing member"),
    ("record-truncated", "ds/structures/00001.npz", truncate, None, "truncated"),
    ("record-garbage", "ds/structures/00001.npz", garbage, None, "not a readable dataset record"),
    ("record-shape", "ds/structures/00001.npz", _bad_record_shape, None, "rdf_total has shape (3,)"),
    ("record-object", "ds/structures/00001.npz", lambda p: replace_member(p, "knob", np.array("x")), None,
     "knob holds"),
    # manifests
    ("manifest-truncated", "ds/manifest.json", lambda p: p.write_text(p.read_text()[:50]), None, "not JSON"),
    ("manifest-binary", "ds/manifest.json", garbage, None, "not UTF-8"),
    ("manifest-no-config", "ds/manifest.json", _edit_manifest(lambda m: m.pop("config")), None, "'config'"),
    ("manifest-config-type", "ds/manifest.json",
     _edit_manifest(lambda m: m["config"].update(n_structures="two")), None, "config.n_structures"),
    ("manifest-no-grids", "ds/manifest.json", _edit_manifest(lambda m: m.pop("grids")), None, "grids"),
    # exports
    ("export-crc", "export.npz", lambda p: flip_crc(p, "positions.npy"), import_, "Bad CRC"),
    ("export-no-manifest", "export.npz", lambda p: drop_member(p, "manifest.npy"), import_, "'manifest'"),
    ("export-no-indices", "export.npz", lambda p: drop_member(p, "indices.npy"), import_, "'indices'"),
    ("export-truncated", "export.npz", truncate, import_, "truncated"),
    ("export-bad-manifest", "export.npz", lambda p: replace_member(p, "manifest", np.array("{")), import_,
     "member manifest"),
    ("export-bad-counts", "export.npz", lambda p: replace_member(p, "n_atoms", np.array([8, 9])), import_,
     "member lengths"),
    # model files
    ("model-crc", "model.npz", lambda p: flip_crc(p, "W.npy"), load_model, "Bad CRC"),
    ("model-missing-member", "model.npz", lambda p: drop_member(p, "x_scale.npy"), load_model, "x_scale"),
    ("model-truncated", "model.npz", truncate, load_model, "model file"),
    ("model-shape", "model.npz", lambda p: replace_member(p, "W", np.zeros((3, 4))), load_model,
     "inconsistent array shapes"),
    ("model-metadata", "model.npz", lambda p: replace_member(p, "metadata", np.array("{oops")), load_model,
     "metadata"),
    # potential files
    ("setfl-truncated", "Cu.eam.alloy", lambda p: p.write_text(p.read_text()[:-20]), read_setfl, "file ends"),
    ("setfl-header", "Cu.eam.alloy", lambda p: p.write_text(p.read_text().replace("5 0.1 5", "five 0.1 5")),
     read_setfl, "line 5"),
    ("setfl-nan", "Cu.eam.alloy", _bad_nan_setfl, read_setfl, "NaN or inf"),
    ("setfl-binary", "Cu.eam.alloy", garbage, read_setfl, "not a text file"),
    ("tersoff-incomplete", "SiC.tersoff", lambda p: p.write_text(p.read_text()[:-30]),
     lambda p: read_tersoff_file(p, ("Si", "C")), "incomplete entry"),
    ("tersoff-missing-entry", "SiC.tersoff", lambda p: p.write_text(p.read_text().split("Si  C   Si")[0]),
     lambda p: read_tersoff_file(p, ("Si", "C")), "Si C Si"),
    ("tersoff-binary", "SiC.tersoff", garbage, lambda p: read_tersoff_file(p, ("Si", "C")),
     "not a text file"),
    ("tersoff-spec-binary", "SiC.tersoff", garbage, lambda p: from_spec(f"tersoff:{p}"), "not a text file"),
    ("vashishta-incomplete", "SiC.vashishta", lambda p: p.write_text(p.read_text()[:-40]),
     lambda p: read_vashishta_file(p, ("Si", "C")), "entr"),
    ("vashishta-nan", "SiC.vashishta", lambda p: p.write_text(p.read_text().replace("7.35", "nan", 1)),
     lambda p: read_vashishta_file(p, ("Si", "C")), "finite"),
    # structure frames
    ("frame-truncated", "frame.extxyz", lambda p: p.write_text("\n".join(p.read_text().splitlines()[:4])),
     structure.read, "not a readable structure file"),
    ("frame-binary", "frame.extxyz", garbage, structure.read, "not a readable structure file"),
    ("frame-nan", "frame.extxyz", _nan_frame, structure.read, "non-finite"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_corrupt_file_raises_user_error_naming_it(case, originals, tmp_path):
    _, rel, damage, reader, words = case
    copy = tmp_path / "files"
    shutil.copytree(originals, copy)
    path = copy / rel
    damage(path)
    readers = [reader] if reader is not None else [load_ds, export]  # records and manifests: both paths
    for read in readers:
        target = path if reader is not None else copy / "ds"
        with pytest.raises(UserError) as info:
            read(target)
        msg = str(info.value)
        assert words in msg
        assert str(path) in msg


@pytest.mark.parametrize("argv, rel, damage", [
    (["import", "{file}", "--out", "{tmp}/imported"], "export.npz", lambda p: flip_crc(p, "meta.npy")),
    (["export", "{ds}", "--out", "{tmp}/out.npz"], "ds/structures/00000.npz",
     lambda p: flip_crc(p, "box.npy")),
    (["predict", "{file}", "--features", "{tmp}/x.npy"], "model.npz", truncate),
])
def test_cli_exits_2_on_corrupt_files(argv, rel, damage, originals, tmp_path, capsys):
    copy = tmp_path / "files"
    shutil.copytree(originals, copy)
    damage(copy / rel)
    np.save(tmp_path / "x.npy", np.ones(5))
    fmt = dict(file=copy / rel, ds=copy / "ds", tmp=tmp_path)
    rc = main([a.format(**fmt) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert str(copy / rel) in err and "Traceback" not in err and "internal error" not in err
