"""``layerscope serve``: a local explorer in the browser, on Starlette + uvicorn (extra ``layerscope[serve]``).

Pick or upload an image or a video, choose a layer, browse its channels with the report's viewer,
see predictions and diagnostics, or stream the camera live. The model is fixed when the server
starts; uploads stay in memory. Bound to 127.0.0.1 unless told otherwise (with a warning).

>>> import torch.nn as nn
>>> app = create_app(Explorer(nn.Sequential(nn.Conv2d(3, 2, 3)), samples=False))
>>> sorted(route.path for route in app.routes)
['/', '/api/analyze', '/api/animation', '/api/health', '/api/live', '/api/sample/{index:int}', '/api/upload']
"""

from .app import create_app
from .explorer import Explorer
from .options import ServeOptions
from .run import LOOPBACK, serve, self_test
from .uploads import DEFAULT_LIMITS, Limits, TooLargeError

__all__ = ["serve", "self_test", "create_app", "Explorer", "ServeOptions", "Limits", "DEFAULT_LIMITS", "TooLargeError",
           "LOOPBACK"]
