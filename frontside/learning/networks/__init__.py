"""The networks: the registry of architectures and their recipes (torch-free), the structured default
(`structured`, `encoders`) and the thesis's table-4.1 networks with PRN's baseline (`thesis`)."""
