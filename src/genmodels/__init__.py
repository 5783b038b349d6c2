"""genmodels: chains, maps and diffusion side by side.

The statistician's chains (`genmodels.mcmc`), the ML maps (`genmodels.models`) and the
score-based/diffusion models where they meet (`genmodels.diffusion`) all run on the same
targets (`genmodels.targets`) and are scored by the same metrics (`genmodels.metrics`).
"""

# The packages that define the built-in methods register them in `genmodels.catalogue` when
# imported; importing them here makes the catalogue complete whatever a caller imports first.
import genmodels.density
import genmodels.diffusion
import genmodels.hybrids
import genmodels.mcmc
import genmodels.models  # noqa: F401
from genmodels.errors import GenmodelsError
from genmodels.samples import Samples, load_samples

__all__ = ["GenmodelsError", "Samples", "load_samples"]
__version__ = "0.1.0"
