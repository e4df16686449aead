"""Morphable face models: the record, the built-in model and the BFM loader."""

from frontside.facemodel.model import (
    REGION_WEIGHTS,
    Coefficients,
    FaceMesh,
    MorphableModel,
    Region,
)

__all__ = ["REGION_WEIGHTS", "Coefficients", "FaceMesh", "MorphableModel", "Region"]
