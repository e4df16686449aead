"""`EvaluateConfig`: what `frontside evaluate` and the evaluation flow take (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field

from frontside.configs import cli


@dataclass
class EvaluateConfig:
    """Checkpoints scored on one test set: synthetic shards or a MICC Florence tree (beside the mean face), or
    AFLW2000-3D's photos (through the reconstruct pipeline)."""

    checkpoints: list[str] = field(metadata=cli(
        "a best.pt/last.pt to evaluate (or a shipped network: shipped:multiview, shipped:multiview-front); "
        "A.pt+B.pt: an ensemble of networks of one design (the mean of their answers)",
        flag="--checkpoint", metavar="CKPT"))
    out: str = field(metadata=cli("report folder: report.md, report.json, ced.png, meshes.png", metavar="DIR"))
    data: list[str] = field(default_factory=list, metadata=cli("held-out shard folder", metavar="DIR"))
    florence: str | None = field(default=None, metadata=cli(
        "MICC Florence root (subject_XX/Model/frontal1/obj/*.obj), instead of --data", metavar="ROOT"))
    aflw2000: str | None = field(default=None, metadata=cli(
        "AFLW2000-3D root (imageNNNNN.jpg beside imageNNNNN.mat), instead of --data: one-view networks, PRN's "
        "protocol (68-point NME 2D and 3D by yaw bin)", metavar="ROOT"))
    model: str | None = field(default=None, metadata=cli(
        "with --aflw2000: the BFM its fits were made with (bfm:/path/BFM.mat[,uv=...]), for the dense NME",
        metavar="SPEC"))
    max_faces: int | None = field(default=None, metadata=cli("score only the first N faces"))
