"""The OpenGL path before the raster renderer, kept as the benchmarks' baseline: pyrender rebuilding its scene
and re-uploading the face for every view. Importing this module registers it as renderer "pyrender-rebuild"
(`frontside.synthesis.generate.register_renderer`), so a benchmark can generate a whole dataset with it; users
are never offered it."""

from __future__ import annotations

from frontside.synthesis.generate import register_renderer

NAME = "pyrender-rebuild"


def make_renderer():
    from frontside.renderers.pyrender_renderer import PyrenderRenderer

    renderer = PyrenderRenderer(reuse_scene=False)
    renderer.name = NAME
    return renderer


register_renderer(NAME, make_renderer)
