"""Linear probes per layer: how well a property is linearly decodable from each layer's pooled
activations, and each channel's class selectivity."""
