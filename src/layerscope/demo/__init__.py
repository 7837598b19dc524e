"""``layerscope demo``: the offline first look (:func:`~layerscope.demo.run.run_demo`) and its page."""
