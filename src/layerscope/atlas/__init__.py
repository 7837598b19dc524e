"""The dataset atlas: a 2-D layout of a layer's activation vectors over a dataset, binned into cells
that show their top receptive-field crops."""
