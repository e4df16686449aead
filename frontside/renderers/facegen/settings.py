"""The render settings FaceGen's `fg3 render <name>` reads from `<name>.xml` (FgCmdRender.cpp's RenderArgs),
and the random-face settings of `fg3 random run`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frontside.geometry.transforms import rotation_matrix
from frontside.renderers.facegen import xml
from frontside.renderers.view import Pose


@dataclass(frozen=True)
class FaceGenPose:
    """FaceGen's camera pose: the mesh is rotated by Ry(pan) Rx(tilt) Rz(roll) (radians), FgCmdRender.cpp."""

    pan: float
    tilt: float
    roll: float
    rel_scale: float
    rel_trans: tuple[float, float]
    fov_max_deg: float


@dataclass(frozen=True)
class Light:
    """One of FaceGen's lights (FgLighting.hpp `FgLight`): all at infinity; `direction` is the unit vector *toward*
    the light in OpenGL eye coordinates (x right, y up, z toward the viewer), so (0, 0, 1) lights the face from
    the camera."""

    colour: tuple[float, float, float]  # RGB in [0, 1]
    direction: tuple[float, float, float]


@dataclass(frozen=True)
class Lighting:
    ambient: tuple[float, float, float]  # RGB in [0, 1]
    lights: tuple[Light, ...]


MAX_LIGHT_OFF_AXIS_DEG = 45.0


def random_light_direction(rng: np.random.Generator) -> np.ndarray:
    """(3,) unit vector toward a key light on the camera's side of the face: within MAX_LIGHT_OFF_AXIS_DEG of the
    view axis (so z >= cos 45 deg > 0, toward the camera), from above more often than from below."""
    off_axis = np.deg2rad(rng.uniform(0.0, MAX_LIGHT_OFF_AXIS_DEG))
    azimuth = rng.normal(np.pi / 2, np.pi / 3)  # about the view axis; pi / 2 is straight up (+y)
    return np.array([np.sin(off_axis) * np.cos(azimuth), np.sin(off_axis) * np.sin(azimuth), np.cos(off_axis)])


def random_lighting(rng: np.random.Generator) -> Lighting:
    """An ambient level and one or two key lights from the camera's side (see `random_light_direction`)."""
    ambient = float(rng.uniform(0.2, 0.45))
    lights = tuple(Light(colour=(float(rng.uniform(0.5, 0.9)),) * 3,
                         direction=tuple(float(v) for v in random_light_direction(rng)))  # type: ignore[arg-type]
                   for _ in range(int(rng.integers(1, 3))))
    return Lighting(ambient=(ambient,) * 3, lights=lights)


def _write_lighting(root, lighting: Lighting) -> None:
    """RenderArgs' `lighting` as the FgCmdRender.cpp of the `cam` settings layout names it (FgLighting:
    m_ambient, m_lights; FgLight: m_colour, m_direction)."""
    element = xml.sub(root, "lighting")
    xml.sub_vector(element, "m_ambient", list(lighting.ambient))
    lights = xml.sub(element, "m_lights")
    xml.sub(lights, "count", len(lighting.lights))
    for light in lighting.lights:
        item = xml.sub(lights, "item")
        xml.sub_vector(item, "m_colour", list(light.colour))
        xml.sub_vector(item, "m_direction", list(light.direction))


def read_lighting(path: str | os.PathLike) -> Lighting:
    """The `lighting` of a render settings file."""
    root = xml.load(path)
    ambient = xml.vector(root, "lighting/m_ambient", path, 3)
    items = xml.find(root, "lighting/m_lights", path).findall("item")
    lights = tuple(Light(colour=tuple(xml.vector(item, "m_colour", path, 3)),  # type: ignore[arg-type]
                         direction=tuple(xml.vector(item, "m_direction", path, 3)))  # type: ignore[arg-type]
                   for item in items)
    return Lighting(ambient=tuple(ambient), lights=lights)  # type: ignore[arg-type]


def facegen_pose(pose: Pose, fov_max_deg: float = 17.0, base_scale: float = 0.9) -> FaceGenPose:
    """Our pose (R = Rz(roll) Ry(yaw) Rx(pitch), degrees) as FaceGen's (R = Ry(pan) Rx(tilt) Rz(roll), radians).

    Both are right-handed about the same axes (x to the viewer's right, y up, z out of the face), so a pure
    yaw is a pure pan; combined angles are re-decomposed in FaceGen's order, giving the same rotation.
    relTrans is relative to half the model's largest extent and y up, so our image shift (fractions of the image,
    y down) maps to it through the framing scale.
    """
    r = rotation_matrix(pose.yaw, pose.pitch, pose.roll)
    tilt = float(np.arcsin(np.clip(-r[1, 2], -1.0, 1.0)))
    pan = float(np.arctan2(r[0, 2], r[2, 2]))
    roll = float(np.arctan2(r[1, 0], r[1, 1]))
    scale = base_scale * pose.scale
    rel_trans = (2.0 * pose.shift[0] / scale, -2.0 * pose.shift[1] / scale)
    return FaceGenPose(pan, tilt, roll, scale, rel_trans, fov_max_deg)


def facegen_rotation(p: FaceGenPose) -> np.ndarray:
    """(3, 3) Ry(pan) @ Rx(tilt) @ Rz(roll)."""
    ry = rotation_matrix(np.rad2deg(p.pan), 0, 0)
    rx = rotation_matrix(0, np.rad2deg(p.tilt), 0)
    rz = rotation_matrix(0, 0, np.rad2deg(p.roll))
    return ry @ rx @ rz


def write_render_settings(path: str | os.PathLike, p: FaceGenPose, size: int, tri: str, texture: str,
                          rng: np.random.Generator, output: str | None = None) -> Path:
    """`<name>.xml` for `fg3 render <name>`: models, cam, lighting (random), background, image size, output."""
    path = Path(path)
    top, root = xml.new_document("renderArgs")
    models = xml.sub(root, "models")
    xml.sub(models, "count", 1)
    item = xml.sub(models, "item")
    xml.sub(item, "triFilename", tri)
    xml.sub(item, "imgFilename", texture)
    xml.sub(item, "shiny", False)
    cam = xml.sub(root, "cam")
    hcs = xml.sub(cam, "rotateToHcs")
    xml.sub(hcs, "real", 1.0)
    xml.sub_vector(hcs, "imag", [0.0, 0.0, 0.0])
    xml.sub(cam, "rollRadians", p.roll)
    xml.sub(cam, "tiltRadians", p.tilt)
    xml.sub(cam, "panRadians", p.pan)
    xml.sub_vector(cam, "relTrans", list(p.rel_trans))
    xml.sub(cam, "relScale", p.rel_scale)
    xml.sub(cam, "fovMaxDeg", p.fov_max_deg)
    _write_lighting(root, random_lighting(rng))
    xml.sub_vector(root, "backgroundColor", [0.0, 0.0, 0.0, 0.0])
    xml.sub_vector(root, "imagePixelSize", [size, size])
    xml.sub(root, "antiAliasBitDepth", 3)
    xml.sub(root, "showSurfPoints", False)
    xml.sub(root, "saveSurfPointFile", False)
    xml.sub(root, "outputFile", output or f"{path.stem}.png")
    return xml.save(top, path)


def read_render_settings(path: str | os.PathLike) -> tuple[FaceGenPose, int, str]:
    """(pose, image size, tri file) back from a render settings file."""
    root = xml.load(path)
    pose = FaceGenPose(
        pan=xml.number(root, "cam/panRadians", path), tilt=xml.number(root, "cam/tiltRadians", path),
        roll=xml.number(root, "cam/rollRadians", path), rel_scale=xml.number(root, "cam/relScale", path),
        rel_trans=tuple(xml.vector(root, "cam/relTrans", path, 2)),
        fov_max_deg=xml.number(root, "cam/fovMaxDeg", path))
    size = int(xml.vector(root, "imagePixelSize", path, 2)[0])
    tri = xml.find(root, "models/item/triFilename", path).text
    return pose, size, tri


def write_random_settings(path: str | os.PathLike, seed: int) -> Path:
    """Settings for `fg3 random run`: a symmetric random face. The `seed` element is ours: FaceGen's own draw is
    outside our control, so the dataset manifest records that facegen shards are not reproducible bytewise."""
    top, root = xml.new_document("randomArgs")
    xml.sub(root, "seed", int(seed))
    xml.sub(root, "symmetricOnly", False)
    xml.sub(root, "numFaces", 1)
    return xml.save(top, path)
