"""Dictionary features: sparse dictionaries (TopK / BatchTopK sparse autoencoders) learned on a layer's
stored activations, whose latents every verb reads like channels."""
