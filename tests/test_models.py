"""Linear elastic-net SPR and CNN baseline on synthetic, planted g(r) → PDOS problems."""

import subprocess
import sys

import numpy as np
import pytest

from jaxglass.models import (
    CNNConfig,
    LinearSPRConfig,
    Standardizer,
    cross_validate,
    fit_cnn,
    fit_linear,
    fit_ridge,
    kfold_indices,
    load_cnn,
    load_linear,
    mse,
    physical_weights,
    predict,
    predict_cnn,
    r2,
    save_cnn,
    save_linear,
)


def planted(K, R=48, F=32, C=1, noise=0.02, seed=0):
    """RDF-like features (4 Gaussian peaks whose positions, widths and heights follow 4 latent
    variables per channel, exactly 0 inside the core r < 0.75) and targets Y = W g + b + noise with a
    smooth planted W(ω, r)."""
    rng = np.random.default_rng(seed)
    r = np.linspace(0.5, 4.0, R)
    lat = rng.uniform(-1, 1, size=(K, C, 4))
    g = np.zeros((K, C, R))
    for p, r0 in enumerate([1.0, 1.7, 2.6, 3.4]):
        q, s = (p + 1) % 4, (p + 2) % 4
        pos = r0 * (1 + 0.05 * lat[..., p:p + 1])
        width = 0.08 + 0.03 * (p + 1) * (1 + 0.3 * lat[..., q:q + 1])
        amp = (2.5 / (p + 1)) * (1 + 0.2 * lat[..., s:s + 1])
        g += amp * np.exp(-0.5 * ((r - pos) / width) ** 2)
    g = np.where(r < 0.75, 0.0, g)
    w = np.linspace(0, 1, F)[:, None, None]
    W = 5 * np.sin(2 * np.pi * (2 * w + 0.3 * np.arange(C)[:, None] + r / 2)) * np.exp(-r / 3) / (R * C)
    Y = np.einsum("fcr,kcr->kf", W, g) + np.sin(3 * np.linspace(0, 1, F))
    Y = Y + noise * Y.std(0).mean() * rng.normal(size=Y.shape)
    return (g[:, 0] if C == 1 else g), Y, W


def wellposed(K=150, R=20, F=10, noise=0.05, seed=1):
    """Correlated Gaussian features with K >> R, so W is identifiable."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(K, R)) @ (np.eye(R) + 0.3 * rng.normal(size=(R, R)) / np.sqrt(R)) + 2.0
    W = rng.normal(size=(F, R))
    Y = X @ W.T + 0.5 + noise * rng.normal(size=(K, F))
    return X, Y, W


def standardized_gradient(model, X, Y, l2):
    """Gradient of the documented smooth objective (MSE over K·F + l2‖W‖²) in numpy."""
    Xs = np.asarray(model.x_scaler.transform(X.reshape(len(X), -1)))
    Ys = np.asarray(model.y_scaler.transform(Y))
    W, b = np.asarray(model.W), np.asarray(model.b)
    res = Xs @ W.T + b - Ys
    return 2 * res.T @ Xs / res.size + 2 * l2 * W, 2 * res.sum(0) / res.size


# ---------------------------------------------------------------------------------------------- utilities


def test_standardizer_round_trip_and_zero_variance():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50, 6))
    X[:, 0] = 0.0  # g(r) inside the core
    X[:, 1] = 7.5  # constant, non-zero
    X[:, 2] = 1.0 + 1e-12 * rng.normal(size=50)  # numerically constant
    s = Standardizer.fit(X)
    np.testing.assert_array_equal(np.asarray(s.scale)[:3], 1.0)
    Z = np.asarray(s.transform(X))
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, 3:].std(0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(s.inverse_transform(Z)), X, rtol=1e-13, atol=1e-13)
    Y = rng.normal(size=(50, 4)) * [1e-3, 1.0, 10.0, 0.0]  # targets: same object, same contract
    sy = Standardizer.fit(Y)
    np.testing.assert_allclose(np.asarray(sy.inverse_transform(sy.transform(Y))), Y, atol=1e-13)
    # (K, C, R) features: statistics per (c, r)
    s3 = Standardizer.fit(X.reshape(50, 2, 3))
    assert s3.mean.shape == (2, 3)


def test_kfold_indices_partition():
    n, k = 23, 5
    folds = kfold_indices(n, k, seed=3)
    assert len(folds) == k
    vals = np.concatenate([va for _, va in folds])
    np.testing.assert_array_equal(np.sort(vals), np.arange(n))  # disjoint and covering
    for tr, va in folds:
        assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == n
        assert len(va) in (n // k, n // k + 1)
    again = kfold_indices(n, k, seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again))
    assert not all((a[1] == b[1]).all() for a, b in zip(folds, kfold_indices(n, k, seed=4)))
    with pytest.raises(ValueError):
        kfold_indices(3, 5)


def test_metrics():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(40, 5))
    Y[:, 4] = 2.0  # constant target: excluded from the mean
    P = Y + 0.1 * rng.normal(size=Y.shape)
    s = r2(Y, P)
    per = 1 - ((Y - P) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0).clip(1e-300)
    np.testing.assert_allclose(s.per_target[:4], per[:4], rtol=1e-12)
    assert np.isnan(s.per_target[4]) and s.mean == pytest.approx(per[:4].mean())
    sst = ((Y - Y.mean(0)) ** 2).sum()
    assert s.overall == pytest.approx(1 - ((Y - P) ** 2).sum() / sst)
    assert r2(Y, Y).mean == 1.0
    assert r2(Y, np.broadcast_to(Y.mean(0), Y.shape)).overall == pytest.approx(0.0, abs=1e-12)
    assert mse(Y, P) == pytest.approx(np.mean((Y - P) ** 2))


# ---------------------------------------------------------------------------------------------- linear

FAST = LinearSPRConfig(max_epochs=1000, patience=100)  # the defaults with fewer epochs


def test_ridge_closed_form_matches_optax():
    X, Y, _ = wellposed(K=150, R=30, F=12, seed=2)  # same shapes/configs as the L1 test: one compile
    l2 = 1e-3
    ref = fit_ridge(X, Y, l2)
    gW, gb = standardized_gradient(ref, X, Y, l2)  # the closed form is a stationary point of the objective
    assert np.abs(gW).max() < 1e-12 and np.abs(gb).max() < 1e-12
    for opt, lr in [("adam", 1e-2), ("sgd", 0.5)]:
        cfg = LinearSPRConfig(l1=0.0, l2=l2, learning_rate=lr, optimizer=opt, max_epochs=2000, patience=None)
        m = fit_linear(X, Y, cfg)
        rel = np.linalg.norm(np.asarray(m.W - ref.W)) / np.linalg.norm(np.asarray(ref.W))
        assert rel < 1e-4, (opt, rel)
        np.testing.assert_allclose(np.asarray(predict(m, X)), np.asarray(predict(ref, X)), rtol=1e-4,
                                   atol=1e-6)
    # the K×K dual branch (D > K) solves the same problem
    wide = X[:20]
    dual = fit_ridge(wide, Y[:20], l2)
    gW, gb = standardized_gradient(dual, wide, Y[:20], l2)
    assert np.abs(gW).max() < 1e-12 and np.abs(gb).max() < 1e-12


def test_planted_linear_recovery():
    X, Y, _ = planted(300)
    m = fit_linear(X[:200], Y[:200], FAST)  # adam, cosine decay, early stopping on a 10 % split
    s = r2(Y[200:], np.asarray(predict(m, X[200:])))
    assert s.mean > 0.99 and s.overall > 0.99, s[:2]
    # identifiable problem: the data-unit weights recover the planted W
    Xw, Yw, Ww = wellposed()
    for model in (fit_ridge(Xw, Yw, 1e-7), fit_linear(Xw, Yw, LinearSPRConfig(l2=1e-7, max_epochs=1000,
                                                                              patience=None))):
        Wp, bp = physical_weights(model)
        assert np.linalg.norm(np.asarray(Wp) - Ww) / np.linalg.norm(Ww) < 0.02
        np.testing.assert_allclose(Xw @ np.asarray(Wp).T + np.asarray(bp), np.asarray(predict(model, Xw)),
                                   rtol=1e-9, atol=1e-9)


def test_l1_gives_exact_zeros_and_satisfies_kkt():
    X, Y, _ = wellposed(K=150, R=30, F=12, seed=2)
    l2 = 1e-4
    zeros, Ws = [], []
    for l1, opt, lr in [(1e-3, "adam", 1e-2), (1e-2, "adam", 1e-2), (1e-2, "sgd", 0.5)]:
        cfg = LinearSPRConfig(l1=l1, l2=l2, learning_rate=lr, optimizer=opt, max_epochs=2000, patience=None)
        m = fit_linear(X, Y, cfg)
        W = np.asarray(m.W)
        gW, gb = standardized_gradient(m, X, Y, l2)
        nz = W != 0
        # elastic-net optimality: ∇ + l1 sign(W) = 0 on the support, |∇| <= l1 off it
        assert np.abs(gW[nz] + l1 * np.sign(W[nz])).max() < 1e-6 * l1
        assert np.abs(gW[~nz]).max() <= l1 * (1 + 1e-6)
        assert np.abs(gb).max() < 1e-10
        zeros.append(int((~nz).sum()))
        Ws.append(W)
    assert 0 < zeros[0] < zeros[1] < W.size
    # ISTA (sgd) and proximal Adam reach the same (unique, l2 > 0) sparse minimiser
    np.testing.assert_allclose(Ws[2], Ws[1], atol=1e-8)
    assert abs(zeros[2] - zeros[1]) <= 2


def test_channels_are_flattened():
    X, Y, _ = planted(160, C=3)
    assert X.shape == (160, 3, 48)
    a = fit_ridge(X, Y, 1e-5)
    b = fit_ridge(X.reshape(160, -1), Y, 1e-5)
    np.testing.assert_allclose(np.asarray(a.W), np.asarray(b.W), rtol=1e-12, atol=1e-12)
    assert a.feature_shape == (3, 48) and physical_weights(a)[0].shape == (32, 3, 48)
    m = fit_linear(X[:120], Y[:120], FAST)
    assert predict(m, X[120:]).shape == (40, 32) and predict(m, X[0]).shape == (32,)
    assert r2(Y[120:], np.asarray(predict(m, X[120:]))).mean > 0.99
    with pytest.raises(ValueError, match="shape"):
        predict(m, X[:, :2])


def test_early_stopping_keeps_best_and_minibatches():
    X, Y, _ = planted(200)
    cfg = LinearSPRConfig(l2=1e-7, learning_rate=3e-2, batch_size=48, max_epochs=400, patience=15,
                          lr_schedule="constant")
    m, h = fit_linear(X[:150], Y[:150], cfg, X[150:], Y[150:], return_history=True)
    assert h["n_epochs"] <= 400 and h["val_mse"].shape == (h["n_epochs"],)
    assert h["best_epoch"] == int(np.argmin(h["val_mse"]))
    if h["n_epochs"] < 400:
        assert h["n_epochs"] - 1 - h["best_epoch"] == 15
    Zv = np.asarray(m.y_scaler.transform(Y[150:]))
    Pv = np.asarray(m.y_scaler.transform(predict(m, X[150:])))
    assert np.mean((Zv - Pv) ** 2) == pytest.approx(h["val_mse"].min(), rel=1e-9)


def test_cross_validate_grid():
    X, Y, _ = planted(120)
    cfg = LinearSPRConfig(max_epochs=600, patience=50)
    cv = cross_validate(X, Y, [0.0, 3e-2], [1e-6, 1e-3], k=3, config=cfg, seed=1)
    assert cv.mse.shape == (2, 2, 3) and len(cv.table) == 4
    mean = cv.mse.mean(-1)
    i, j = np.unravel_index(np.argmin(mean), mean.shape)
    assert (cv.best_l1, cv.best_l2) == (cv.l1_grid[i], cv.l2_grid[j])
    assert cv.best_l1 == 0.0  # a heavy L1 penalty is clearly worse on a dense planted W
    assert cv.best_config.l1 == cv.best_l1 and cv.best_config.l2 == cv.best_l2
    row = next(t for t in cv.table if t["l1"] == cv.best_l1 and t["l2"] == cv.best_l2)
    assert row["mse_mean"] == pytest.approx(mean[i, j]) and row["r2_mean"] > 0.99


def test_save_load_round_trip_and_bad_files(tmp_path):
    X, Y, _ = planted(80, C=3)
    m = fit_ridge(X, Y, 1e-4)
    path = tmp_path / "sub" / "model.bin"  # no .npz suffix: written exactly there
    save_linear(m, path, metadata={"l2": 1e-4, "system": "toy"})
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.bin"]  # no temp file left
    m2, meta = load_linear(path, with_metadata=True)
    assert meta == {"l2": 1e-4, "system": "toy"} and m2.feature_shape == (3, 48)
    np.testing.assert_array_equal(np.asarray(predict(m2, X)), np.asarray(predict(m, X)))
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt.npz"):
        load_linear(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, W=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz.*format"):
        load_linear(foreign)
    with pytest.raises(ValueError, match="model.bin"):
        load_cnn(path)  # a linear model is not a CNN file


# ---------------------------------------------------------------------------------------------- CNN

CNN_TEST_CONFIG = CNNConfig(max_epochs=80, patience=30, batch_size=32)


def test_cnn_learns_planted_problem(tmp_path):
    X, Y, _ = planted(300, R=48, F=32)
    m, h = fit_cnn(X[:200], Y[:200], CNN_TEST_CONFIG, return_history=True)
    P = np.asarray(predict_cnn(m, X[200:]))
    assert P.shape == (100, 32) and predict_cnn(m, X[0]).shape == (32,)
    assert r2(Y[200:], P).mean > 0.9, r2(Y[200:], P)[:2]
    assert 1 <= h["n_epochs"] <= CNN_TEST_CONFIG.max_epochs
    path = tmp_path / "cnn.npz"
    save_cnn(m, path)
    m2 = load_cnn(path)
    assert m2.config == m.config and m2.feature_shape == (1, 48)
    np.testing.assert_array_equal(np.asarray(predict_cnn(m2, X[200:])), P)
    bad = tmp_path / "cnn_bad.npz"
    bad.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match="cnn_bad.npz"):
        load_cnn(bad)
    with pytest.raises(ValueError, match="cnn.npz"):
        load_linear(path)


def test_cnn_partial_rdf_channels():
    X, Y, _ = planted(64, R=32, F=16, C=3)
    m = fit_cnn(X[:48], Y[:48], CNNConfig(max_epochs=5, patience=None, batch_size=16))
    assert m.feature_shape == (3, 32)
    P = np.asarray(predict_cnn(m, X[48:]))
    assert P.shape == (16, 16) and np.isfinite(P).all()
    with pytest.raises(ValueError, match="shape"):
        predict_cnn(m, X[:, :2])
    with pytest.raises(ValueError, match="pooling"):
        fit_cnn(X[:, :, :3], Y, CNNConfig(max_epochs=1))


def test_import_is_light():
    code = "import sys, jaxglass.models; print(sorted(m for m in ('flax', 'optax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
