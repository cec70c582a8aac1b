"""Linear equality constraints C W = K on the linear map (ridge closed form, elastic net by ADMM).

References: a hand-built KKT system (numpy) for ridge; scikit-learn's Ridge/ElasticNet for the
unconstrained part; the KKT (stationarity + subgradient) conditions for the elastic net.
Synthetic data; ``standardize=False`` so the objective is the one written in the tests.
"""

import numpy as np
import pytest

from jaxglass.errors import UserError
from jaxglass.models import ElasticNet, Ridge, fit_elastic_net, fit_ridge, load_model, physical_weights

K, D, F = 14, 5, 8


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(K, D))
    Y = X @ rng.normal(size=(D, F)) + 0.2 * rng.normal(size=(K, F))
    nu = np.linspace(0.0, 3.0, F)
    C = np.stack([np.full(F, nu[1]), nu**2 * nu[1]])
    return X, Y, C, rng.normal(size=(2, D)), np.array([1.0, 2.5])


def _wb(model):
    W, b = physical_weights(model)
    return np.asarray(W), np.asarray(b)


def _kkt_ridge(X, Y, C, Kv, kb, l2):
    """min 1/(KF)‖Y − X Wᵀ − 1bᵀ‖² + l2‖W‖² s.t. C W = Kv, C b = kb, over vec(W) (row-major) and b."""
    n = F * D + F
    A = np.zeros((K * F, n))
    for k in range(K):
        for f in range(F):
            A[k * F + f, f * D:(f + 1) * D] = X[k]
            A[k * F + f, F * D + f] = 1.0
    H = 2 * A.T @ A / (K * F) + 2 * l2 * np.diag(np.r_[np.ones(F * D), np.zeros(F)])
    rows, rhs = [], []
    for m in range(C.shape[0]):
        for d in range(D):
            row = np.zeros(n)
            row[np.arange(F) * D + d] = C[m]
            rows.append(row)
            rhs.append(Kv[m, d])
        row = np.zeros(n)
        row[F * D:] = C[m]
        rows.append(row)
        rhs.append(kb[m])
    E = np.array(rows)
    KKT = np.block([[H, E.T], [E, np.zeros((len(rhs), len(rhs)))]])
    sol = np.linalg.solve(KKT, np.r_[2 * A.T @ Y.ravel() / (K * F), rhs])
    return sol[:F * D].reshape(F, D), sol[F * D:n]


def test_constrained_ridge_equals_hand_built_kkt():
    X, Y, C, Kv, kb = _problem()
    W, b = _wb(fit_ridge(X, Y, 0.01, standardize=False, constraints=(C, Kv, kb)))
    Wk, bk = _kkt_ridge(X, Y, C, Kv, kb, 0.01)
    np.testing.assert_allclose(W, Wk, atol=1e-12)
    np.testing.assert_allclose(b, bk, atol=1e-12)
    for scaling in ("pooled", "column"):  # in the data's units whatever the internal scaling
        W, b = _wb(fit_ridge(X, Y, 0.01, scaling=scaling, constraints=(C, Kv, kb)))
        assert np.abs(C @ W - Kv).max() < 1e-13 * np.abs(Kv).max()
        assert np.abs(C @ b - kb).max() < 1e-13


def test_constrained_ridge_is_projected_sklearn_ridge_and_inactive_constraint_changes_nothing():
    from sklearn.linear_model import Ridge as SkRidge

    X, Y, C, Kv, _ = _problem(1)
    l2 = 0.02
    sk = SkRidge(alpha=K * F * l2).fit(X, Y)  # ‖y − Xw‖² + α‖w‖² per target
    Wu, bu = _wb(fit_ridge(X, Y, l2, standardize=False))
    np.testing.assert_allclose(Wu, sk.coef_, atol=1e-10)
    Q, _ = np.linalg.qr(C.T)
    P = np.eye(F) - Q @ Q.T
    E = C.T @ np.linalg.solve(C @ C.T, Kv)
    W, _ = _wb(fit_ridge(X, Y, l2, standardize=False, constraints=(C, Kv)))
    np.testing.assert_allclose(W, P @ sk.coef_ + E, atol=1e-10)
    Wi, bi = _wb(fit_ridge(X, Y, l2, standardize=False, constraints=(C, C @ Wu, C @ bu)))
    np.testing.assert_allclose(Wi, Wu, atol=1e-12)
    np.testing.assert_allclose(bi, bu, atol=1e-12)
    Ws, bs = _wb(fit_ridge(X, Y, l2))  # standardised fit: the constraint in data units, same result
    Wi, bi = _wb(fit_ridge(X, Y, l2, constraints=(C, C @ Ws, C @ bs)))
    np.testing.assert_allclose(Wi, Ws, atol=1e-12)
    np.testing.assert_allclose(bi, bs, atol=1e-12)


def _enet_kkt_residual(X, Y, W, l1, l2, C):
    """Largest violation of the KKT conditions of min 1/(KF)‖Yc − Xc Wᵀ‖² + l1|W| + l2‖W‖² s.t. C W = K:
    grad + l1 s + Cᵀ Λ = 0 with s = sign(W) on the support and |grad + CᵀΛ| ≤ l1 off it (Λ per column
    by least squares on the support)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    G = -2.0 / (K * F) * (Yc - Xc @ W.T).T @ Xc + 2 * l2 * W  # (F, D)
    worst = 0.0
    for d in range(D):
        on = W[:, d] != 0
        lam = np.linalg.lstsq(C[:, on].T, -(G[on, d] + l1 * np.sign(W[on, d])), rcond=None)[0]
        r = G[:, d] + C.T @ lam
        worst = max(worst, np.abs(r[on] + l1 * np.sign(W[on, d])).max(initial=0.0),
                    (np.abs(r[~on]) - l1).max(initial=0.0))
    return worst


def test_constrained_elastic_net_kkt_and_limits():
    X, Y, C, Kv, kb = _problem(2)
    l1, l2 = 0.01, 1e-3
    model, info = fit_elastic_net(X, Y, l1, l2, standardize=False, constraints=(C, Kv, kb), tol=1e-12,
                                  return_info=True)
    W, b = _wb(model)
    assert info["method"] == "admm" and info["converged"]
    assert np.abs(C @ W - Kv).max() < 1e-13 * np.abs(Kv).max() and np.abs(C @ b - kb).max() < 1e-13
    assert 0 < np.mean(W == 0) < 1
    assert _enet_kkt_residual(X, Y, W, l1, l2, C) < 1e-8
    # l1 → 0: the constrained ridge (closed form)
    Wr, br = _wb(fit_ridge(X, Y, l2, standardize=False, constraints=(C, Kv, kb)))
    W0, b0 = _wb(fit_elastic_net(X, Y, 0.0, l2, standardize=False, constraints=(C, Kv, kb), tol=1e-12))
    np.testing.assert_allclose(W0, Wr, atol=1e-9)
    np.testing.assert_allclose(b0, br, atol=1e-9)


def test_inactive_constraint_gives_the_unconstrained_elastic_net_and_sklearn():
    from sklearn.linear_model import ElasticNet as SkENet

    X, Y, C, _, _ = _problem(3)
    l1, l2 = 0.01, 1e-3
    Wu, bu = _wb(fit_elastic_net(X, Y, l1, l2, standardize=False, tol=1e-12))
    alpha = F * l1 / 2 + F * l2  # αρ = F l1/2, α(1 − ρ) = F l2
    sk = SkENet(alpha=alpha, l1_ratio=F * l1 / 2 / alpha, tol=1e-12, max_iter=100000).fit(X, Y)
    np.testing.assert_allclose(Wu, sk.coef_, atol=1e-7)
    W, b = _wb(fit_elastic_net(X, Y, l1, l2, standardize=False, tol=1e-12, constraints=(C, C @ Wu, C @ bu)))
    np.testing.assert_allclose(W, Wu, atol=1e-8)
    np.testing.assert_allclose(b, bu, atol=1e-8)


@pytest.mark.filterwarnings("ignore::jaxglass.models.GridEdgeWarning")
def test_estimators_with_constraints_save_and_load(tmp_path):
    X, Y, C, Kv, kb = _problem(4)
    for est in (Ridge(constraints=(C, Kv, kb)), ElasticNet(l2=1e-3, cv=3, constraints=(C, Kv))):
        est.fit(X, Y)
        assert est.info_["constraint_violation"] < 1e-12
        path = est.save(tmp_path / f"{type(est).__name__}.npz")
        back = load_model(path)
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        np.testing.assert_array_equal(back.constraints.rows, C)
        assert np.abs(C @ back.coef_ - Kv).max() < 1e-12 * np.abs(Kv).max()
    with pytest.raises(UserError, match="^constraints: "):
        Ridge(l2=0.1, constraints=(C[:, :-1], Kv)).fit(X, Y)
    with pytest.raises(UserError, match="^constraints: .*linearly dependent"):
        Ridge(l2=0.1, constraints=(np.stack([C[0], 2 * C[0]]), Kv)).fit(X, Y)
