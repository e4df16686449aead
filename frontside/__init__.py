"""frontside: synthetic front/side face pairs and a network that rebuilds a 3D face from them."""

__version__ = "0.1.0"
