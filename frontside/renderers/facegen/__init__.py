"""FaceGen SDK driver: fg3 subprocesses, render settings XML, and the saved camera XML -> eq. 4.1."""

from frontside.renderers.facegen.camera import CameraMatrices, parse_camera_xml
from frontside.renderers.facegen.driver import FaceGenConfig, FaceGenRenderer, FaceGenSource, run_fg3
from frontside.renderers.facegen.settings import facegen_pose, write_render_settings

__all__ = ["CameraMatrices", "FaceGenConfig", "FaceGenRenderer", "FaceGenSource", "facegen_pose",
           "parse_camera_xml", "run_fg3", "write_render_settings"]
