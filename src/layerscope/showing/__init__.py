"""``layerscope.show`` (and :func:`~layerscope.showing.video.show_video` for videos): channel grids and views of
chosen layers, as PNG files + an index.

:mod:`.api` runs it over the spine (:func:`~layerscope.showing.api.show`: a
:class:`~layerscope.run.Subject`, one :class:`~layerscope.run.Run`, one
:class:`~layerscope.core.outputs.OutputFolder`), :mod:`.options` holds :class:`ShowOptions`,
:mod:`.batch` renders one step with the views of :data:`layerscope.render.views.VIEWS`,
:mod:`.video` does the same for every frame of a video.
"""

from .api import ShowResult, show
from .options import ShowOptions

__all__ = ["show", "ShowResult", "ShowOptions"]
