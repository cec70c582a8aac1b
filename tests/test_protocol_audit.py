"""The statistics of examples/protocol_audit.py on synthetic ensembles (no MD)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

_PATH = Path(__file__).resolve().parents[1] / "examples" / "protocol_audit.py"
_spec = importlib.util.spec_from_file_location("protocol_audit", _PATH)
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def test_mean_sem_matches_scipy_and_skips_missing():
    x = np.random.default_rng(0).normal(3.0, 0.5, 7)
    m, se, n = audit.mean_sem([*x, None, float("nan")])
    assert n == 7
    assert m == pytest.approx(np.mean(x), rel=1e-14)
    assert se == pytest.approx(stats.sem(x), rel=1e-12)
    assert np.isnan(audit.mean_sem([1.0])[1]) and audit.mean_sem([])[2] == 0


def _runs(offsets, seeds=8, noise=0.01, rng=None):
    """Synthetic runs: feature = offset(length) + Gaussian noise, one knob."""
    rng = rng or np.random.default_rng(1)
    return [{"knob": 1.0, "n_quench": nq, "energy": off + noise * rng.normal()}
            for nq, off in offsets.items() for _ in range(seeds)]


def test_summarize_groups_by_knob_and_length():
    runs = _runs({100: 0.0, 200: 1.0}, seeds=3) + [{"knob": 0.5, "n_quench": 100, "energy": 2.0}]
    s = audit.summarize(runs, ("energy",))
    assert sorted(s) == [0.5, 1.0] and sorted(s[1.0]) == [100, 200]
    assert s[1.0][200]["energy"][2] == 3 and s[0.5][100]["energy"][:1] == (2.0,)
    vals = [r["energy"] for r in runs if r["knob"] == 1.0 and r["n_quench"] == 200]
    assert s[1.0][200]["energy"][0] == pytest.approx(np.mean(vals))


def test_converged_length_finds_the_plateau():
    # offsets 1.0, 0.3, 0 (x 0.01 noise) then a plateau: converged from the first plateau length
    by_len = audit.summarize(_runs({10: 1.0, 20: 0.3, 40: 0.0, 80: 0.0, 160: 0.0}), ("energy",))[1.0]
    assert audit.converged_length(by_len, ("energy",)) == 40
    # a drift that never stops (log-linear, as an inherent-structure energy): only the longest
    drift = audit.summarize(_runs({10: 0.4, 20: 0.3, 40: 0.2, 80: 0.1, 160: 0.0}), ("energy",))[1.0]
    assert audit.converged_length(drift, ("energy",)) == 160
    # one seed per length: no standard error, no verdict
    single = audit.summarize(_runs({10: 0.0, 20: 0.0}, seeds=1), ("energy",))[1.0]
    assert audit.converged_length(single, ("energy",)) is None


def test_z_score():
    assert audit.z_score((1.0, 0.3, 4), (0.0, 0.4, 4)) == pytest.approx(2.0)
    assert np.isnan(audit.z_score((1.0, float("nan"), 1), (0.0, 0.4, 4)))


def test_pdos_features_drop_translations():
    f = np.array([1e-7, -2e-7, 3e-8, 1.0, 2.0, 3.0, 4.0])  # three zero modes (3D) and four modes
    out = audit.pdos_features(f, 3, nu_low=1.5)
    assert out["nu_mean"] == pytest.approx(2.5) and out["nu2"] == pytest.approx(7.5)
    assert out["low_w"] == pytest.approx(0.25) and out["nu_max"] == 4.0


def test_shortened_protocols_md_and_amc():
    from jaxglass.generate import amc, lj

    prot, length = audit.shortened(lj.PROTOCOLS["paper"], 0.25, 256)
    assert length == prot.n_quench == round(0.25 * lj.PROTOCOLS["paper"].n_quench)
    assert prot.n_melt == lj.PROTOCOLS["paper"].n_melt and prot.dt == lj.PROTOCOLS["paper"].dt
    # amc: the Metropolis trials per atom are scaled, the size's atom count is not forced on the run
    prot, length = audit.shortened(amc.PROTOCOLS["paper"], 0.5, 160)
    assert prot["anneal_per_atom"] == 0.5 * amc.PROTOCOLS["paper"]["anneal_per_atom"]
    assert "n_atoms" not in prot
    assert length == 800 and prot["keating_steps"] == amc.PROTOCOLS["paper"]["keating_steps"]
    assert "hex" in audit.features_of("amc") and "hex" not in audit.features_of("lj3d")
    assert audit.time_axis("amc", amc.PROTOCOLS["paper"]) == (1.0 / 160, "trials/atom")
    assert audit.time_axis("lj3d", lj.PROTOCOLS["paper"])[1] == "τ"


def test_paired_differences_resolve_a_shift_hidden_by_the_seed_scatter():
    # each seed has its own offset (scatter 1.0); the short protocol lies 0.1 above the long one
    rng = np.random.default_rng(3)
    base = rng.normal(0.0, 1.0, 8)
    runs = [{"knob": 1.0, "seed": s, "n_quench": nq, "energy": base[s] + shift + 0.01 * rng.normal()}
            for s in range(8) for nq, shift in ((10, 0.1), (20, 0.0), (40, 0.0))]
    by_len = audit.summarize(runs, ("energy",))[1.0]
    assert audit.converged_length(by_len, ("energy",)) == 10  # unpaired: hidden in the scatter
    paired = audit.paired_differences(runs, ("energy",))[1.0]
    mean, sem, n = paired[10]["energy"]
    diffs = [r10["energy"] - r40["energy"] for r10 in runs for r40 in runs
             if r10["seed"] == r40["seed"] and r10["n_quench"] == 10 and r40["n_quench"] == 40]
    assert n == 8 and mean == pytest.approx(np.mean(diffs)) and sem == pytest.approx(stats.sem(diffs))
    assert paired[40]["energy"][:2] == (0.0, 0.0)
    assert audit.converged_paired(paired, ("energy",)) == 20
    # a seed missing at the longest length is left out of the pairs
    partial = audit.paired_differences([r for r in runs if not (r["seed"] == 0 and r["n_quench"] == 40)],
                                       ("energy",))[1.0]
    assert partial[10]["energy"][2] == 7
