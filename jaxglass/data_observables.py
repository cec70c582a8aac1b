"""Old home of :mod:`jaxglass.data.observables`, kept only for ``jaxglass.cli``; removed when the CLI
imports ``default_observable_config`` and ``extend_dataset`` from :mod:`jaxglass.data`."""

from .data.observables import default_observable_config, extend_dataset  # noqa: F401
