"""The FaceGen SDK driver: runs `fg3` as the thesis's listing 4.1 does, per face and per view.

    fg3 random run _random_settings base 1          -> base_0000.fg        (a random face)
    fg3 construct <SAM> base_0000.fg base_mesh      -> base_mesh.tri/.jpg  (the render mesh)
    fg3 -s construct <BFM SSM> base_0000.fg bfm     -> bfm.tri             (the face in the user's BFM topology)
    fg3 -s triexport bfm.obj bfm.tri                -> bfm.obj             (read back as the label mesh)
    fg3 render <view> -s <view>                     -> <view>.png, <view>_cam.xml, <view>_pose.xml
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from frontside.errors import ExternalToolError, InputFormatError
from frontside.facemodel.model import FaceMesh, MorphableModel
from frontside.geometry.mesh_io import read_obj
from frontside.renderers.facegen.camera import CameraMatrices, parse_camera_xml
from frontside.renderers.facegen.settings import facegen_pose, write_random_settings, write_render_settings
from frontside.renderers.view import Pose, RenderedView


@dataclass(frozen=True)
class FaceGenConfig:
    """Where fg3 and its models are. `topology` is the model spec (e.g. "bfm:/models/BFM.mat") whose mesh layout
    the user's integrated SSM (`bfm_ssm`) produces: it supplies the UVs, the 68 landmarks and the regions."""

    fg3: str = "fg3"
    sam: str = "Head/Headhires"
    bfm_ssm: str = "BFM/BFM"
    topology: str = "builtin"
    workdir: str | None = None
    timeout: float = 300.0
    fov_max_deg: float = 17.0

    @classmethod
    def from_environment(cls) -> FaceGenConfig:
        """FRONTSIDE_FG3, FRONTSIDE_FACEGEN_SAM, FRONTSIDE_FACEGEN_SSM, FRONTSIDE_FACEGEN_TOPOLOGY, FRONTSIDE_FACEGEN_WORKDIR."""
        env = os.environ
        return cls(fg3=env.get("FRONTSIDE_FG3", "fg3"), sam=env.get("FRONTSIDE_FACEGEN_SAM", cls.sam),
                   bfm_ssm=env.get("FRONTSIDE_FACEGEN_SSM", cls.bfm_ssm),
                   topology=env.get("FRONTSIDE_FACEGEN_TOPOLOGY", cls.topology),
                   workdir=env.get("FRONTSIDE_FACEGEN_WORKDIR"))


def run_fg3(config: FaceGenConfig, args: list[str], cwd: str | os.PathLike,
            expect: list[str] = ()) -> subprocess.CompletedProcess:
    """Run fg3 with `args` in `cwd`; check the exit code and that every file in `expect` was written."""
    executable = shutil.which(config.fg3)
    if executable is None:
        raise ExternalToolError(f"fg3 not found: {config.fg3!r} is not on PATH (install the FaceGen SDK or set "
                                f"FRONTSIDE_FG3)")
    command = " ".join(["fg3", *args])
    try:
        done = subprocess.run([executable, *args], cwd=cwd, capture_output=True, text=True, timeout=config.timeout)
    except subprocess.TimeoutExpired as exc:
        raise ExternalToolError(f"`{command}` timed out after {config.timeout:g} s; stderr: "
                                f"{(exc.stderr or b'')[-2000:]!r}") from None
    if done.returncode != 0:
        raise ExternalToolError(f"`{command}` exited with {done.returncode}; stderr: {done.stderr.strip()[-2000:]}")
    for name in expect:
        if not (Path(cwd) / name).exists():
            raise ExternalToolError(f"`{command}` exited 0 but did not write {name}; stderr: {done.stderr.strip()[-2000:]}")
    return done


def _check_in_front(camera: CameraMatrices, vertices: np.ndarray, cam_path: Path) -> None:
    """Fail loudly when the parsed camera puts any of the face's vertices (N, 3) behind it: fg3 frames the whole
    model inside its frustum, so this only happens when the camera file's layout was misread, and the projected
    labels would then be mirrored through the image centre without any other error."""
    behind = int(np.count_nonzero(camera.clip_w(vertices) <= 0))
    if behind:
        raise InputFormatError(cam_path, "modelview", f"{behind} of {len(vertices)} face vertices lie behind the "
                               f"camera (layout {camera.layout}): the modelview should map the face to z < 0 "
                               "in OpenGL's eye frame")


class FaceGenSource:
    """Random FaceGen faces, each with its render mesh and its mesh in the user's BFM topology."""

    kind = "facegen"

    def __init__(self, config: FaceGenConfig, topology: MorphableModel | None = None):
        self.config = config
        self._topology = topology
        self.root = Path(config.workdir or tempfile.mkdtemp(prefix="frontside-facegen-"))

    @property
    def topology(self) -> MorphableModel:
        if self._topology is None:
            from frontside.facemodel import load_model

            self._topology = load_model(self.config.topology)
        return self._topology

    def face(self, rng: np.random.Generator, face_id: str) -> FaceMesh:
        folder = self.root / face_id
        folder.mkdir(parents=True, exist_ok=True)
        cfg = self.config
        write_random_settings(folder / "_random_settings.xml", int(rng.integers(2 ** 31)))
        run_fg3(cfg, ["random", "run", "_random_settings", "base", "1"], folder, expect=["base_0000.fg"])
        run_fg3(cfg, ["construct", cfg.sam, "base_0000.fg", "base_mesh"], folder, expect=["base_mesh.tri"])
        run_fg3(cfg, ["-s", "construct", cfg.bfm_ssm, "base_0000.fg", "bfm"], folder, expect=["bfm.tri"])
        run_fg3(cfg, ["-s", "triexport", "bfm.obj", "bfm.tri"], folder, expect=["bfm.obj"])
        vertices, triangles, uv = read_obj(folder / "bfm.obj")
        model = self.topology
        if len(vertices) != model.n_vertices:
            raise InputFormatError(folder / "bfm.obj", "v", f"{len(vertices)} vertices, but the topology model "
                                   f"{model.name!r} has {model.n_vertices}: is {cfg.bfm_ssm} integrated from it?")
        return FaceMesh(vertices=vertices, triangles=triangles, uv=uv if uv is not None else model.uv,
                        landmarks=model.landmarks, colours=None, regions=model.regions, face_id=face_id,
                        model=f"facegen:{cfg.sam}", handle=str(folder))


@dataclass
class FaceGenRenderer:
    """Renders a `FaceGenSource` face with `fg3 render`, and places its BFM-topology mesh in the image by the
    camera FaceGen saved."""

    config: FaceGenConfig
    name: str = "facegen"

    def render(self, face: FaceMesh, pose: Pose, size: int, rng: np.random.Generator) -> RenderedView:
        if face.handle is None:
            raise ValueError("FaceGenRenderer renders faces made by FaceGenSource (face.handle is None)")
        folder = Path(str(face.handle))
        view = "front" if abs(pose.yaw) <= 45 else ("right" if pose.yaw > 0 else "left")
        write_render_settings(folder / f"{view}.xml", facegen_pose(pose, self.config.fov_max_deg), size,
                              "base_mesh.tri", "base_mesh.jpg", rng)
        run_fg3(self.config, ["render", view, "-s", view], folder,
                expect=[f"{view}.png", f"{view}_cam.xml"])
        with Image.open(folder / f"{view}.png") as im:
            image = np.asarray(im.convert("RGBA"))
        pose_file = folder / f"{view}_pose.xml"
        camera = parse_camera_xml(folder / f"{view}_cam.xml", pose_file if pose_file.exists() else None,
                                  image_size=(size, size))
        _check_in_front(camera, face.vertices, folder / f"{view}_cam.xml")
        if image.shape[:2] != (camera.image_size[1], camera.image_size[0]):
            raise InputFormatError(folder / f"{view}.png", "size", f"{image.shape[1]}x{image.shape[0]}, camera says "
                                   f"{camera.image_size[0]}x{camera.image_size[1]}")
        return RenderedView(image=image, vertices=camera.image_vertices(face.vertices),
                            world_to_vcs=camera.world_to_vcs, pose=pose, renderer=self.name)
