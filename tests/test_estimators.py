"""Estimators (Ridge, Lasso, ElasticNet, CNN) and the Gram-matrix elastic-net solver.

References: scikit-learn's ``ElasticNet``/``Lasso`` objective at tight tolerance (the same objective
scaling), the closed-form ridge, exact KKT conditions, and scikit-learn's ``clone``,
``cross_val_score`` and ``Pipeline``.
"""

import warnings

import numpy as np
import pytest

from jaxglass.models import (
    CNN,
    ElasticNet,
    GridEdgeWarning,
    Lasso,
    Ridge,
    cross_validate_enet,
    fit_elastic_net,
    fit_ridge,
    load_model,
    predict,
)
from jaxglass.models._enet import enet_path, enet_solve, gram_problem, sklearn_objective


def _problem(K=120, D=30, F=12, seed=0, noise=0.05):
    """Correlated (random-walk) features, sparse planted weights: the kind of problem g(r) gives."""
    rng = np.random.default_rng(seed)
    X = 1 + 0.5 * rng.standard_normal((K, D)).cumsum(1) / np.sqrt(D)
    W = rng.standard_normal((F, D)) * (rng.random((F, D)) < 0.3)
    Y = X @ W.T + 0.3 + noise * rng.standard_normal((K, F))
    return X, Y


def _sklearn_reference(sk, X, Y, lam1, lam2):
    """scikit-learn's Lasso (lam2 = 0) or ElasticNet at tol 1e-12 and its objective per target."""
    if lam2 == 0:
        m = sk.Lasso(alpha=lam1, tol=1e-12, max_iter=200000).fit(X, Y)
    else:
        a = lam1 + lam2
        m = sk.ElasticNet(alpha=a, l1_ratio=lam1 / a, tol=1e-12, max_iter=200000).fit(X, Y)
    return m, sklearn_objective(X, Y, m.coef_.T, m.intercept_, lam1, lam2)


@pytest.mark.parametrize("lam2,method", [(0.0, "cd"), (0.02, "cd"), (0.0, "fista"), (0.02, "fista")])
def test_gram_cd_matches_sklearn_objective(lam2, method):
    sk = pytest.importorskip("sklearn.linear_model")
    X, Y = _problem()
    p = gram_problem(X, Y)
    lam1 = 0.02 * float(np.abs(np.asarray(p.C)).max())
    sol = enet_solve(p, lam1, lam2, tol=1e-10, method=method)
    ours = sklearn_objective(X, Y, sol.W, sol.b, lam1, lam2)
    m, ref = _sklearn_reference(sk, X, Y, lam1, lam2)
    # objective per target within 1e-6 relative (ours is certified by its duality gap)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    assert float(sol.gap.sum()) <= 1e-10 * float(sol.primal.sum())
    # the gap bounds the suboptimality: P(ours) - P(sklearn) <= gap (up to round-off)
    assert np.all(ours - ref <= np.asarray(sol.gap) + 1e-12 * np.abs(ref))
    # the primal value the solver reports is the objective on the data
    np.testing.assert_allclose(np.asarray(sol.primal), ours, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(sol.W).T, m.coef_, atol=1e-4 * np.abs(m.coef_).max())


@pytest.mark.parametrize("lam2", [0.0, 0.02])
def test_homotopy_is_exact_against_sklearn_and_kkt(lam2):
    """The LARS-EN homotopy lands on the optimum: scikit-learn's objective at tol 1e-12, the KKT
    conditions to round-off, a duality gap at round-off, with the slot count forced to grow
    (k=8 < the largest support) and the padded batch of targets."""
    sk = pytest.importorskip("sklearn.linear_model")
    from jaxglass.models._homotopy import enet_solve_homotopy

    X, Y = _problem(K=150, D=40, F=7, noise=0.1)
    p = gram_problem(X, Y)
    cmax = float(np.abs(np.asarray(p.C)).max())
    lam1 = 0.005 * cmax
    sol = enet_solve_homotopy(p, lam1, lam2, tol=1e-12, k=8)
    W = np.asarray(sol.W)
    assert (W != 0).sum(0).max() > 8  # the slots had to grow
    assert float(sol.gap.sum()) <= 1e-13 * float(sol.primal.sum())  # round-off: exact on its support
    grad = np.asarray(p.C) - np.asarray(p.G) @ W - lam2 * W
    on = W != 0
    np.testing.assert_allclose(grad[on], lam1 * np.sign(W[on]), rtol=1e-9, atol=1e-12 * cmax)
    assert np.all(np.abs(grad[~on]) <= lam1 * (1 + 1e-9))
    m, ref = _sklearn_reference(sk, X, Y, lam1, lam2)
    ours = sklearn_objective(X, Y, sol.W, sol.b, lam1, lam2)
    assert np.all(ours <= ref * (1 + 1e-12))  # never above scikit-learn's (tight) optimum
    np.testing.assert_allclose(ours, ref, rtol=1e-9)
    # above a target's own l1_max its weights are exactly zero; fit_elastic_net uses the homotopy
    big = enet_solve_homotopy(p, 1.01 * cmax, lam2)
    assert np.all(np.asarray(big.W) == 0)
    model, info = fit_elastic_net(X, Y, 1e-3, 1e-4, tol=1e-10, return_info=True)
    assert info["method"] == "homotopy" and info["converged"]


def test_homotopy_path_and_cv_are_exact():
    """One homotopy gives every grid point exactly (gap at round-off; equal to single solves), in
    any grid order; the CV on it picks the same l1 as the FISTA path."""
    from jaxglass.models._homotopy import enet_path_homotopy, enet_solve_homotopy

    X, Y = _problem(K=90, D=20, F=6, noise=0.3)
    p = gram_problem(X, Y)
    cmax = float(np.abs(np.asarray(p.C)).max())
    lams = cmax * np.array([0.01, 1.5, 0.3, 0.001, 0.1])  # unsorted, one above l1_max
    path = enet_path_homotopy(p, lams, 1e-3, k=8)
    assert np.all(np.asarray(path.W[1]) == 0)
    assert float(path.gap.sum()) <= 1e-12 * float(path.primal.sum())
    for i, lam in enumerate(lams):
        one = enet_solve_homotopy(p, lam, 1e-3, tol=1e-12)
        np.testing.assert_allclose(np.asarray(path.W[i]), np.asarray(one.W), atol=1e-10 * cmax)
    a = cross_validate_enet(X, Y, None, (0.0,), k=3, method="homotopy", tol=1e-9, max_sweeps=20000)
    b = cross_validate_enet(X, Y, None, (0.0,), k=3, tol=1e-9, max_sweeps=20000)
    assert a.best_l1 == b.best_l1 and a.max_rel_gap <= 1e-9
    np.testing.assert_allclose(a.mse, b.mse, rtol=1e-5)


def test_homotopy_unfinished_path_is_finished_by_coordinate_descent():
    from jaxglass.models._homotopy import enet_solve_homotopy

    X, Y = _problem(K=100, D=25, F=4)
    p = gram_problem(X, Y)
    lam1 = 0.01 * float(np.abs(np.asarray(p.C)).max())
    short = enet_solve_homotopy(p, lam1, 0.0, tol=1e-10, max_steps=3)  # cannot reach lam1 in 3 events
    full = enet_solve(p, lam1, 0.0, tol=1e-12)
    assert float(short.gap.sum()) <= 1e-10 * float(short.primal.sum())
    np.testing.assert_allclose(np.asarray(short.primal), np.asarray(full.primal), rtol=1e-9)


def test_gram_cd_kkt_and_path_warm_start():
    X, Y = _problem(D=20, F=5)
    p = gram_problem(X, Y)
    cmax = float(np.abs(np.asarray(p.C)).max())
    lams = cmax * np.array([1.0, 0.3, 0.1, 0.03])
    path = enet_path(p, lams, 0.0, tol=1e-12)
    assert np.all(np.asarray(path.W[0]) == 0)  # at l1_max every weight is zero
    for i, lam in enumerate(lams):
        W = np.asarray(path.W[i])
        grad = np.asarray(p.C) - np.asarray(p.G) @ W  # = -∂(smooth part)/∂W
        on = W != 0
        # KKT: grad = lam sign(w) on the support, |grad| <= lam off it
        np.testing.assert_allclose(grad[on], lam * np.sign(W[on]), rtol=1e-6, atol=1e-9 * cmax)
        assert np.all(np.abs(grad[~on]) <= lam * (1 + 1e-6))
        single = enet_solve(p, lam, 0.0, tol=1e-12)
        np.testing.assert_allclose(W, np.asarray(single.W), atol=1e-7 * np.abs(W).max(initial=1.0))


def test_fit_elastic_net_l1_zero_is_ridge_and_reports_gap():
    X, Y = _problem(D=15, F=4)
    l2 = 1e-3
    en, info = fit_elastic_net(X, Y, 0.0, l2, tol=1e-10, return_info=True)
    ridge = fit_ridge(X, Y, l2)
    np.testing.assert_allclose(np.asarray(en.W), np.asarray(ridge.W), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(predict(en, X)), np.asarray(predict(ridge, X)), rtol=1e-8)
    assert info["converged"] and info["relative_gap"] <= 1e-10, info


@pytest.mark.parametrize("scaling, standardize", [("pooled", True), ("column", True), ("pooled", False)])
def test_l1_at_or_above_l1_max_is_refused_and_is_all_zeros(scaling, standardize):
    """l1_max is where the solver's W becomes exactly zero (checked with the solver itself, on both sides
    of it); a fixed l1 at or above it is refused by the estimators with the value and the bound, and the
    static cap of 1e6 lies above the bound 2 sqrt(D/F) of standardised data."""
    from jaxglass.models import l1_max

    X, Y = _problem(D=15, F=4)
    top = l1_max(X, Y, standardize, scaling)
    below = fit_elastic_net(X, Y, 0.98 * top, 1e-3, standardize, scaling, tol=1e-10)
    above = fit_elastic_net(X, Y, 1.02 * top, 1e-3, standardize, scaling, tol=1e-10)
    assert np.any(np.asarray(below.W) != 0) and np.all(np.asarray(above.W) == 0)
    if standardize:
        assert top <= 2 * np.sqrt(X.shape[1] / Y.shape[1]) < 1e6
    for est in (Lasso(l1=top, scaling=scaling, standardize=standardize),
                ElasticNet(l1=1.5 * top, l2=1e-3, scaling=scaling, standardize=standardize)):
        with pytest.raises(ValueError, match=r"l1: .* every weight exactly zero .* l1_max = ") as err:
            est.fit(X, Y)
        assert err.value.field == "l1" and f"{top:.4g}" in str(err.value)
    assert np.any(np.asarray(Lasso(l1=0.9 * top, scaling=scaling, standardize=standardize).fit(X, Y).coef_))


def test_enet_cv_picks_interior_and_warns_on_edge():
    X, Y = _problem(K=90, D=20, F=6, noise=0.3)
    res = cross_validate_enet(X, Y, None, (0.0,), k=3, tol=1e-7, max_sweeps=20000)
    assert res.mse.shape == (1, 26, 3) and np.all(res.rel_gap <= 1e-7)
    assert not res.edge
    with pytest.warns(GridEdgeWarning, match="l1"):
        bad = cross_validate_enet(X, Y, res.l1_grid[:3], (0.0,), k=3)  # only the largest penalties
    assert bad.edge and bad.best_l1 == bad.l1_grid.min()


def test_enet_cv_default_budget_picks_brute_force_l1():
    """The bounded CV (warm-started path, gap 1e-3 or CV_MAX_SWEEPS passes per point, FISTA and
    coordinate descent) chooses the same l1 as a brute-force grid where every (fold, l1) is solved
    from zero to a relative gap of 1e-10."""
    from jaxglass.models import CV_MAX_SWEEPS, default_l1_grid, kfold_indices

    X, Y = _problem(K=60, D=24, F=8, noise=0.5, seed=2)
    l1s = default_l1_grid(X, Y, n=11, decades=3.0)
    res = cross_validate_enet(X, Y, l1s, (1e-4,), k=3)
    assert res.n_sweeps.max() <= CV_MAX_SWEEPS + 20  # the cap (checked every 20 iterations) bounds the work
    cd = cross_validate_enet(X, Y, l1s, (1e-4,), k=3, method="cd", max_sweeps=40)
    assert cd.n_sweeps.max() <= 40 + 11 and cd.best_l1 == res.best_l1
    brute = np.zeros((l1s.size, 3))
    for f, (tr, va) in enumerate(kfold_indices(len(X), 3, 0)):
        for i, l1 in enumerate(res.l1_grid):
            m, info = fit_elastic_net(X[tr], Y[tr], l1, 1e-4, tol=1e-10, max_sweeps=200000, return_info=True)
            assert info["converged"]
            brute[i, f] = np.mean((np.asarray(predict(m, X[va])) - Y[va]) ** 2)
    i_best = int(np.argmin(brute.mean(1)))
    assert 0 < i_best < l1s.size - 1  # an interior optimum: the comparison means something
    assert res.best_l1 == res.l1_grid[i_best]
    np.testing.assert_allclose(res.mse[0], brute, rtol=2e-2)
    # the gaps reached are reported
    assert res.max_rel_gap == res.rel_gap.max() and np.all(res.rel_gap >= 0)
    with pytest.raises(ValueError, match="max_sweeps"):
        cross_validate_enet(X, Y, l1s, (0.0,), k=3, max_sweeps=0)


def test_estimators_fit_predict_score_and_params():
    X, Y = _problem(K=100, D=20, F=6, noise=0.05)
    for est in (Ridge(), Lasso(), ElasticNet(l2_grid=(1e-6, 1e-4))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GridEdgeWarning)
            est.fit(X[:80], Y[:80])
        assert est.predict(X[80:]).shape == (20, 6)
        assert est.score(X[80:], Y[80:]) > 0.95
        assert est.coef_.shape == (6, 20)
        np.testing.assert_allclose(X[80:] @ est.coef_.T + est.intercept_, est.predict(X[80:]), rtol=1e-9)
    # get/set_params follow the __init__ signature; unknown names are refused with the valid list
    r = Ridge(l2=1e-3)
    assert r.get_params()["l2"] == 1e-3 and "l1" not in r.get_params()
    assert "l2" not in Lasso().get_params()
    with pytest.raises(ValueError, match="unknown parameter 'alpha'"):
        r.set_params(alpha=1.0)
    # 1-D targets give 1-D predictions
    y1 = Ridge(l2=1e-4).fit(X, Y[:, 0])
    assert y1.predict(X).shape == (100,)
    with pytest.raises(ValueError, match="fitted feature shape"):
        y1.predict(X[:, :10])
    with pytest.raises(RuntimeError, match="call fit"):
        Ridge().predict(X)


def test_sklearn_clone_cross_val_score_and_pipeline():
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, Y = _problem(K=90, D=16, F=5)
    est = ElasticNet(l1=1e-3, l2=1e-5)
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "model_")
    scores = cross_val_score(est, X, Y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.9)
    pipe = make_pipeline(FunctionTransformer(lambda A: 2.0 * A), Ridge())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridEdgeWarning)
        pipe.fit(X, Y)
        assert pipe.score(X, Y) > 0.95
        assert np.all(cross_val_score(Lasso(cv=3), X, Y[:, 0], cv=3) > 0.9)


def test_save_load_and_weight_map_from_the_model_alone(tmp_path):
    pytest.importorskip("matplotlib")
    X, Y = _problem(K=60, D=12, F=7)
    r = np.linspace(1.0, 4.0, 12)
    w = np.linspace(0.0, 30.0, 7)
    est = Lasso(l1=1e-4, r=r, freq=w, r_unit="Å", freq_unit="meV", y_unit="states/meV").fit(X, Y)
    est.save(tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert type(back) is Lasso and back.get_params()["freq_unit"] == "meV"
    np.testing.assert_allclose(back.predict(X), est.predict(X), rtol=1e-12)
    assert Lasso.load(tmp_path / "m.npz").l1_ == est.l1_
    with pytest.raises(ValueError, match="not a Ridge"):
        Ridge.load(tmp_path / "m.npz")
    fig = back.weight_map(tmp_path / "w.png", title="test")
    assert (tmp_path / "w.png").stat().st_size > 0
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "W·σ (states/meV)" in labels and "frequency (meV)" in labels  # units from the model


def test_cnn_estimator_round_trip(tmp_path):
    X, Y = _problem(K=60, D=16, F=4)
    est = CNN(max_epochs=5, batch_size=None, patience=None, channels=(2,), kernel_sizes=(3,), hidden=8)
    est.fit(X, Y)
    assert est.predict(X).shape == (60, 4) and np.isfinite(est.score(X, Y))
    est.save(tmp_path / "c.npz")
    back = load_model(tmp_path / "c.npz")
    assert type(back) is CNN and back.get_params() == est.get_params()
    np.testing.assert_allclose(back.predict(X), est.predict(X), rtol=1e-5)


_NEWTON_CHUNKS = """
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from jaxglass.models._enet import enet_solve, gram_problem
D, F = 300, 200  # 2**24 // D**2 = 186 < F: the exact support solve runs in two batched chunks
rng = np.random.default_rng(0)
X = rng.normal(size=(40, D))
Y = X[:, :F] * 0.3 + rng.normal(size=(40, F))
sol = enet_solve(gram_problem(jnp.asarray(X), jnp.asarray(Y)), 0.05, 0.0, tol=1e-9, max_sweeps=200,
                 method="fista")
assert np.isfinite(np.asarray(sol.W)).all()
print("ok")
"""


def test_enet_wide_targets_do_not_deadlock():
    """Two batched LU calls that XLA's CPU runtime ran at once deadlocked its 2-thread pool (the
    elastic-net CV over >= 600 feature columns hung for ever on 2 cores); the chunks are chained now.
    Run in a child with a timeout so that a regression fails instead of hanging the suite."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _NEWTON_CHUNKS], capture_output=True, text=True,
                         timeout=150)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parametrize("lam2", [0.0, 0.02])
def test_wide_problem_low_rank_factor_matches_dense_gram(lam2):
    """Fewer samples than half the features (a partial g(r) of a few glasses): the problem keeps the
    factor X̄/√n, and FISTA, the gap and the exact support solve through it land where the dense
    Gram matrix does, at scikit-learn's optimum; zero-padded factor rows change nothing."""
    sk = pytest.importorskip("sklearn.linear_model")
    from jaxglass.models._enet import _newton, gram_dot, pad_factor_rows

    X, Y = _problem(K=12, D=60, F=5, noise=0.1)
    p = gram_problem(X, Y)
    assert p.Xs is not None and p.Xs.shape == (12, 60)
    dense = p._replace(Xs=None)
    Z = np.random.default_rng(1).standard_normal((60, 5))
    np.testing.assert_allclose(np.asarray(gram_dot(p, Z)), np.asarray(p.G) @ Z, rtol=1e-12, atol=1e-12)
    lam1 = 0.05 * float(np.abs(np.asarray(p.C)).max())
    a = enet_solve(p, lam1, lam2, tol=1e-10, method="fista", max_sweeps=20000)
    b = enet_solve(dense, lam1, lam2, tol=1e-10, method="fista", max_sweeps=20000)
    c = enet_solve(pad_factor_rows(p, 16), lam1, lam2, tol=1e-10, method="fista", max_sweeps=20000)
    for sol in (a, b, c):
        assert float(sol.gap.sum()) <= 1e-10 * float(sol.primal.sum())
    np.testing.assert_allclose(np.asarray(a.primal), np.asarray(b.primal), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(c.primal), np.asarray(b.primal), rtol=1e-9)
    m, ref = _sklearn_reference(sk, X, Y, lam1, lam2)
    ours = sklearn_objective(X, Y, a.W, a.b, lam1, lam2)
    assert np.all(ours <= ref * (1 + 1e-9))
    # the support solve (Woodbury on the factor) equals the dense masked solve from the same iterate
    if lam2 > 0:
        W0 = np.where(np.abs(np.asarray(a.W)) > 0, np.asarray(a.W) * 1.1, 0.0)
        P0 = np.full(5, np.inf)
        np.testing.assert_allclose(np.asarray(_newton(p, W0, P0, lam1, lam2)),
                                   np.asarray(_newton(dense, W0, P0, lam1, lam2)), rtol=1e-8, atol=1e-10)


def test_wide_cv_uses_the_exact_homotopy_and_matches_a_tight_fista_path():
    """Folds with fewer samples than half the features: the default CV path is the exact homotopy
    (through the factor, folds of unequal size padded), and it picks what FISTA solved tight picks."""
    from jaxglass.models._enet import enet_method

    X, Y = _problem(K=17, D=80, F=4, noise=0.1)
    assert enet_method("auto", 11, 80, path=True) == "homotopy"
    assert enet_method("auto", 160, 200, path=True) == "fista"
    a = cross_validate_enet(X, Y, None, (1e-3,), k=3, warn=False)
    b = cross_validate_enet(X, Y, None, (1e-3,), k=3, warn=False, method="fista", tol=1e-11,
                            max_sweeps=100000)
    assert a.max_rel_gap <= 1e-9 and b.max_rel_gap <= 1e-11
    assert a.best_l1 == b.best_l1
    np.testing.assert_allclose(a.mse, b.mse, rtol=1e-6)
