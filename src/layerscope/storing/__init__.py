"""The activation store: chosen layers' activations over a dataset, written to sharded safetensors files
with an index (``dump``), read back without loading it all (``load_activations``)."""
