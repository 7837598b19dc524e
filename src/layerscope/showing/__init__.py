"""``layerscope.show`` and ``layerscope.show_video``: channel grids and views of chosen layers, as PNG files + an index.

:mod:`.api` runs it (:func:`~layerscope.showing.api.show`), :mod:`.batch` renders one batch,
:mod:`.video` does the same for every frame of a video.
"""

from .api import ShowResult, show

__all__ = ["show", "ShowResult"]
