"""Bad input, given to every command as a user would give it (a subprocess each), and what must come back:
a non-zero exit (2 for a flag no run can use, 1 for a bad file), one line on stderr naming the flag or the
file, no traceback, the output location exactly as it was, and no Prefect: every case is refused by a check
before Prefect is even imported (a stand-in `prefect` package that fails on import sits first on the path).

The cases run in parallel; each reports on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from made_files import N_EXP, N_ID, grid_model, png_declaring

pytestmark = pytest.mark.slow  # a subprocess command for each case

ROOT = Path(__file__).resolve().parents[1]
TRUNCATIONS = [10, 64, 127, 128, 200, 400, 1000, 3000, 10000, "half", "last"]


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # "{name}" is replaced by the corpus file of that name
    names: str  # what the one line must contain: the flag or the file
    code: int = 1
    out: str | None = None  # the output location, which must be left exactly as it was


def _cases() -> list[Case]:
    G = ("generate", "--faces", "4", "--shard-size", "2")
    D = ("generate", "--faces", "12", "--shard-size", "4", "--seed", "7", "--out", "{ds_copy}")  # as tiny_dataset
    good_bfm = "bfm:{good_mat},uv={good_uv}"
    cases = [
        # generate: numbers
        Case("gen-faces-0", ("generate", "--faces", "0", "--out", "{new}"), "--faces: must be >= 1", 2, "{new}"),
        Case("gen-faces-negative", ("generate", "--faces", "-5", "--out", "{new}"), "--faces", 2, "{new}"),
        Case("gen-faces-not-int", ("generate", "--faces", "x", "--out", "{new}"), "--faces: invalid int", 2, "{new}"),
        Case("gen-no-out", ("generate", "--faces", "3"), "--out", 2),
        Case("gen-shard-size-0", (*G[:3], "--shard-size", "0", "--out", "{new}"), "--shard-size", 2, "{new}"),
        Case("gen-shard-size-negative", (*G[:3], "--shard-size", "-1", "--out", "{new}"), "--shard-size", 2, "{new}"),
        Case("gen-seed-negative", (*G, "--seed", "-1", "--out", "{new}"), "--seed: must be >= 0", 2, "{new}"),
        Case("gen-workers-0", (*G, "--workers", "0", "--out", "{new}"), "--workers", 2, "{new}"),
        Case("gen-workers-negative", (*G, "--workers", "-3", "--out", "{new}"), "--workers", 2, "{new}"),
        Case("gen-dask-address-malformed", (*G, "--dask-address", "nonsense", "--out", "{new}"), "--dask-address", 2,
             "{new}"),
        Case("gen-dask-address-nobody", (*G, "--dask-address", "tcp://127.0.0.1:9", "--out", "{new}"),
             "--dask-address", 2, "{new}"),
        Case("gen-size-not-multiple-of-32", (*G, "--size", "100", "--out", "{new}"),
             "--size: must be a multiple of 32", 2, "{new}"),
        Case("gen-size-0", (*G, "--size", "0", "--out", "{new}"), "--size", 2, "{new}"),
        Case("gen-size-negative", (*G, "--size", "-64", "--out", "{new}"), "--size", 2, "{new}"),
        Case("gen-size-too-large", (*G, "--size", "8192", "--out", "{new}"), "--size", 2, "{new}"),
        Case("gen-views-1", (*G, "--views", "1", "--out", "{new}"), "--views: must be >= 2, got 1", 2, "{new}"),
        Case("gen-views-not-int", (*G, "--views", "x", "--out", "{new}"), "--views: invalid int", 2, "{new}"),
        Case("gen-views-too-many", (*G, "--views", "1000", "--out", "{new}"), "--views: must be <= 32", 2, "{new}"),
        Case("gen-renderer-unknown", (*G, "--renderer", "blender", "--out", "{new}"), "--renderer: invalid choice", 2,
             "{new}"),
        # generate: the face model
        Case("gen-source-unknown", (*G, "--source", "nosuch", "--out", "{new}"), "--source: unknown face model", 2,
             "{new}"),
        Case("gen-source-bfm-no-path", (*G, "--source", "bfm:", "--out", "{new}"), "--source", 2, "{new}"),
        Case("gen-source-bfm-unknown-option", (*G, "--source", "bfm:{good_mat},colour=x", "--out", "{new}"),
             "--source", 2, "{new}"),
        Case("gen-model-missing", (*G, "--source", "bfm:/nowhere/BFM.mat", "--out", "{new}"), "/nowhere/BFM.mat",
             1, "{new}"),
        Case("gen-model-is-text", (*G, "--source", "bfm:{text}", "--out", "{new}"), "notes.txt: file", 1, "{new}"),
        Case("gen-model-is-png", (*G, "--source", "bfm:{png}", "--out", "{new}"), "picture.png: file", 1, "{new}"),
        Case("gen-model-empty", (*G, "--source", "bfm:{empty_mat}", "--out", "{new}"), "empty.mat", 1, "{new}"),
        Case("gen-model-folder", (*G, "--source", "bfm:{folder}", "--out", "{new}"), "a-folder", 1, "{new}"),
        *[Case(f"gen-model-truncated-{k}", (*G, "--source", f"bfm:{{trunc_{k}}},uv={{good_uv}}", "--out", "{new}"),
               f"trunc-{k}.mat", 1, "{new}") for k in TRUNCATIONS],
        Case("gen-model-nan", (*G, "--source", "bfm:{nan_mat},uv={good_uv}", "--out", "{new}"),
             "nan.mat: shapeMU: 1 of", 1, "{new}"),
        Case("gen-model-inf", (*G, "--source", "bfm:{inf_mat},uv={good_uv}", "--out", "{new}"),
             "inf.mat: shapePC", 1, "{new}"),
        Case("gen-model-duplicate-landmarks", (*G, "--source", "bfm:{duplicate_mat},uv={good_uv}", "--out", "{new}"),
             "duplicate.mat: kpt_ind", 1, "{new}"),
        Case("gen-model-landmark-out-of-range", (*G, "--source", "bfm:{far_mat},uv={good_uv}", "--out", "{new}"),
             "far.mat: kpt_ind", 1, "{new}"),
        Case("gen-model-triangle-out-of-range", (*G, "--source", "bfm:{badtri_mat},uv={good_uv}", "--out", "{new}"),
             "badtri.mat: tri", 1, "{new}"),
        Case("gen-uv-junk", (*G, "--source", "bfm:{good_mat},uv={text}", "--out", "{new}"), "notes.txt", 1, "{new}"),
        Case("gen-uv-truncated", (*G, "--source", "bfm:{good_mat},uv={trunc_uv}", "--out", "{new}"), "trunc_uv.mat",
             1, "{new}"),
        Case("gen-uv-nan", (*G, "--source", "bfm:{good_mat},uv={nan_uv}", "--out", "{new}"), "nan_uv.mat: UV", 1,
             "{new}"),
        # generate: where it writes
        Case("gen-out-is-a-file", (*G, "--out", "{text}"), "--out", 2, "{text}"),
        Case("gen-out-under-a-file", (*G, "--out", "{text}/data"), "--out", 2, "{text}"),
        Case("gen-out-unknown-scheme", (*G, "--out", "foo://bucket/ds"), "--out: foo://bucket/ds: unknown URL", 2),
        Case("gen-out-memory", (*G, "--out", "memory://ds"), "--out: memory://ds", 2),
        Case("gen-out-s3-without-package", (*G, "--out", "s3://bucket/ds"), "--out: s3://bucket/ds", 2),
        Case("gen-backgrounds-missing", (*G, "--backgrounds", "/nowhere/dtd", "--out", "{new}"), "/nowhere/dtd", 1,
             "{new}"),
        Case("gen-backgrounds-a-file", (*G, "--backgrounds", "{text}", "--out", "{new}"), "notes.txt", 1, "{new}"),
        # generate into an existing folder
        Case("gen-other-parameters", ("generate", "--faces", "12", "--shard-size", "4", "--seed", "8", "--out",
                                      "{ds_copy}"), "made differently (seed: was 7, now 8)", 1, "{ds_copy}"),
        Case("gen-other-size", (*D, "--size", "128"), "made differently (size: was 256, now 128)", 1, "{ds_copy}"),
        Case("gen-other-renderer", (*D, "--renderer", "pyrender"),
             "made differently (renderer: was 'raster', now 'pyrender')", 1, "{ds_copy}"),
        Case("gen-without-depth", (*D, "--no-depth"), "made differently (depth: was True, now False)", 1, "{ds_copy}"),
        Case("gen-other-views", (*D, "--views", "3"), "made differently (views: was 2, now 3)", 1, "{ds_copy}"),
        Case("gen-manifest-truncated", (*G, "--out", "{ds_truncated}"), "manifest.json: file: not valid JSON", 1,
             "{ds_truncated}"),
        Case("gen-manifest-traversal", (*G, "--out", "{ds_traversal}"), "not a plain shard file name", 1,
             "{ds_traversal}"),
        Case("gen-stray-shards", (*G, "--out", "{ds_strays}"), "manifest.json: missing, but the folder holds", 1,
             "{ds_strays}"),
        # convert-300wlp
        Case("w300-root-missing", ("convert-300wlp", "--root", "/nowhere/300W_LP", "--model", good_bfm, "--out",
                                   "{new}"), "/nowhere/300W_LP", 1, "{new}"),
        Case("w300-root-a-file", ("convert-300wlp", "--root", "{text}", "--model", good_bfm, "--out", "{new}"),
             "notes.txt", 1, "{new}"),
        Case("w300-root-not-300wlp", ("convert-300wlp", "--root", "{folder}", "--model", good_bfm, "--out", "{new}"),
             "no 300W-LP subset folder", 1, "{new}"),
        Case("w300-junk-tree", ("convert-300wlp", "--root", "{junk_tree}", "--model", good_bfm, "--out", "{new}"),
             "pairs: no front/side pair", 1, "{new}"),
        Case("w300-folder-named-jpg", ("convert-300wlp", "--root", "{dir_tree}", "--model", good_bfm, "--out",
                                       "{new}"), "among 0 images", 1, "{new}"),
        Case("w300-fits-for-another-model", ("convert-300wlp", "--root", "{tree_199}", "--model", good_bfm, "--out",
                                             "{new}"), "good.mat: components: the 2 readable fits have 199 shape", 1,
             "{new}"),
        Case("w300-shard-size-0", ("convert-300wlp", "--root", "{tree_199}", "--model", good_bfm, "--shard-size",
                                   "0", "--out", "{new}"), "--shard-size", 2, "{new}"),
        Case("w300-limit-0", ("convert-300wlp", "--root", "{tree_199}", "--model", good_bfm, "--limit", "0", "--out",
                              "{new}"), "--limit", 2, "{new}"),
        Case("w300-seed-negative", ("convert-300wlp", "--root", "{tree_199}", "--model", good_bfm, "--seed", "-1",
                                    "--out", "{new}"), "--seed", 2, "{new}"),
        Case("w300-workers-0", ("convert-300wlp", "--root", "{tree_199}", "--model", good_bfm, "--workers", "0",
                                "--out", "{new}"), "--workers", 2, "{new}"),
        Case("w300-model-unknown", ("convert-300wlp", "--root", "{tree_199}", "--model", "nosuch", "--out", "{new}"),
             "--model", 2, "{new}"),
        Case("w300-model-truncated", ("convert-300wlp", "--root", "{tree_199}", "--model",
                                      "bfm:{trunc_half},uv={good_uv}", "--out", "{new}"), "trunc-half.mat", 1,
             "{new}"),
        Case("w300-out-is-a-file", ("convert-300wlp", "--root", "{tree_199}", "--model", good_bfm, "--out",
                                    "{text}"), "--out", 2, "{text}"),
    ]
    T = ("train", "--data", "{dataset}", "--out", "{new}")
    cases += [
        Case("train-epochs-0", (*T, "--epochs", "0"), "--epochs: must be >= 1", 2, "{new}"),
        Case("train-epochs-negative", (*T, "--epochs", "-1"), "--epochs", 2, "{new}"),
        Case("train-batch-size-0", (*T, "--batch-size", "0"), "--batch-size", 2, "{new}"),
        Case("train-lr-negative", (*T, "--lr", "-1"), "--lr", 2, "{new}"),
        Case("train-lr-0", (*T, "--lr", "0"), "--lr", 2, "{new}"),
        Case("train-lr-nan", (*T, "--lr", "nan"), "--lr", 2, "{new}"),
        Case("train-workers-negative", (*T, "--workers", "-1"), "--workers", 2, "{new}"),
        Case("train-max-steps-0", (*T, "--max-steps-per-epoch", "0"), "--max-steps-per-epoch", 2, "{new}"),
        Case("train-seed-negative", (*T, "--seed", "-1"), "--seed", 2, "{new}"),
        Case("train-arch-unknown", (*T, "--arch", "resnet"), "--arch: invalid choice", 2, "{new}"),
        Case("train-resume-and-overwrite", (*T, "--resume", "--overwrite"), "--overwrite", 2, "{new}"),
        Case("train-into-an-existing-run", ("train", "--data", "{dataset}", "--out", "{run}"),
             "--out: ", 2, "{run}"),
        Case("train-resume-without-last", ("train", "--data", "{dataset}", "--out", "{empty_run}", "--resume"),
             "--resume: ", 2, "{empty_run}"),
        Case("train-out-is-a-file", ("train", "--data", "{dataset}", "--out", "{text}"), "--out", 2, "{text}"),
        Case("train-data-missing", ("train", "--data", "/nowhere/ds", "--out", "{new}"), "/nowhere/ds/manifest.json",
             1, "{new}"),
        Case("train-data-manifest-truncated", ("train", "--data", "{ds_truncated}", "--out", "{new}"),
             "manifest.json: file: not valid JSON", 1, "{new}"),
        Case("train-data-traversal", ("train", "--data", "{ds_traversal}", "--out", "{new}"),
             "not a plain shard file name", 1, "{new}"),
        Case("train-data-shard-missing", ("train", "--data", "{ds_no_shards}", "--out", "{new}"),
             "shard-00000.parquet: shard is missing", 1, "{new}"),
        Case("train-data-uv-regions-corrupt", ("train", "--data", "{ds_bad_uv}", "--out", "{new}"),
             "uv_regions.png: not a readable PNG", 1, "{new}"),
        Case("train-data-uv-regions-bomb", ("train", "--data", "{ds_bomb_uv}", "--out", "{new}"),
             "uv_regions.png: image declares more pixels", 1, "{new}"),
        Case("train-val-missing", (*T, "--val", "/nowhere/val"), "/nowhere/val/manifest.json", 1, "{new}"),
        Case("train-init-text", (*T, "--init", "{text}"), "notes.txt: not a frontside checkpoint", 1, "{new}"),
        Case("train-init-truncated", (*T, "--init", "{ckpt_truncated}"), "truncated.pt: not a frontside checkpoint",
             1, "{new}"),
        Case("train-init-code-pickle", (*T, "--init", "{ckpt_code}"), "code.pt: not a readable frontside checkpoint", 1,
             "{new}"),
        Case("train-init-foreign", (*T, "--init", "{ckpt_foreign}"), "foreign.pt: not a frontside checkpoint", 1,
             "{new}"),
        Case("train-init-arch-unknown", (*T, "--init", "{ckpt_unknown_arch}"), "unknown_arch.pt: field 'arch'", 1,
             "{new}"),
        Case("train-init-weights-misfit", (*T, "--init", "{ckpt_misfit}"), "misfit.pt: field 'model' does not fit",
             1, "{new}"),
        Case("train-init-nan-weights", (*T, "--init", "{ckpt_nan}"), "nan.pt: field 'model'", 1, "{new}"),
        Case("train-init-other-arch", (*T, "--arch", "twoview-thesis", "--init", "{ckpt_good}"),
             "good.pt: field 'spec' differs in arch", 1, "{new}"),
        Case("train-init-empty", (*T, "--init", "{empty_mat}"), "empty.mat: file: is empty", 1, "{new}"),
    ]
    E = ("evaluate", "--checkpoint", "{ckpt_good}", "--out", "{new}")
    cases += [
        Case("eval-max-faces-0", (*E, "--data", "{dataset}", "--max-faces", "0"), "--max-faces: must be >= 1", 2,
             "{new}"),
        Case("eval-max-faces-negative", (*E, "--data", "{dataset}", "--max-faces", "-1"), "--max-faces", 2, "{new}"),
        Case("eval-no-test-set", E, "--data", 2, "{new}"),
        Case("eval-checkpoint-missing", ("evaluate", "--checkpoint", "/nowhere/best.pt", "--data", "{dataset}",
                                         "--out", "{new}"), "/nowhere/best.pt", 1, "{new}"),
        Case("eval-checkpoint-text", ("evaluate", "--checkpoint", "{text}", "--data", "{dataset}", "--out", "{new}"),
             "notes.txt: not a frontside checkpoint", 1, "{new}"),
        Case("eval-checkpoint-png", ("evaluate", "--checkpoint", "{png}", "--data", "{dataset}", "--out", "{new}"),
             "picture.png: not a frontside checkpoint", 1, "{new}"),
        Case("eval-checkpoint-misfit", ("evaluate", "--checkpoint", "{ckpt_misfit}", "--data", "{dataset}", "--out",
                                        "{new}"), "misfit.pt: field 'model' does not fit", 1, "{new}"),
        Case("eval-checkpoint-other-width", ("evaluate", "--checkpoint", "{ckpt_other_width}", "--data", "{dataset}",
                                             "--out", "{new}"),
             "other_width.pt: field 'model' does not fit field 'spec' (221 of another shape", 1, "{new}"),
        Case("eval-checkpoint-code-pickle", ("evaluate", "--checkpoint", "{ckpt_code}", "--data", "{dataset}",
                                             "--out", "{new}"), "code.pt: not a readable frontside checkpoint", 1,
             "{new}"),
        Case("eval-data-missing", (*E, "--data", "/nowhere/test"), "/nowhere/test/manifest.json", 1, "{new}"),
        Case("eval-data-model-changed", (*E, "--data", "{ds_model_changed}"), "inputs.model: builtin has changed", 1,
             "{new}"),
        Case("eval-data-model-unloadable", (*E, "--data", "{ds_model_gone}"), "/nowhere/gone.mat", 1, "{new}"),
        Case("eval-florence-missing", (*E, "--florence", "/nowhere/florence"), "/nowhere/florence", 1, "{new}"),
        Case("eval-florence-empty", (*E, "--florence", "{folder}"), "a-folder: subject_XX", 1, "{new}"),
        Case("eval-aflw2000-missing", (*E, "--aflw2000", "/nowhere/aflw"), "/nowhere/aflw", 1, "{new}"),
        Case("eval-aflw2000-empty", (*E, "--aflw2000", "{folder}"), "a-folder: imageNNNNN.jpg: no AFLW2000-3D photo",
             1, "{new}"),
        Case("eval-aflw2000-no-pose", (*E, "--aflw2000", "{aflw_no_pose}"), "image00001.mat: Pose_Para: missing", 1,
             "{new}"),
        Case("eval-aflw2000-landmarks-shape", (*E, "--aflw2000", "{aflw_bad_pt3d}"),
             "image00001.mat: pt3d_68: has shape (2, 68), expected 3 x 68", 1, "{new}"),
        Case("eval-aflw2000-and-data", (*E, "--data", "{dataset}", "--aflw2000", "{aflw_no_pose}"),
             "--data: give one test set", 2, "{new}"),
        Case("eval-model-without-aflw2000", (*E, "--data", "{dataset}", "--model", "bfm:{good_mat}"),
             "--model: goes with aflw2000", 2, "{new}"),
        Case("eval-out-is-a-file", ("evaluate", "--checkpoint", "{ckpt_good}", "--data", "{dataset}", "--out",
                                    "{text}"), "--out", 2, "{text}"),
        # info
        Case("info-folder-missing", ("info", "/nowhere/ds"), "/nowhere/ds/manifest.json: no manifest", 1),
        Case("info-not-a-dataset", ("info", "{folder}"), "a-folder/manifest.json: no manifest", 1, "{folder}"),
        Case("info-manifest-truncated", ("info", "{ds_truncated}"), "manifest.json: file: not valid JSON", 1,
             "{ds_truncated}"),
        Case("info-manifest-traversal", ("info", "{ds_traversal}"), "not a plain shard file name", 1,
             "{ds_traversal}"),
        # preview, smoke, demo
        Case("preview-n-0", ("preview", "--n", "0", "--out", "{new_png}"), "--n: must be >= 1", 2, "{new_png}"),
        Case("preview-n-negative", ("preview", "--n", "-1", "--out", "{new_png}"), "--n", 2, "{new_png}"),
        Case("preview-seed-negative", ("preview", "--seed", "-1", "--out", "{new_png}"), "--seed", 2, "{new_png}"),
        Case("preview-source-unknown", ("preview", "--source", "nosuch", "--out", "{new_png}"), "--source", 2,
             "{new_png}"),
        Case("preview-views-1", ("preview", "--views", "1", "--out", "{new_png}"), "--views: must be >= 2", 2,
             "{new_png}"),
        Case("preview-size-not-multiple-of-32", ("preview", "--size", "100", "--out", "{new_png}"),
             "--size: must be a multiple of 32", 2, "{new_png}"),
        Case("preview-renderer-unknown", ("preview", "--renderer", "blender", "--out", "{new_png}"), "--renderer", 2,
             "{new_png}"),
        Case("preview-model-nan", ("preview", "--n", "1", "--source", "bfm:{nan_mat},uv={good_uv}", "--out",
                                   "{new_png}"), "nan.mat: shapeMU", 1, "{new_png}"),
        Case("preview-out-is-a-folder", ("preview", "--out", "{folder}"), "--out", 2, "{folder}"),
        Case("preview-out-under-a-file", ("preview", "--out", "{text}/grid.png"), "--out", 2, "{text}"),
        Case("preview-backgrounds-missing", ("preview", "--backgrounds", "/nowhere/dtd", "--out", "{new_png}"),
             "/nowhere/dtd", 1, "{new_png}"),
        Case("smoke-out-is-a-file", ("smoke", "--out", "{text}"), "--out", 2, "{text}"),
        Case("smoke-seed-negative", ("smoke", "--seed", "-1", "--out", "{new}"), "--seed", 2, "{new}"),
        Case("smoke-yaw-nan", ("smoke", "--yaw", "nan", "--out", "{new}"), "--yaw", 2, "{new}"),
        Case("smoke-yaw-out-of-range", ("smoke", "--yaw", "1000", "--out", "{new}"), "--yaw", 2, "{new}"),
        Case("demo-steps-0", ("demo", "--steps", "0", "--out", "{new}"), "--steps", 2, "{new}"),
        Case("demo-train-faces-0", ("demo", "--train-faces", "0", "--out", "{new}"), "--train-faces", 2, "{new}"),
        Case("demo-batch-size-0", ("demo", "--batch-size", "0", "--out", "{new}"), "--batch-size", 2, "{new}"),
        Case("demo-out-is-a-file", ("demo", "--out", "{text}"), "--out", 2, "{text}"),
        # reconstruct (its checks are issue 14's; the one-line contract is everyone's)
        Case("reconstruct-checkpoint-missing", ("reconstruct", "--checkpoint", "/nowhere/best.pt", "--front", "{png}",
                                                "--out", "{new}.obj"), "/nowhere/best.pt", 1, "{new}.obj"),
        Case("reconstruct-front-missing", ("reconstruct", "--checkpoint", "{ckpt_good}", "--front", "/nowhere/f.jpg",
                                           "--out", "{new}.obj"), "/nowhere/f.jpg", 1, "{new}.obj"),
        Case("reconstruct-checkpoint-text", ("reconstruct", "--checkpoint", "{text}", "--front", "{png}", "--out",
                                             "{new}.obj"), "notes.txt: not a frontside checkpoint", 1, "{new}.obj"),
        Case("reconstruct-checkpoint-foreign", ("reconstruct", "--checkpoint", "{ckpt_foreign}", "--front", "{png}",
                                                "--out", "{new}.obj"), "foreign.pt: not a frontside checkpoint", 1,
             "{new}.obj"),
        Case("reconstruct-checkpoint-misfit", ("reconstruct", "--checkpoint", "{ckpt_misfit}", "--front", "{png}",
                                               "--out", "{new}.obj"), "misfit.pt: field 'model' does not fit", 1,
             "{new}.obj"),
        Case("reconstruct-shipped-unknown", ("reconstruct", "--checkpoint", "shipped:prn", "--front", "{png}",
                                             "--out", "{new}.obj"), "--checkpoint: 'prn': not a shipped network", 2,
             "{new}.obj"),
        Case("reconstruct-iterations-0", ("reconstruct", "--checkpoint", "{ckpt_good}", "--front", "{png}",
                                          "--iterations", "0", "--out", "{new}.obj"), "--iterations", 2, "{new}.obj"),
        # reconstruct: photos as cameras write them that cannot be used (issue 22; the usable kinds, EXIF, CMYK,
        # 16-bit, alpha, large photos, malformed EXIF, are reconstructed in tests/test_photo_files.py)
        *[Case(f"reconstruct-photo-{name}", ("reconstruct", "--checkpoint", "{ckpt_good}", "--front", f"{{{name}}}",
                                             "--out", "{new}.obj"), message, 1, "{new}.obj")
          for name, message in (
              ("tiny_photo", "tiny.png: 24 x 24 pixels: too small to hold a face of at least 32 px"),
              ("small_face", "small-face.jpg: the face is"),
              ("photo_bomb", "photo-bomb.png: image: declares more than 64,000,000 pixels"),
              ("photo_90mp", "photo-90mp.png: image: declares 9500 x 9500 pixels, more than the 64,000,000 allowed"),
              ("photo_cut", "photo-cut.jpg: image: not a readable image"))],
    ]
    return cases


CASES = _cases()


# ------------------------------------------------------------------------------------------------ the files

def _save_model(model, path: Path) -> None:
    from frontside.facemodel.bfm import save_bfm

    save_bfm(model, path, path.with_name(path.stem + "_uv.mat"))


def _fits_tree(root: Path, n_shape: int, n_exp: int) -> Path:
    """Two readable 300W-LP fits (a front and a side of one person) with the given coefficient counts."""
    from PIL import Image

    (root / "AFW").mkdir(parents=True)
    for k, yaw in enumerate((10.0, 70.0)):
        Image.fromarray(np.full((40, 40, 3), 100, np.uint8)).save(root / "AFW" / f"AFW_1_1_{k}.jpg")
        scipy.io.savemat(str(root / "AFW" / f"AFW_1_1_{k}.mat"), {
            "Pose_Para": np.array([[0, np.deg2rad(yaw), 0, 20, 20, 0, 1e-4]]),
            "Shape_Para": np.zeros((n_shape, 1)), "Exp_Para": np.zeros((n_exp, 1))})
    return root


def _dataset_variant(source: Path, target: Path, manifest=None, shards: bool = True, uv: bytes | None = None) -> Path:
    target.mkdir()
    body = json.loads((source / "manifest.json").read_text())
    if callable(manifest):
        manifest(body)
    (target / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(body))
    (target / "uv_regions.png").write_bytes(uv if uv is not None else (source / "uv_regions.png").read_bytes())
    if shards:
        for p in source.glob("shard-*.parquet"):
            os.link(p, target / p.name)
    return target


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_dataset) -> dict[str, str]:
    return make_corpus(tmp_path_factory.mktemp("bad-inputs"), tiny_dataset)


def make_corpus(base: Path, tiny_dataset: str) -> dict[str, str]:
    """Every file the cases name, by placeholder, made in `base` (`tiny_dataset`: conftest's 12-pair dataset).
    benchmarks/bad_inputs.py builds the same corpus."""
    import torch

    from frontside.learning.checkpoint.saving import save_checkpoint
    from frontside.learning.networks.registry import build

    files: dict[str, Path] = {"dataset": Path(tiny_dataset)}
    files["text"] = base / "notes.txt"
    files["text"].write_text("these are notes, not a face model\n")
    files["png"] = base / "picture.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(files["png"])
    files["folder"] = base / "a-folder"
    files["folder"].mkdir()
    files["empty_mat"] = base / "empty.mat"
    files["empty_mat"].write_bytes(b"")

    model = grid_model()
    files["good_mat"] = base / "good.mat"
    _save_model(model, files["good_mat"])
    files["good_uv"] = base / "good_uv.mat"
    data = files["good_mat"].read_bytes()
    for k in TRUNCATIONS:
        cut = len(data) // 2 if k == "half" else len(data) - 1 if k == "last" else k
        files[f"trunc_{k}"] = base / f"trunc-{k}.mat"
        files[f"trunc_{k}"].write_bytes(data[:cut])
    uv_data = files["good_uv"].read_bytes()
    files["trunc_uv"] = base / "trunc_uv.mat"
    files["trunc_uv"].write_bytes(uv_data[: len(uv_data) // 2])
    mean = model.mean.copy()
    mean[5, 1] = np.nan
    id_basis = model.id_basis.copy()
    id_basis[7, 2] = np.inf
    uv = model.uv.copy()
    uv[3] = np.nan
    landmarks = model.landmarks.copy()
    landmarks[1] = landmarks[0]
    far = model.landmarks.copy()
    far[0] = model.n_vertices + 50
    tri = model.triangles.copy()
    tri[0, 0] = model.n_vertices + 1
    for name, variant in (("nan", replace(model, mean=mean)), ("inf", replace(model, id_basis=id_basis)),
                          ("duplicate", replace(model, landmarks=landmarks)), ("far", replace(model, landmarks=far)),
                          ("badtri", replace(model, triangles=tri)), ("nan_uv_model", replace(model, uv=uv))):
        files[f"{name}_mat"] = base / f"{name}.mat"
        _save_model(variant, files[f"{name}_mat"])
    files["nan_uv"] = base / "nan_uv.mat"
    (base / "nan_uv_model_uv.mat").rename(files["nan_uv"])

    files["tree_199"] = _fits_tree(base / "tree-199", 199, 29)
    files["junk_tree"] = base / "junk-tree"
    (files["junk_tree"] / "AFW").mkdir(parents=True)
    (files["junk_tree"] / "AFW" / "AFW_1_1_0.jpg").write_text("not a photo")
    (files["junk_tree"] / "AFW" / "AFW_1_1_0.mat").write_text("not a fit")
    files["dir_tree"] = base / "dir-tree"
    (files["dir_tree"] / "AFW" / "x.jpg").mkdir(parents=True)

    ds = Path(tiny_dataset)
    files["ds_copy"] = _dataset_variant(ds, base / "ds-copy")
    text = (ds / "manifest.json").read_text()
    files["ds_truncated"] = _dataset_variant(ds, base / "ds-truncated", manifest=text[: len(text) // 2])
    files["ds_traversal"] = _dataset_variant(
        ds, base / "ds-traversal", manifest=lambda b: b["shards"][0].update(name="../../x.parquet"))
    files["ds_no_shards"] = _dataset_variant(ds, base / "ds-no-shards", shards=False)
    files["ds_bad_uv"] = _dataset_variant(ds, base / "ds-bad-uv", uv=b"\x89PNG\r\n\x1a\n not really")
    files["ds_bomb_uv"] = _dataset_variant(ds, base / "ds-bomb-uv", uv=png_declaring(100_000, 100_000))
    files["ds_model_changed"] = _dataset_variant(
        ds, base / "ds-model-changed", manifest=lambda b: b["inputs"]["model"].update(sha256="0" * 64))
    files["ds_model_gone"] = _dataset_variant(
        ds, base / "ds-model-gone", manifest=lambda b: b["inputs"]["model"].update(spec="bfm:/nowhere/gone.mat"))
    files["ds_strays"] = base / "ds-strays"
    files["ds_strays"].mkdir()
    shutil.copy(ds / "shard-00000.parquet", files["ds_strays"])

    files["run"] = base / "run-existing"
    files["run"].mkdir()
    (files["run"] / "best.pt").write_bytes(b"a better run's weights")
    files["empty_run"] = base / "run-empty"
    files["empty_run"].mkdir()

    net = build("prn", width=0.25)
    files["ckpt_good"] = base / "good.pt"
    save_checkpoint(files["ckpt_good"], network=net)
    state = files["ckpt_good"].read_bytes()
    files["ckpt_truncated"] = base / "truncated.pt"
    files["ckpt_truncated"].write_bytes(state[: len(state) // 3])
    good = torch.load(files["ckpt_good"], weights_only=True)
    for name, change in (("misfit", {"arch": "twoview-thesis"}), ("unknown_arch", {"arch": "nosuch"}),
                         ("other_width", {"width": 0.5})):  # names fit, shapes do not: the check that needs torch
        files[f"ckpt_{name}"] = base / f"{name}.pt"
        torch.save({**good, "arch": change.get("arch", good["arch"]), "spec": {**good["spec"], **change}},
                   files[f"ckpt_{name}"])
    broken = build("prn", width=0.25)
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    files["ckpt_nan"] = base / "nan.pt"
    save_checkpoint(files["ckpt_nan"], network=broken)
    files["ckpt_foreign"] = base / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, files["ckpt_foreign"])
    files["ckpt_code"] = base / "code.pt"
    torch.save({"model": Path("/etc"), "arch": "prn"}, files["ckpt_code"])  # a pickled class: refused unread

    _photo_files(base, files)
    _aflw2000_files(base, files)

    # a `prefect` that cannot be imported, first on the path: a case that reaches Prefect fails visibly
    stub = base / "no-prefect" / "prefect"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('PREFECT WAS IMPORTED during validation')\n")
    files["no_prefect_path"] = stub.parent
    files["outputs"] = base / "outputs"
    files["outputs"].mkdir()
    return {k: str(v) for k, v in files.items()}


def _photo_files(base: Path, files: dict) -> None:
    """Photos that cannot be reconstructed: too small for a face, a face too small, more pixels than allowed
    (over our budget; over Pillow's own bomb limit), truncated. (A malformed EXIF block is not refused: the photo is
    read as stored, as viewers show it; tests/test_photo_files.py.)"""
    from PIL import Image
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    files["tiny_photo"] = base / "tiny.png"
    astronaut.resize((24, 24), Image.LANCZOS).save(files["tiny_photo"])
    files["small_face"] = base / "small-face.jpg"  # her face ~20 px across in a 160 x 160 photo
    astronaut.resize((160, 160), Image.LANCZOS).save(files["small_face"], quality=95)
    files["photo_bomb"] = base / "photo-bomb.png"
    files["photo_bomb"].write_bytes(png_declaring(200_000, 200_000))
    files["photo_90mp"] = base / "photo-90mp.png"
    files["photo_90mp"].write_bytes(png_declaring(9_500, 9_500))
    files["photo_cut"] = base / "photo-cut.jpg"
    astronaut.save(files["photo_cut"], quality=90)
    files["photo_cut"].write_bytes(files["photo_cut"].read_bytes()[:3000])


def _aflw2000_files(base: Path, files: dict) -> None:
    """AFLW2000-3D roots whose one annotation lacks Pose_Para, or has pt3d_68 of the wrong shape."""
    from PIL import Image

    good = {"pt3d_68": np.zeros((3, 68)), "pt2d": np.zeros((2, 68)), "Pose_Para": np.array([[0, 0, 0, 1, 1, 0, 1e-3]]),
            "Shape_Para": np.zeros((N_ID, 1)), "Exp_Para": np.zeros((N_EXP, 1)), "roi": np.zeros((1, 4))}
    for name, change in (("aflw_no_pose", {"Pose_Para": None}), ("aflw_bad_pt3d", {"pt3d_68": np.zeros((2, 68))})):
        files[name] = base / name
        files[name].mkdir()
        Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(files[name] / "image00001.jpg")
        keys = {k: change.get(k, v) for k, v in good.items()}
        scipy.io.savemat(str(files[name] / "image00001.mat"), {k: v for k, v in keys.items() if v is not None})


def _snapshot(path: Path) -> object:
    """What a location holds: absent, a file's size and mtime, or a folder's listing with sizes and mtimes."""
    if not path.exists():
        return "absent"
    if path.is_file():
        st = path.stat()
        return (st.st_size, st.st_mtime_ns)
    return sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*"))


@dataclass
class Outcome:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    before: object
    after: object


def case_names(corpus: dict[str, str], case: Case) -> dict[str, str]:
    return {**corpus, "new": f"{corpus['outputs']}/{case.id}", "new_png": f"{corpus['outputs']}/{case.id}.png"}


def run_case(case: Case, corpus: dict[str, str]) -> Outcome:
    """`case` run as a user would: `python -m frontside.cli ...` in a fresh process, without Prefect."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([corpus["no_prefect_path"], str(ROOT)]),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("FRONTSIDE_DEBUG", None)
    names = case_names(corpus, case)
    argv = [a.format(**names) for a in case.args]
    out = Path(case.out.format(**names)) if case.out else None
    before = _snapshot(out) if out else None
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "frontside.cli", *argv], capture_output=True, text=True,
                          env=env, cwd=corpus["outputs"], timeout=120)
    seconds = time.perf_counter() - started
    after = _snapshot(out) if out else None
    return Outcome(argv, done.returncode, done.stdout, done.stderr, seconds, before, after)


@pytest.fixture(scope="module")
def outcomes(corpus) -> dict[str, Outcome]:
    """Every case run once, three at a time; cases that share an output location run one after another, so
    that one case's transient writability probe is never seen in another's before-and-after listing."""
    started = time.perf_counter()
    by_location: dict[str, list[Case]] = {}
    for case in CASES:
        location = case.out.format(**case_names(corpus, case)) if case.out else case.id
        by_location.setdefault(location, []).append(case)

    def run_group(cases: list[Case]) -> list[tuple[str, Outcome]]:
        return [(case.id, run_case(case, corpus)) for case in cases]

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(pair for group in pool.map(run_group, by_location.values()) for pair in group)
    slowest = sorted(results.items(), key=lambda kv: -kv[1].seconds)[:5]
    print(f"\n{len(CASES)} bad inputs in {time.perf_counter() - started:.1f} s (load {os.getloadavg()[0]:.1f}); "
          "slowest: " + ", ".join(f"{k} {o.seconds:.1f} s" for k, o in slowest))
    return results


def test_the_corpus_is_large_and_its_names_unique():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line(case: Case, outcomes, corpus):
    got = outcomes[case.id]
    expected = case.names.format(**case_names(corpus, case))
    report = f"{' '.join(got.argv)}\nexit {got.code}\nstderr: {got.stderr}\nstdout: {got.stdout[-2000:]}"
    lines = [line for line in got.stderr.splitlines() if line.strip()]
    assert got.code == case.code, report
    assert len(lines) == 1, report
    assert lines[0].startswith(f"frontside {case.args[0]}: error: "), report
    assert expected in lines[0], report
    assert "Traceback" not in got.stderr + got.stdout, report
    assert "PREFECT WAS IMPORTED" not in got.stderr + got.stdout, report
    assert "weights_only" not in lines[0], report  # never advise loading a file's code
    assert got.after == got.before, f"the output location changed\n{report}"
