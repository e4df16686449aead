"""The choices a network spec offers, in one place (torch-free): the registry, the networks and the training
configuration all check against these."""

FUSIONS = ("stack", "siamese", "dual")  # structured two-view: how the views meet (`structured.StructuredNet`)
DECODER_NORMS = ("none", "batch")  # thesis/PRN decoders: the thesis's, or PRN's batch norm after every transposed convolution
