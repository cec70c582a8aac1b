"""File I/O in one place: atomic writes (no reader ever sees a half-written file) and the readers of
users' arrays, tables and train/test splits.

Each writer writes to a temporary file in the destination folder and renames it over ``path``
(``os.replace`` is atomic on POSIX and Windows within one file system); the parent folder is created.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError
from .validation import Integral, Real, validate


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:  # default permissions (umask), unlike mkstemp's 0600
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_savez(path, arrays: dict[str, Any], *, compressed: bool = False) -> Path:
    """``numpy.savez`` (``savez_compressed`` if ``compressed``) of ``arrays`` exactly at ``path`` (no
    ``.npz`` appended), atomically."""
    import io

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def write_csv(path: Path, table: np.ndarray, header: str) -> None:
    """A numeric table as CSV with one header line, atomically."""
    import io

    buf = io.StringIO()
    np.savetxt(buf, table, delimiter=",", header=header, comments="")
    atomic_write_text(path, buf.getvalue())



def read_text(path, what: str, *, field: str | None = None) -> str:
    """The text of a user's file (potential files and other text formats): a missing path raises
    ``FileNotFoundError``, a folder or a file that is not UTF-8 text :class:`UserError`, each naming the
    file and ``what`` it should be."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file; give {what}")
    if not p.is_file():
        raise UserError(f"{p}: is a folder; give {what}", field=field)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{p}: not a text file ({err}); give {what}", field=field) from err


def read_npz(path, what: str, fix: str, required=(), *, field: str | None = None) -> dict[str, np.ndarray]:
    """Every member of an ``.npz`` file, read in full (so a member failing its CRC is found here, not at
    its first use), with ``required`` members checked present.

    A missing, truncated, damaged (bad CRC, bad compressed stream) or non-zip file, or one without a
    ``required`` member, raises :class:`UserError` ``"PATH: WHAT ...; FIX"`` (``field``: the argument
    the path came from, for the command line's option name). This is the one reader of npz containers:
    dataset records and exports, model files."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: {'is a folder' if p.is_dir() else 'not found'}; give {what}", field=field)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
    except Exception as err:  # zipfile.BadZipFile (also bad CRC), zlib.error, EOFError, OSError, ValueError
        raise UserError(
            f"{p}: not a readable {what}: damaged, truncated or not an npz archive ({type(err).__name__}: "
            f"{err}); {fix}", field=field) from err
    missing = [key for key in required if key not in arrays]
    if missing:
        raise UserError(f"{p}: corrupt {what} (missing member(s) {missing}); {fix}", field=field)
    return arrays


def read_array(path, field: str) -> np.ndarray:
    """A finite float array from .npy, .npz (one array) or text (.csv/.txt/.dat; '#' comments, ',' or spaces).

    Errors are :class:`UserError` naming ``field`` (the argument the path came from)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{field}: {p} {'is a folder' if p.is_dir() else 'not found'}; give a .npy, .npz or "
                        ".csv file")
    try:
        if p.suffix == ".npy":
            a = np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if len(z.files) != 1:
                    raise UserError(f"{field}: {p} holds {len(z.files)} arrays {z.files}; save one array "
                                    "(np.save) or pass a .npy")
                a = z[z.files[0]]
        else:
            a = read_table(p)
        a = np.asarray(a, np.float64)
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"{field}: {p} is not a readable array ({type(err).__name__}: {err})") from err
    if a.size == 0:
        raise UserError(f"{field}: {p} is empty")
    if not np.isfinite(a).all():
        raise UserError(f"{field}: {p} contains NaN or inf")
    return a



def read_table(p: Path) -> np.ndarray:
    """Numeric rows of a text table: '#' comments and non-numeric header lines skipped."""
    rows = []
    for line in p.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            rows.append([float(x) for x in line.replace(",", " ").split()])
        except ValueError:
            if rows:
                raise UserError(f"non-numeric row after the data started: {line[:60]!r}") from None
            continue  # header
    if not rows:
        raise UserError("no numeric rows")
    if len({len(r) for r in rows}) != 1:
        raise UserError("rows have different numbers of columns")
    a = np.asarray(rows)
    return a[:, 0] if a.shape[1] == 1 else a



def read_grid(path, field: str, n: int, what: str) -> np.ndarray | None:
    """A strictly increasing grid of ``n`` values from a file (``None`` if ``path`` is None)."""
    if path is None:
        return None
    g = read_array(path, field).ravel()
    if g.size != n:
        raise UserError(f"{field}: {g.size} values, but {what} has {n}; give one value per column")
    if np.any(np.diff(g) <= 0):
        raise UserError(f"{field}: values must increase strictly")
    return g



def read_split(path, n: int, field: str = "split") -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices from JSON {"train": [...], "test": [...]} (one may be omitted: the
    complement) or from a .npy/.txt list of test rows."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{field}: {p} not found")
    if p.suffix == ".json":
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as err:
            raise UserError(f"{field}: {p} is not valid JSON ({err})") from err
        if not isinstance(d, dict) or not ({"train", "test"} & set(d)):
            raise UserError(f'{field}: {p} must hold {{"train": [rows], "test": [rows]}} '
                            "(one may be omitted)")
        parts = {k: np.asarray(d[k], dtype=np.float64).ravel() for k in ("train", "test") if k in d}
    else:
        parts = {"test": read_array(p, field).ravel()}
    for k, v in parts.items():
        if np.any(v != np.round(v)) or np.any(v < 0) or np.any(v >= n):
            raise UserError(f"{field}: {k} rows must be integers in [0, {n}) for {n} samples")
        if len(np.unique(v)) != len(v):
            raise UserError(f"{field}: {k} rows repeat")
    full = np.arange(n)
    test = parts["test"].astype(int) if "test" in parts else np.setdiff1d(full, parts["train"].astype(int))
    train = parts["train"].astype(int) if "train" in parts else np.setdiff1d(full, test)
    if np.intersect1d(train, test).size:
        raise UserError(f"{field}: train and test rows overlap")
    return np.sort(train), np.sort(test)



@validate({
    "test_fraction": [Real(0, 1, closed="left"), "the held-out fraction, e.g. 0.2 (0: train on every row)"],
    "seed": [Integral(0, None), "a non-negative integer seed, e.g. 0"],
})
def random_split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) rows of a seeded random split holding out ``round(test_fraction * n)`` rows."""
    n_test = int(round(test_fraction * n))
    test = np.sort(np.random.default_rng([seed, 104729]).choice(n, n_test, replace=False))
    return np.setdiff1d(np.arange(n), test), test

