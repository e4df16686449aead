"""A stand-in for FaceGen's `fg3` that writes what fg3 writes, from a known model and camera.

Run it through the `fg3` script beside it (put this folder on PATH, or point FRONTSIDE_FG3 at the script).
Environment: FAKE_FG3_MODEL (a BFM-layout .mat whose UVs sit beside it: plays both the SAM and the integrated
SSM), FAKE_FG3_LAYOUT = a | b | c | c6 (camera XML layout: a = affine + six-value frustum, b = affine + `Frustum`
half sizes, c = similarity + `Frustum` half sizes, c6 = similarity + six values), FAKE_FG3_VECTOR = count | elems
(vector style), FAKE_FG3_HCS = 1 (a non-identity rotateToHcs in the pose file), FAKE_FG3_FAIL = <subcommand> (exit 1
with a message on stderr), FAKE_FG3_SLEEP = seconds (for time-outs), FAKE_FG3_NO_OUTPUT = <subcommand> (exit 0 but
write nothing), FAKE_FG3_D3D = 1 (save the modelview z-mirrored, Direct3D-style, which real fg3 never does: the
driver must reject it). `construct` writes a real FRTRI003 TRI (vertices, triangles, indexed uvs, the landmarks as labelled
vertices), `triexport` reads it back and writes the OBJ, `render` renders the TRI named in the settings with
Lambert shading from the settings' lights (FaceGen's convention: direction toward the light, OpenGL eye frame).
Every camera layout's modelview maps into OpenGL's eye frame (camera looking down -z), as FaceGen's does.
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
from frontside.renderers.facegen.settings import (
    Lighting,
    facegen_rotation,
    read_lighting,
    read_render_settings,
)
from frontside.renderers.facegen.tri import (
    LabelledVertex,
    TriMesh,
    per_vertex_uv,
    read_tri,
    triangulate,
    write_tri,
)


def _model():
    return load_bfm(os.environ["FAKE_FG3_MODEL"])


def construct(face: Path, out: str) -> None:
    """`construct <sam> <face>.fg <out>`: the face's mesh as <out>.tri (and a texture <out>.jpg)."""
    seed = struct.unpack("<q", face.read_bytes()[8:16])[0]
    model = _model()
    vertices = model.vertices(model.sample(np.random.default_rng(seed)))
    mesh = TriMesh.from_arrays(vertices, model.triangles, model.uv)
    mesh.labelled_vertices = [LabelledVertex(int(v), f"landmark{i:02d}") for i, v in enumerate(model.landmarks)]
    write_tri(Path(f"{out}.tri"), mesh)
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(f"{out}.jpg")


def triexport(obj: str, tri: str) -> None:
    """`triexport <out>.obj <in>.tri`: the TRI's own vertices, facets (quads split) and uvs as OBJ."""
    mesh = read_tri(tri)
    write_obj(obj, mesh.vertices, triangulate(mesh.triangles, mesh.quads), uv=per_vertex_uv(mesh))


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


def _write_modelview(root, modelview: np.ndarray, similarity: bool, style: str) -> None:
    """The world -> OECS modelview (4, 4), as an affine (a, b) or a similarity (c, c6): both map into OpenGL's
    eye frame, where the face lies at z < 0 (FaceGen's `CameraParams::camera` sets trans z = -zCentre)."""
    mv = xml.sub(root, "modelview")
    if similarity:
        xml.sub(mv, "scale", 1.0)
        rot = xml.sub(mv, "rot")
        real, imag = _quaternion(modelview[:3, :3])
        xml.sub(rot, "real", real)
        xml.sub_vector(rot, "imag", imag, style)
        xml.sub_vector(mv, "trans", list(modelview[:3, 3]), style)
    else:
        xml.sub_vector(mv, "linear", list(modelview[:3, :3].ravel()), style)
        xml.sub_vector(mv, "translation", list(modelview[:3, 3]), style)


def _write_frustum(root, planes, half_sizes: bool, style: str) -> None:
    """Six values l, r, b, t, n, f, or FaceGen's `Frustum` struct (symmetric: half sizes on the near plane)."""
    if half_sizes:
        fr = xml.sub(root, "frustum")
        xml.sub(fr, "nearHalfWidth", planes[1])
        xml.sub(fr, "nearHalfHeight", planes[3])
        xml.sub(fr, "nearDist", planes[4])
        xml.sub(fr, "farDist", planes[5])
    else:
        xml.sub_vector(root, "frustum", list(planes), style)


def write_camera(name: str, modelview, planes, hcs, size, layout: str, style: str) -> np.ndarray:
    """Write <name>_cam.xml and <name>_pose.xml; return the true world -> VCS matrix."""
    if layout not in ("a", "b", "c", "c6"):
        raise SystemExit(f"fake fg3: FAKE_FG3_LAYOUT={layout!r} is not a, b, c or c6")
    top, root = xml.new_document("camera")
    saved = modelview
    if os.environ.get("FAKE_FG3_D3D") == "1":  # a wrong, Direct3D-style file (z mirrored): the driver must reject it
        saved = np.diag([1.0, 1.0, -1.0, 1.0]) @ modelview
    _write_modelview(root, saved, similarity=layout.startswith("c"), style=style)
    _write_frustum(root, planes, half_sizes=layout in ("b", "c"), style=style)
    # Whatever the encoding, the projection is OpenGL's: the eye frame looks down -z (w = -z_e).
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


ALBEDO = np.array([220.0, 180.0, 160.0])


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N, 3) unit area-weighted normals of vertices (N, 3), oriented outward (away from the centroid on average),
    so shading does not depend on the model's winding."""
    v = np.asarray(vertices, np.float64)
    a, b, c = (v[triangles[:, k]] for k in range(3))
    face_normals = np.cross(b - a, c - a)
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face_normals)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    if np.mean(np.sum(normals * (v - v.mean(axis=0)), axis=1)) < 0:
        normals = -normals
    return normals


def lambert(normals_eye: np.ndarray, lighting: Lighting) -> np.ndarray:
    """(N, 3) RGB 0-255 of the albedo lit by ambient + sum colour * max(0, n . direction), normals (N, 3) and
    directions in the eye frame, each direction pointing toward its light (FgLighting.hpp)."""
    light = np.tile(np.asarray(lighting.ambient, np.float64), (len(normals_eye), 1))
    for item in lighting.lights:
        lit = np.clip(normals_eye @ np.asarray(item.direction, np.float64), 0.0, None)
        light += lit[:, None] * np.asarray(item.colour, np.float64)
    return np.clip(ALBEDO * light, 0, 255)


def render(name: str) -> None:
    settings = Path(f"{name}.xml")
    _, size, tri = read_render_settings(settings)
    mesh = read_tri(tri)
    vertices, triangles = mesh.vertices, triangulate(mesh.triangles, mesh.quads)
    modelview, planes, hcs, size = true_camera(vertices, settings)
    layout = os.environ.get("FAKE_FG3_LAYOUT", "a")
    world_to_vcs = write_camera(name, modelview, planes, hcs, size, layout, os.environ.get("FAKE_FG3_VECTOR", "count"))
    to_hcs = np.eye(4)
    to_hcs[:3, :3] = hcs
    image_vertices = transforms.image_frame_vertices(vertices, modelview @ to_hcs, transforms.frustum(*planes),
                                                     transforms.viewport(size, size))
    normals_eye = vertex_normals(vertices, triangles) @ (modelview[:3, :3] @ hcs).T
    shade = lambert(normals_eye, read_lighting(settings))
    colour, covered = rasterize_values(image_vertices[:, :2], image_vertices[:, 2], triangles, shade, size, size)
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
        construct(Path(args[2]), args[3])
    elif command == "triexport":  # triexport <out>.obj <in>.tri
        triexport(args[1], args[2])
    elif command == "render":  # render <name> -s <name>
        render(args[1])
    else:
        print(f"fake fg3: unknown command {argv}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
