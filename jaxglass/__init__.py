"""jaxglass: differentiable vibrational spectra and structure-property models for glasses.

Float64 is switched on by the entry points that need it (Hessians, eigenproblems, minimisers)
via :func:`jaxglass.enable_x64`, never as a side effect of importing the package.
"""

from ._config import enable_x64, require_x64
from .errors import Float64Required, UserError
from .structure import Structure, make_structure, replicate

__version__ = "0.1.0"
__all__ = [
    "Float64Required",
    "Structure",
    "UserError",
    "enable_x64",
    "make_structure",
    "replicate",
    "require_x64",
    "__version__",
]
