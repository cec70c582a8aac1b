"""1D convolutional baseline for PDOS ← g(r) (the CNN the linear SPR is compared with).

Architecture (Flax linen): the ``C`` (partial) RDFs are the input channels of a stack of
``Conv1D(channels[i], kernel_sizes[i], SAME) → GELU → AvgPool(pool)`` blocks, flattened, then
``Dense(hidden) → GELU → Dense(F)``. Inputs and targets are scaled as in
:mod:`jaxglass.models.linear` (statistics of the training split): centred per ``(c, r)`` position /
per frequency and divided by one pooled scale (``input_scaling`` / ``target_scaling="pooled"``,
defaults), so
the loss is proportional to the PDOS MSE in data units (per-frequency scaling, ``"column"``, blows up
the nearly constant high-frequency tail and the network then fits noise there). The loss is the MSE
on scaled targets, the optimiser is optax ``adamw`` with a cosine
learning-rate decay, and early stopping on the validation MSE returns the best epoch's parameters.
Training runs in float32 (even when JAX is in x64 mode): the CNN is a baseline, not an exact solver.

Flax is imported inside the functions, so ``import jaxglass.models`` does not load it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._io import atomic_savez
from ..errors import UserError
from ..validation import Each, Integral, Options, Real, check, nonnegative, positive
from ._files import CNN_FORMAT, FORMAT_VERSION, file_metadata, read_npz, scaler_arrays, scaler_from
from ._scaling import SCALINGS, Standardizer, scalers
from ._training import batches, history, split_validation, train_loop

FORMAT = CNN_FORMAT
_DTYPE = jnp.float32


#: What each :class:`CNNConfig` field accepts (checked on construction; see :mod:`jaxglass.validation`).
#: The epoch bound keeps the per-epoch history (an array of ``max_epochs``) and the int32 epoch
#: counter of the compiled training loop in range.
CNN_CONSTRAINTS = {
    "channels": [Each(Integral(1, 4096)), "output channels of each conv block, e.g. (8, 16)"],
    "kernel_sizes": [Each(Integral(1, 4096)), "one kernel width per conv block, e.g. (7, 5)"],
    "pool": [Integral(1, 4096)],
    "hidden": [Integral(1, 10**6)],
    "learning_rate": [positive],
    "max_epochs": [Integral(1, 10**7), "the CNN's epoch budget, e.g. 300"],
    "patience": [None, Integral(1, None)],
    "batch_size": [None, Integral(1, None)],
    "weight_decay": [nonnegative],
    "final_lr_fraction": [Real(0, 1)],
    "val_fraction": [Real(0, 1, closed="neither")],
    "seed": [Integral(0, None), "a non-negative integer seed, e.g. 0"],
    "target_scaling": [Options(*SCALINGS)],
    "input_scaling": [Options(*SCALINGS)],
}


@dataclasses.dataclass(frozen=True)
class CNNConfig:
    """Architecture and training hyper-parameters of :func:`fit_cnn`.

    The default (two conv blocks of 8 and 16 channels, 128 hidden units, about 0.14 M parameters for
    R = 200, F = 300) trains in well under a minute on two CPU cores for K ≈ 200 (XLA's CPU
    convolutions dominate the cost: doubling the channels to (16, 32) makes an epoch ~3.5x slower).
    """

    channels: tuple[int, ...] = (8, 16)
    kernel_sizes: tuple[int, ...] = (7, 5)
    pool: int = 2
    hidden: int = 128
    learning_rate: float = 2e-3
    max_epochs: int = 300
    patience: int | None = 40
    batch_size: int | None = 32
    weight_decay: float = 1e-4
    final_lr_fraction: float = 1e-2
    val_fraction: float = 0.1
    seed: int = 0
    standardize: bool = True
    target_scaling: str = "pooled"
    input_scaling: str = "pooled"

    def __post_init__(self):
        for name, constraints in CNN_CONSTRAINTS.items():  # before any conversion: NaN, strings ...
            check(name, getattr(self, name), *constraints)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "kernel_sizes", tuple(int(k) for k in self.kernel_sizes))
        if len(self.channels) != len(self.kernel_sizes):
            raise UserError(
                f"kernel_sizes: {self.kernel_sizes} must have one entry per entry of channels "
                f"{self.channels}", field="kernel_sizes"
            )

    __parameter_constraints__ = CNN_CONSTRAINTS  # for validation.check_args (a command's early check)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CNNConfig:
        return cls(**json.loads(text))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CNNModel:
    """Trained CNN: Flax ``params`` plus the scalers; ``feature_shape`` is ``(C, R)``."""

    params: Any
    x_scaler: Standardizer
    y_scaler: Standardizer
    config: CNNConfig = dataclasses.field(metadata=dict(static=True))
    feature_shape: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))
    n_outputs: int = dataclasses.field(metadata=dict(static=True))


@functools.cache
def _module_class():
    import flax.linen as nn

    class SpectrumCNN(nn.Module):
        channels: tuple[int, ...]
        kernel_sizes: tuple[int, ...]
        pool: int
        hidden: int
        n_out: int

        @nn.compact
        def __call__(self, x):  # x: (B, R, C), channels last
            for c, k in zip(self.channels, self.kernel_sizes):
                x = nn.gelu(nn.Conv(c, (k,), padding="SAME", dtype=_DTYPE)(x))
                if self.pool > 1:
                    x = nn.avg_pool(x, (self.pool,), strides=(self.pool,))
            x = x.reshape(x.shape[0], -1)
            x = nn.gelu(nn.Dense(self.hidden, dtype=_DTYPE)(x))
            return nn.Dense(self.n_out, dtype=_DTYPE)(x)

    return SpectrumCNN


def _module(config: CNNConfig, feature_shape: tuple[int, ...], n_out: int):
    R = feature_shape[-1]
    if R // config.pool ** len(config.channels) < 1:
        raise UserError(
            f"CNNConfig: {len(config.channels)} pooling layers of size {config.pool} do not fit R = {R}"
        )
    return _module_class()(config.channels, config.kernel_sizes, config.pool, config.hidden, n_out)


def _param_template(net, feature_shape: tuple[int, ...]):
    dummy = jnp.zeros((1, feature_shape[1], feature_shape[0]), _DTYPE)
    return jax.eval_shape(net.init, jax.random.PRNGKey(0), dummy)["params"]


def _init_params(net, feature_shape: tuple[int, ...], seed: int):
    """Kernels ~ N(0, 1/fan_in) and zero biases, drawn with numpy from ``seed``.

    Same variance as Flax's default ``lecun_normal`` (a plain instead of a truncated normal), but
    without compiling Flax's initialisers, which costs several CPU seconds per architecture (more
    than compiling the training step itself).
    """
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = str(getattr(path[-1], "key", path[-1]))
        if name == "kernel":
            fan_in = int(np.prod(leaf.shape[:-1]))
            return jnp.asarray(rng.normal(0.0, 1.0 / np.sqrt(fan_in), leaf.shape), _DTYPE)
        return jnp.zeros(leaf.shape, _DTYPE)

    return jax.tree_util.tree_map_with_path(draw, _param_template(net, feature_shape))


def _as_channels(X, feature_shape: tuple[int, ...] | None = None, what: str = "X"):
    """(K, R) → (K, 1, R); (K, C, R) kept; returns float32 array and feature_shape ``(C, R)``."""
    X = jnp.asarray(X, _DTYPE)
    if feature_shape is None:
        if X.ndim == 2:
            X = X[:, None, :]
        if X.ndim != 3:
            raise UserError(f"{what}: expected (K, R) or (K, C, R), got shape {X.shape}")
        return X, tuple(int(s) for s in X.shape[1:])
    if X.ndim == 2 and feature_shape[0] == 1:
        X = X[:, None, :]
    if tuple(X.shape[1:]) != tuple(feature_shape):
        raise UserError(f"{what}: expected samples of shape {tuple(feature_shape)}, got {X.shape}")
    return X, feature_shape


def _nlc(X):
    """(K, C, R) → (K, R, C) for linen's channels-last convolutions."""
    return jnp.swapaxes(X, 1, 2)


def _apply(model: CNNModel, Xs):
    net = _module(model.config, model.feature_shape, model.n_outputs)
    return net.apply({"params": model.params}, _nlc(Xs))


@jax.jit
def _predict(model: CNNModel, X):
    Z = _apply(model, model.x_scaler.transform(X))
    return model.y_scaler.inverse_transform(Z)


def predict_cnn(model: CNNModel, X) -> jax.Array:
    """Predictions in data units, ``(K, F)``; ``X`` is ``(K, R)``/``(K, C, R)``, or one sample → ``(F,)``."""
    X = jnp.asarray(X, _DTYPE)
    fs = model.feature_shape
    single = tuple(X.shape) == tuple(fs) or (fs[0] == 1 and tuple(X.shape) == fs[1:])
    if single:
        X = X.reshape((1, *fs))
    Xc, _ = _as_channels(X, fs)
    Y = _predict(model, Xc)
    return Y[0] if single else Y


@functools.lru_cache(maxsize=16)
def _cnn_trainer(config: CNNConfig, feature_shape: tuple[int, ...], n_out: int, n_train: int, has_val: bool):
    import optax

    net = _module(config, feature_shape, n_out)
    bs, nb = batches(n_train, config.batch_size)
    sched = optax.cosine_decay_schedule(config.learning_rate, config.max_epochs * nb,
                                        alpha=config.final_lr_fraction)
    tx = optax.adamw(sched, weight_decay=config.weight_decay)

    def loss_fn(params, xb, yb, wb):
        r = net.apply({"params": params}, _nlc(xb)) - yb
        return jnp.sum(wb[:, None] * r * r) / (jnp.sum(wb) * r.shape[1])

    def step(params, opt_state, xb, yb, wb, t, hyper):
        loss, g = jax.value_and_grad(loss_fn)(params, xb, yb, wb)
        upd, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, upd), opt_state, loss

    def val_loss(params, Xv, Yv):
        r = net.apply({"params": params}, _nlc(Xv)) - Yv
        return jnp.mean(r * r)

    @jax.jit
    def train(params, Xs, Ys, Xvs, Yvs, key):
        return train_loop(step, val_loss, params, tx.init(params), Xs, Ys, Xvs, Yvs, key, (),
                           batch_size=bs, n_batches=nb, max_epochs=config.max_epochs,
                           patience=config.patience if has_val else None, has_val=has_val)

    return train


def fit_cnn(X, Y, config: CNNConfig | None = None, X_val=None, Y_val=None, *, return_history: bool = False):
    """Train the CNN on ``X`` ``(K, R)`` or ``(K, C, R)`` → ``Y`` ``(K, F)``.

    Validation as in :func:`jaxglass.models.linear.fit_linear`: ``X_val``/``Y_val`` if given, else a
    seeded ``val_fraction`` split when ``patience`` is set. With ``return_history`` also returns a dict
    ``n_epochs, best_epoch, train_mse, val_mse`` (standardised units).
    """
    config = config or CNNConfig()
    Xc, fshape = _as_channels(X)
    Yf = jnp.asarray(Y, _DTYPE)
    if Yf.ndim != 2 or Yf.shape[0] != Xc.shape[0]:
        raise UserError(f"Y: expected shape ({Xc.shape[0]}, F), got {Yf.shape}")
    if X_val is not None:
        if Y_val is None:
            raise UserError("fit_cnn: X_val given without Y_val")
        Xv, _ = _as_channels(X_val, fshape, "X_val")
        Yv = jnp.asarray(Y_val, _DTYPE)
        if Yv.shape != (Xv.shape[0], Yf.shape[1]):
            raise UserError(f"Y_val: expected shape ({Xv.shape[0]}, {Yf.shape[1]}), got {Yv.shape}")
    elif config.patience is not None:
        tr, va = split_validation(Xc.shape[0], config.val_fraction, config.seed)
        Xc, Yf, Xv, Yv = Xc[tr], Yf[tr], Xc[va], Yf[va]
    else:
        Xv = Yv = None
    has_val = Xv is not None
    xs, _ = scalers(Xc, Yf, config.standardize, config.input_scaling)
    _, ys = scalers(Xc, Yf, config.standardize, config.target_scaling)
    Xs, Ys = xs.transform(Xc), ys.transform(Yf)
    Xvs = xs.transform(Xv) if has_val else Xs[:1]
    Yvs = ys.transform(Yv) if has_val else Ys[:1]
    n_out = int(Yf.shape[1])
    train = _cnn_trainer(config, fshape, n_out, int(Xs.shape[0]), has_val)
    params0 = _init_params(_module(config, fshape, n_out), fshape, config.seed)
    params, n_ep, best_ep, th, vh = train(params0, Xs, Ys, Xvs, Yvs, jax.random.PRNGKey(config.seed))
    model = CNNModel(params, xs, ys, config, fshape, n_out)
    if return_history:
        return model, history(n_ep, best_ep, th, vh, has_val)
    return model


_CNN_KEYS = ("params", "config", "x_mean", "x_scale", "y_mean", "y_scale", "feature_shape", "n_outputs")


def save_cnn(model: CNNModel, path, metadata: dict[str, Any] | None = None) -> None:
    """Save to npz (atomic): Flax-serialised parameters as bytes, config and ``metadata`` as JSON,
    scalers as arrays."""
    from flax import serialization

    blob = serialization.to_bytes(jax.device_get(model.params))
    atomic_savez(path, dict(
        format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
        params=np.frombuffer(blob, np.uint8), config=np.array(model.config.to_json()),
        **scaler_arrays("x", model.x_scaler), **scaler_arrays("y", model.y_scaler),
        feature_shape=np.asarray(model.feature_shape, np.int64), n_outputs=np.array(model.n_outputs),
        metadata=np.array(json.dumps(metadata or {})),
    ))


def load_cnn(path, *, with_metadata: bool = False):
    """Load a model written by :func:`save_cnn` (and its metadata dict if ``with_metadata``); a corrupt
    or foreign file raises ``ValueError``."""
    from flax import serialization

    d = read_npz(path, FORMAT, _CNN_KEYS)
    try:
        config = CNNConfig.from_json(str(d["config"]))
        fshape = tuple(int(s) for s in d["feature_shape"])
        n_out = int(d["n_outputs"])
        net = _module(config, fshape, n_out)
        template = _param_template(net, fshape)
        params = serialization.from_bytes(template, d["params"].tobytes())
        params = jax.tree.map(lambda t, a: jnp.asarray(a, _DTYPE).reshape(t.shape), template, params)
    except Exception as err:
        raise UserError(f"{path}: corrupt {FORMAT} file ({type(err).__name__}: {err})") from err
    xs, ys = scaler_from(d, "x", _DTYPE), scaler_from(d, "y", _DTYPE)
    model = CNNModel(params, xs, ys, config, fshape, n_out)
    if with_metadata:
        return model, file_metadata(d, path, FORMAT)
    return model
