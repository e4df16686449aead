"""FaceGen SDK driver: fg3 subprocesses, render settings XML, the saved camera XML -> eq. 4.1, TRI meshes."""

from frontside.renderers.facegen.camera import CameraMatrices, parse_camera_xml
from frontside.renderers.facegen.driver import FaceGenConfig, FaceGenRenderer, FaceGenSource, run_fg3
from frontside.renderers.facegen.settings import facegen_pose, write_render_settings
from frontside.renderers.facegen.tri import TriMesh, read_tri, write_tri

__all__ = ["CameraMatrices", "FaceGenConfig", "FaceGenRenderer", "FaceGenSource", "facegen_pose",
           "TriMesh", "parse_camera_xml", "read_tri", "run_fg3", "write_render_settings", "write_tri"]
