"""layerscope: a feature-map microscope for PyTorch."""
__version__ = "0.1.0"

# --- io exports (IO helper; lead finalizes) ---
from .io import LoadedImage, LoadedModel, Preprocessing, find_images, load_image, load_images, load_model  # noqa: E402
# --- end io exports ---

# --- render-core exports (RENDER-CORE helper; lead finalizes) ---
from .render import ChannelGrid, channel_grid, render_grid, save_png, shared_range  # noqa: E402
from .show import ShowResult, show  # noqa: E402  (binds layerscope.show to the function)
# --- end render-core exports ---

# --- zoo exports (ZOO helper; lead finalizes) ---
from . import zoo  # noqa: E402,F401  (layerscope.zoo.build_builtin, sample_inputs, ...)
# --- end zoo exports ---

# --- diagnose exports (DIAGNOSE helper; lead finalizes) ---
from .diagnose import Diagnosis, Thresholds  # noqa: E402
from .diagnose import diagnose  # noqa: E402  (binds layerscope.diagnose to the function)
# --- end diagnose exports ---
