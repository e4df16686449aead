"""A stand-in for FaceGen's `fg3` that writes what fg3 writes, from a known model and camera.

Environment: FAKE_FG3_MODEL (a BFM-layout .mat whose UVs sit beside it: plays both the SAM and the integrated
SSM), FAKE_FG3_LAYOUT = a | b | c (camera XML layout), FAKE_FG3_VECTOR = count | elems (vector style),
FAKE_FG3_HCS = 1 (a non-identity rotateToHcs in the pose file), FAKE_FG3_FAIL = <subcommand> (exit 1 with a
message on stderr), FAKE_FG3_SLEEP = seconds (for time-outs), FAKE_FG3_NO_OUTPUT = <subcommand> (exit 0 but
write nothing). The .tri file is a documented stand-in: "FRTRI003", uint32 N, then N x 3 float32 vertices.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from frontside.facemodel.bfm import load_bfm
from frontside.geometry import transforms
from frontside.geometry.mesh_io import write_obj
from frontside.geometry.raster import rasterize_values
from frontside.renderers.facegen import xml
from frontside.renderers.facegen.settings import facegen_rotation, read_render_settings


def _model():
    return load_bfm(os.environ["FAKE_FG3_MODEL"])


def _write_tri(path: Path, vertices: np.ndarray) -> None:
    path.write_bytes(b"FRTRI003" + struct.pack("<I", len(vertices)) + vertices.astype("<f4").tobytes())


def _read_tri(path: Path) -> np.ndarray:
    data = path.read_bytes()
    (n,) = struct.unpack("<I", data[8:12])
    return np.frombuffer(data[12:12 + 12 * n], "<f4").reshape(n, 3)


def hcs_rotation() -> np.ndarray:
    return transforms.rotation_matrix(0, 0, 90) if os.environ.get("FAKE_FG3_HCS") == "1" else np.eye(3)


def true_camera(vertices: np.ndarray, settings: Path):
    """What FgCmdRender does, simplified: pose about the bounds' centre, framing from relScale and fovMaxDeg."""
    pose, size, _ = read_render_settings(settings)
    hcs = hcs_rotation()
    posed = vertices @ hcs.T
    centre = (posed.min(axis=0) + posed.max(axis=0)) / 2
    extent = float(np.max(posed.max(axis=0) - posed.min(axis=0)))
    half_view = extent / 2 / pose.rel_scale
    tan = np.tan(np.deg2rad(pose.fov_max_deg) / 2)
    distance = half_view / tan
    rotation = facegen_rotation(pose)
    shift = np.array([pose.rel_trans[0], pose.rel_trans[1]]) * extent / 2
    modelview = transforms.wcs_to_ecs(1.0, rotation, -rotation @ centre + [shift[0], shift[1], -distance])
    near, far = distance - extent, distance + extent
    planes = (-near * tan, near * tan, -near * tan, near * tan, near, far)
    return modelview, planes, hcs, size


def _quaternion(rotation: np.ndarray) -> tuple[float, list[float]]:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return float(w), [float(x), float(y), float(z)]


def write_camera(name: str, modelview, planes, hcs, size, layout: str, style: str) -> np.ndarray:
    """Write <name>_cam.xml and <name>_pose.xml; return the true world -> VCS matrix."""
    top, root = xml.new_document("camera")
    mv = xml.sub(root, "modelview")
    if layout == "b":  # FaceGen's Frustum: Direct3D view space, the camera looks down +z
        flip = np.diag([1.0, 1.0, -1.0, 1.0])
        m = flip @ modelview
        xml.sub_vector(mv, "linear", list(m[:3, :3].ravel()), style)
        xml.sub_vector(mv, "translation", list(m[:3, 3]), style)
        fr = xml.sub(root, "frustum")
        xml.sub(fr, "nearHalfWidth", planes[1])
        xml.sub(fr, "nearHalfHeight", planes[3])
        xml.sub(fr, "nearDist", planes[4])
        xml.sub(fr, "farDist", planes[5])
        projection = transforms.frustum(*planes, convention="lefthanded") @ flip
    else:
        if layout == "a":
            xml.sub_vector(mv, "linear", list(modelview[:3, :3].ravel()), style)
            xml.sub_vector(mv, "translation", list(modelview[:3, 3]), style)
        else:
            xml.sub(mv, "scale", 1.0)
            rot = xml.sub(mv, "rot")
            real, imag = _quaternion(modelview[:3, :3])
            xml.sub(rot, "real", real)
            xml.sub_vector(rot, "imag", imag, style)
            xml.sub_vector(mv, "trans", list(modelview[:3, 3]), style)
        xml.sub_vector(root, "frustum", list(planes), style)
        projection = transforms.frustum(*planes)
    xml.sub_vector(root, "imagePixelSize", [size, size], style)
    xml.save(top, f"{name}_cam.xml")
    top, root = xml.new_document("pose")
    hcs_el = xml.sub(root, "rotateToHcs")
    real, imag = _quaternion(hcs)
    xml.sub(hcs_el, "real", real)
    xml.sub_vector(hcs_el, "imag", imag, style)
    xml.save(top, f"{name}_pose.xml")
    to_hcs = np.eye(4)
    to_hcs[:3, :3] = hcs
    return transforms.compose(transforms.viewport(size, size), projection, modelview, to_hcs)


def render(name: str) -> None:
    settings = Path(f"{name}.xml")
    _, size, tri = read_render_settings(settings)
    vertices = _read_tri(Path(tri))
    modelview, planes, hcs, size = true_camera(vertices, settings)
    layout = os.environ.get("FAKE_FG3_LAYOUT", "a")
    world_to_vcs = write_camera(name, modelview, planes, hcs, size, layout, os.environ.get("FAKE_FG3_VECTOR", "count"))
    to_hcs = np.eye(4)
    to_hcs[:3, :3] = hcs
    image_vertices = transforms.image_frame_vertices(vertices, modelview @ to_hcs, transforms.frustum(*planes),
                                                     transforms.viewport(size, size))
    model = _model()
    shade = np.clip(0.4 + 0.6 * (image_vertices[:, 2] - image_vertices[:, 2].min()) /
                    max(np.ptp(image_vertices[:, 2]), 1e-6), 0, 1)[:, None] * [220, 180, 160]
    colour, covered = rasterize_values(image_vertices[:, :2], image_vertices[:, 2], model.triangles, shade, size, size)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = np.clip(colour, 0, 255).astype(np.uint8)
    rgba[..., 3] = covered * 255
    Image.fromarray(rgba).save(f"{name}.png")
    np.save(f"{name}_truth.npy", world_to_vcs)


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "-s"] if argv and argv[0] == "-s" else list(argv)
    command = args[0] if args else ""
    if os.environ.get("FAKE_FG3_SLEEP"):
        time.sleep(float(os.environ["FAKE_FG3_SLEEP"]))
    if os.environ.get("FAKE_FG3_FAIL") == command:
        print(f"fake fg3: {command}: licence file not found", file=sys.stderr)
        return 1
    if os.environ.get("FAKE_FG3_NO_OUTPUT") == command:
        return 0
    if command == "random":  # random run <settings> <label> <n>
        root = xml.load(f"{args[2]}.xml")
        seed = int(xml.number(root, "seed", f"{args[2]}.xml"))
        Path(f"{args[3]}_0000.fg").write_bytes(b"FRFG0001" + struct.pack("<q", seed))
    elif command == "construct":  # construct <sam> <face>.fg <out>
        seed = struct.unpack("<q", Path(args[2]).read_bytes()[8:16])[0]
        model = _model()
        vertices = model.vertices(model.sample(np.random.default_rng(seed)))
        _write_tri(Path(f"{args[3]}.tri"), vertices)
        Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(f"{args[3]}.jpg")
    elif command == "triexport":  # triexport <out>.obj <in>.tri
        model = _model()
        write_obj(args[1], _read_tri(Path(args[2])), model.triangles, uv=model.uv)
    elif command == "render":  # render <name> -s <name>
        render(args[1])
    else:
        print(f"fake fg3: unknown command {argv}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
