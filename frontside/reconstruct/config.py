"""`ReconstructConfig`: what `frontside reconstruct` takes (torch-free, so its checks answer at once)."""

from __future__ import annotations

from dataclasses import dataclass, field

from frontside.configs import cli

DETECTORS = ("auto", "blazeface", "locator", "haar", "dlib-hog", "dlib-cnn")
MESH_SUFFIXES = ("obj", "ply", "glb")


@dataclass
class ReconstructConfig:
    """Photos of one face (or a folder of pairs) and a checkpoint, in; a mesh, face.json and a preview, out."""

    checkpoint: str = field(metadata=cli("a trained network's best.pt or last.pt, or a shipped one: "
                                               "shipped:multiview; A.pt+B.pt: an ensemble (the mean of their "
                                               "answers)", metavar="CKPT"))
    front: str | None = field(default=None, metadata=cli("front photo", metavar="PHOTO"))
    side: list[str] = field(default_factory=list, metadata=cli(
        "side photo (needed by two-view networks); a multi-view network takes any number (--side L --side R)",
        metavar="PHOTO"))
    pairs: str | None = field(default=None, metadata=cli(
        "a folder of pairs, front/NAME.jpg and side/NAME.jpg; --out is then a folder (NAME/face.*)", metavar="DIR"))
    out: str | None = field(default=None, metadata=cli(
        "face.obj, face.ply or face.glb (face.json goes beside it); with --pairs a folder (default: face.obj, or "
        "reconstructions with --pairs)", metavar="PATH"))
    format: str = field(default="obj", metadata=cli("mesh format in --pairs mode", choices=MESH_SUFFIXES))
    iterations: int = field(default=2, metadata=cli(
        "predictions per photo; each after the first crops by the previous one's landmarks"))
    detector: str = field(default="auto", metadata=cli(
        "auto: BlazeFace, MTCNN's O-Net confirming unsure boxes, frontside's locator (checked by O-Net) where no "
        "real face is found; blazeface alone; locator (frontside's, trained on renders); haar (OpenCV); dlib-hog "
        "(extra [dlib]); dlib-cnn (extra [dlib-cnn])", choices=DETECTORS))
    detect: bool = field(default=True, metadata=cli("photos are already face crops (scaled to the network)",
                                                    flag="--no-detect"))
    preview: str | None = field(default=None, metadata=cli(
        "a PNG: photos with boxes and landmarks, the mesh from three angles (with --pairs: a name written in each "
        "pair's folder)", metavar="PNG"))
    uv_regions: str | None = field(default=None, metadata=cli(
        "a dataset's uv_regions.png: the face mask of the mesh", metavar="PNG"))
