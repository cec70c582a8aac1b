"""The linear-vs-CNN study: splits, features, ridge CV, pooled scaling, resumable learning curves,
tables/figures, and the train/evaluate/study command line."""

import json

import numpy as np
import pytest

from jaxglass import cli, data, study
from jaxglass.models import Standardizer, cross_validate_ridge, fit_ridge, mse, predict


def _synthetic_dataset(K=48, R=40, F=30, noise=1e-3, seed=0):
    """A Dataset whose PDOS is an exact linear map of g(r) plus noise (knob -1 marks a 'crystal')."""
    rng = np.random.default_rng(seed)
    r = np.linspace(0.5, 3.0, R)
    knob = np.concatenate([[-1.0], rng.random(K - 1)])
    width = 0.05 + 0.2 * np.clip(knob, 0, 1)[:, None]
    g = 1 + np.exp(-((r - 1.0) ** 2) / (2 * width**2)) / width / 5 + 0.05 * rng.standard_normal((K, R))
    W = rng.standard_normal((F, R)) * 0.05
    Y = g @ W.T + 0.2 + noise * rng.standard_normal((K, F))
    gp = np.stack([g, 0.5 * g, 0.5 * g, g + 1], axis=1).reshape(K, 2, 2, R)
    cfg = data.DatasetConfig.make("lj2d", K, n_atoms=64, n_freq=F, n_r=R)
    ds = data.Dataset(config=cfg, r=r, freq=np.linspace(0, 10, F), rdf_total=g, rdf_partial=gp,
                      pdos_total=Y, pdos_partial=np.stack([Y, Y], 1) / 2, knob=knob,
                      n_imaginary=np.zeros(K, int), species_names=("A", "B"), freq_unit="THz",
                      length_unit="Å", indices=np.arange(K))
    return ds, W


def test_split_indices_keeps_crystal_in_training_and_is_seeded():
    knob = np.concatenate([[-1.0], np.linspace(0, 1, 19)])
    tr, te = study.split_indices(knob, 0.25, seed=3)
    assert 0 in tr and len(te) == 5 and len(tr) == 15
    assert np.intersect1d(tr, te).size == 0 and np.union1d(tr, te).size == 20
    tr2, te2 = study.split_indices(knob, 0.25, seed=3)
    assert np.array_equal(te, te2)
    assert not np.array_equal(te, study.split_indices(knob, 0.25, seed=4)[1])
    with pytest.raises(ValueError, match="test_fraction"):
        study.split_indices(knob[:2], 0.2, seed=0)


def test_partial_features_are_the_upper_triangle():
    ds, _ = _synthetic_dataset(K=6)
    X = study.features(ds, "partial")
    assert X.shape == (6, 3, 40)
    np.testing.assert_array_equal(X[:, 0], ds.rdf_partial[:, 0, 0])
    np.testing.assert_array_equal(X[:, 1], ds.rdf_partial[:, 0, 1])
    np.testing.assert_array_equal(X[:, 2], ds.rdf_partial[:, 1, 1])
    assert study.feature_labels(ds, "partial") == ["g_AA(r)", "g_AB(r)", "g_BB(r)"]
    with pytest.raises(ValueError, match="kind"):
        study.features(ds, "bond-angle")


def test_cross_validate_ridge_matches_a_manual_kfold_loop():
    ds, _ = _synthetic_dataset(K=30, noise=1e-2)
    X, Y = ds.rdf_total, ds.pdos_total
    grid = [1e-6, 1e-3, 1e-1]
    from jaxglass.models import kfold_indices

    for scaling in ("pooled", "column"):
        best, table = cross_validate_ridge(X, Y, grid, k=3, seed=1, scaling=scaling)
        manual = np.zeros((3, 3))
        for f, (tr, va) in enumerate(kfold_indices(30, 3, 1)):
            for j, l2 in enumerate(grid):
                m = fit_ridge(X[tr], Y[tr], l2, scaling=scaling)
                manual[j, f] = mse(Y[va], predict(m, X[va]))
        np.testing.assert_allclose(table, manual, rtol=1e-8)
        assert best == grid[int(np.argmin(manual.mean(1)))]
    with pytest.raises(ValueError, match="l2_grid"):
        cross_validate_ridge(X, Y, [], k=3)


def test_pooled_standardizer_loss_is_proportional_to_data_mse():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((20, 5)) * np.array([1.0, 2.0, 1e-6, 0.5, 3.0]) + 4.0
    s = Standardizer.fit_pooled(Y)
    np.testing.assert_allclose(s.mean, Y.mean(0))
    np.testing.assert_allclose(s.scale, np.sqrt(Y.var(0).mean()) * np.ones(5))
    P = Y + rng.standard_normal(Y.shape) * 0.1
    ratio = np.mean((s.transform(P) - s.transform(Y)) ** 2) / mse(Y, P)
    assert ratio == pytest.approx(1.0 / float(s.scale[0]) ** 2, rel=1e-12)


def test_run_study_tables_figures_and_resume(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    ds, _ = _synthetic_dataset(K=40, R=16, F=20, noise=1e-3)
    cfg = study.StudyConfig(train_sizes=(12,), n_seeds=2, cv_folds=3, cnn_max_epochs=20,
                            l1_grid=(1e-6, 1e-5, 1e-4))
    res = study.run_study(ds, tmp_path, cfg, verbose=False)
    for f in ("study.json", "study.md", "learning_curve.png", "weights_l1.png", "weights_l2.png",
              "predictions.png"):
        assert (tmp_path / f).stat().st_size > 0, f
    saved = json.loads((tmp_path / "study.json").read_text())
    assert saved["n_train"] + saved["n_test"] == 40 and 0 not in saved["test_indices"]
    rows = {r["model"]: r for r in saved["models"]}
    assert set(rows) == {"ridge", "elastic-net", "cnn"}
    # planted linear data (32 samples, 16 features): the linear fits get close to the noise floor 1e-6
    assert rows["ridge"]["mse"] < 3e-6 and rows["ridge"]["r2_overall"] > 0.99
    assert rows["elastic-net"]["mse"] < 1e-5
    assert 0 < rows["elastic-net"]["hyper"]["nonzero_fraction"] <= 1
    assert rows["elastic-net"]["hyper"]["relative_gap"] <= cfg.en_tol  # converged (duality gap)
    lc = saved["learning_curve"]
    assert lc["sizes"] == [12, saved["n_train"]]
    assert len(lc["ridge"]["values"][0]) == 2 and len(lc["ridge"]["values"][-1]) == 1
    assert len(lc["cnn"]["values"][-1]) == 2  # the CNN is retrained with each seed on the full set
    assert lc["ridge"]["mean"][-1] == pytest.approx(rows["ridge"]["mse"], rel=1e-10)
    assert set(res["criteria"]) >= {"full_ratio", "small_ratio", "full_ok", "small_ok"}
    assert "| ridge |" in (tmp_path / "study.md").read_text()
    # resume: every learning-curve point is on disk, so a rerun trains nothing new for the curve
    calls = []

    def counting(name):
        orig = study.FITTERS[name]

        def f(X, Y, c, seed=0):
            calls.append((name, len(X)))
            return orig(X, Y, c, seed)
        return f

    monkeypatch.setattr(study, "FITTERS", {k: counting(k) for k in study.FITTERS})
    again = study.learning_curve(*_split(ds, cfg), cfg, tmp_path, fingerprint=study._dataset_fingerprint(ds),
                                 verbose=False)
    assert calls == [] and again == lc
    # a different configuration does not reuse the stored points
    cfg2 = study.StudyConfig(train_sizes=(10,), n_seeds=1, cv_folds=3, cnn_max_epochs=5)
    study.learning_curve(*_split(ds, cfg2), cfg2, tmp_path, models=("ridge",), verbose=False)
    assert calls == [("ridge", 10), ("ridge", saved["n_train"])]


def _split(ds, cfg):
    X, Y = study.features(ds, cfg.features), ds.pdos_total
    tr, te = study.split_indices(ds.knob, cfg.test_fraction, cfg.seed)
    return X[tr], Y[tr], X[te], Y[te]


def test_study_config_validation():
    with pytest.raises(ValueError, match="test_fraction"):
        study.StudyConfig(test_fraction=1.0)
    with pytest.raises(ValueError, match="features"):
        study.StudyConfig(features="angles")
    with pytest.raises(ValueError, match="train_sizes"):
        study.StudyConfig(train_sizes=(1, 10))
    ds, _ = _synthetic_dataset(K=10)
    with pytest.raises(ValueError, match="unknown model"):
        study.run_study(ds, "unused", models=("svm",))


def test_cli_train_evaluate_study(tmp_path, toy_family, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "st"
    argv = ["study", "--system", "lj2d", "--out", str(out), "--n-structures", "10", "--n-atoms", "100",
            "--train-sizes", "5", "--n-seeds", "1", "--cnn-max-epochs", "5", "--models", "ridge", "cnn",
            "--quiet"]
    assert cli.main(argv) == 0
    res = json.loads((out / "study.json").read_text())
    assert res["n_structures"] == 10 and res["learning_curve"]["sizes"] == [5, res["n_train"]]
    ridge = next(r for r in res["models"] if r["model"] == "ridge")
    # train + evaluate reproduce the study's ridge row (same split, same CV)
    model = tmp_path / "ridge.npz"
    assert cli.main(["train", str(out / "dataset"), "--model", "ridge", "--out", str(model)]) == 0
    assert cli.main(["evaluate", str(model), "--out", str(tmp_path / "ev.json")]) == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["n"] == res["n_test"] and ev["mse"] == pytest.approx(ridge["mse"], rel=1e-10)
    cnn = tmp_path / "cnn.npz"
    assert cli.main(["train", str(out / "dataset"), "--model", "cnn", "--out", str(cnn),
                     "--cnn-max-epochs", "5"]) == 0
    assert cli.main(["evaluate", str(cnn), "--split", "all"]) == 0
    assert "evaluate: cnn on 10 all structures" in capsys.readouterr().out
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    assert cli.main(["evaluate", str(bad)]) != 0
    assert "not a readable model file" in capsys.readouterr().err
    assert cli.main(["study", "--system", "amc", "--out", str(tmp_path / "x"), "--dataset",
                     str(out / "dataset")]) != 0
    assert "holds 'lj2d'" in capsys.readouterr().err


def test_partial_features_ridge_and_weight_map(tmp_path):
    pytest.importorskip("matplotlib")
    from jaxglass import plots

    ds, _ = _synthetic_dataset(K=30, R=16, F=12)
    cfg = study.StudyConfig(features="partial", cv_folds=3)
    X = study.features(ds, "partial")
    model, info = study.fit_ridge_cv(X, ds.pdos_total, cfg)
    assert model.feature_shape == (3, 16) and info["l2"] in cfg.l2_grid
    # linear in the inputs: predictions equal the physical weight map contracted with g_ab(r)
    from jaxglass.models import physical_weights

    Wp, bp = physical_weights(model)
    np.testing.assert_allclose(study.predict_any(model, X), np.einsum("fcr,kcr->kf", Wp, X) + bp, atol=1e-12)
    plots.plot_weight_map(model, ds, np.arange(30), tmp_path / "w.png",
                          labels=study.feature_labels(ds, "partial"))
    assert (tmp_path / "w.png").stat().st_size > 0


def test_loo_ridge_matches_brute_force_leave_one_out():
    from jaxglass.models import loo_ridge

    ds, _ = _synthetic_dataset(K=20, R=8, F=5, noise=1e-2)
    X, Y = ds.rdf_total, ds.pdos_total
    # pre-standardised data + standardize=False: brute force refits see exactly the same problem
    Xs = (X - X.mean(0)) / X.std(0)
    Ys = (Y - Y.mean(0)) / Y.std(0)
    grid = [0.0, 1e-4, 1e-2, 1.0]
    best, loo = loo_ridge(Xs, Ys, grid, standardize=False)
    brute = np.zeros(len(grid))
    for j, l2 in enumerate(grid):
        for i in range(20):
            keep = np.arange(20) != i
            m = fit_ridge(Xs[keep], Ys[keep], l2 * 20 / 19, standardize=False)  # same K·F·l2 penalty
            brute[j] += np.sum((Ys[i] - np.asarray(predict(m, Xs[i:i + 1]))[0]) ** 2) / (20 * 5)
    np.testing.assert_allclose(loo, brute, rtol=1e-9)
    assert best == grid[int(np.argmin(brute))]
    with pytest.raises(ValueError, match="K >= 3"):
        loo_ridge(Xs[:2], Ys[:2], grid)
