"""The generation flow for real: Prefect's API, threads, Dask, SIGKILL, and the bytes it leaves."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frontside.store.manifest import Manifest, shard_is_valid, verify
from frontside.synthesis.config import GenerateConfig

pytestmark = pytest.mark.slow  # Prefect flow runs, subprocess commands, a Dask cluster

PARAMS = dict(n_faces=6, shard_size=2, seed=3, size=256)


def _shards(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("shard-*.parquet"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, prefect_harness):
    from frontside.orchestration.flows.generate import run_generate

    out = tmp_path_factory.mktemp("reference")
    run_generate(GenerateConfig(workers=2, out=str(out), **PARAMS))
    return out


def test_two_runs_give_identical_shards_and_a_valid_manifest(reference, tmp_path, prefect_harness):
    from frontside.orchestration.flows.generate import generate_dataset_scaled

    # through the deployment's entrypoint: the parameters pick the task runner, the subflow does the work
    result = generate_dataset_scaled(GenerateConfig(workers=1, out=str(tmp_path), **PARAMS))
    assert result["rows"] == 6 and result["shards"] == 3
    assert _shards(tmp_path) == _shards(reference)
    assert verify(str(tmp_path)) == []
    assert (tmp_path / "uv_regions.png").exists() and (tmp_path / "sample_grid.png").exists()
    manifest = Manifest.load(str(tmp_path))
    assert manifest.parameters["n_faces"] == 6 and manifest.rows == 6
    assert _latest_artifact("generated-shards").type == "table"
    summary = _latest_artifact("generated-dataset")
    assert str(tmp_path) in summary.data and "sample_grid.png" in summary.data and "6 pairs" in summary.data


def _latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                      sort=ArtifactSort.CREATED_DESC, limit=1)
    assert found, f"no artifact {key!r}"
    return found[0]


def test_rerun_repairs_exactly_the_deleted_and_truncated_shards(reference, tmp_path, prefect_harness):
    import shutil

    from frontside.orchestration.flows.generate import run_generate

    for p in reference.iterdir():
        shutil.copy2(p, tmp_path / p.name)
    (tmp_path / "shard-00000.parquet").unlink()
    data = (tmp_path / "shard-00002.parquet").read_bytes()
    (tmp_path / "shard-00002.parquet").write_bytes(data[:100])
    untouched = (tmp_path / "shard-00001.parquet").stat()
    result = run_generate(GenerateConfig(workers=2, out=str(tmp_path), **PARAMS))
    assert result["written"] == 2 and result["skipped"] == 1
    after = (tmp_path / "shard-00001.parquet").stat()
    assert (after.st_ino, after.st_mtime_ns) == (untouched.st_ino, untouched.st_mtime_ns)
    assert _shards(tmp_path) == _shards(reference)


def test_different_parameters_for_an_existing_dataset_are_refused(reference, prefect_harness):
    from frontside.errors import FrontsideError
    from frontside.orchestration.flows.generate import run_generate

    with pytest.raises(FrontsideError, match=r"made differently \(seed: was 3, now 4\)"):
        run_generate(GenerateConfig(workers=1, out=str(reference), **{**PARAMS, "seed": 4}))


def test_a_run_killed_with_sigkill_resumes_to_the_same_bytes(reference, tmp_path, prefect_harness):
    from frontside.orchestration.flows.generate import run_generate

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "frontside.cli", "generate", "--faces", "6", "--shard-size", "2", "--seed", "3",
           "--workers", "1", "--out", str(out)]
    # its own session, so the kill reaches the temporary Prefect server it starts as well
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("shard-*.parquet")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = {p.name: p.stat().st_ino for p in out.glob("shard-*.parquet")}
    assert 1 <= len(finished_before) < 3, "the kill should land mid-run"
    manifest = Manifest.load_or_none(str(out))
    # a shard written just before the kill but not yet in the manifest is redone (same bytes), not trusted
    valid_before = {n for n, info in (manifest.shards if manifest else {}).items() if shard_is_valid(str(out), info)}
    result = run_generate(GenerateConfig(workers=2, out=str(out), **PARAMS))
    assert _shards(out) == _shards(reference)
    for name in valid_before:  # finished shards were kept, not redone
        assert (out / name).stat().st_ino == finished_before[name]
    assert result["skipped"] == len(valid_before)


def test_dask_cluster_gives_the_same_bytes(reference, tmp_path, prefect_harness):
    from distributed import LocalCluster

    from frontside.orchestration.flows.generate import run_generate

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run_generate(GenerateConfig(dask_address=cluster.scheduler_address, out=str(tmp_path), **PARAMS))
    assert _shards(tmp_path) == _shards(reference)


def test_a_failing_shard_keeps_the_others_and_a_rerun_redoes_only_it(reference, tmp_path, prefect_harness):
    import shutil

    from frontside.errors import FrontsideError
    from frontside.orchestration.flows.generate import run_generate

    # a non-empty folder in shard 1's place makes its final rename fail for real, on every retry
    blocker = tmp_path / "shard-00001.parquet"
    blocker.mkdir()
    (blocker / "keep").write_bytes(b"x")
    with pytest.raises(FrontsideError, match="shard-00001.parquet"):
        run_generate(GenerateConfig(workers=2, out=str(tmp_path), **PARAMS))
    manifest = Manifest.load(str(tmp_path))
    assert sorted(manifest.shards) == ["shard-00000.parquet", "shard-00002.parquet"]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    kept = {name: (tmp_path / name).stat().st_ino for name in manifest.shards}
    shutil.rmtree(blocker)
    result = run_generate(GenerateConfig(workers=2, out=str(tmp_path), **PARAMS))
    assert (result["written"], result["skipped"]) == (1, 2)
    assert {name: (tmp_path / name).stat().st_ino for name in kept} == kept
    assert _shards(tmp_path) == _shards(reference)


# The command with a file-size limit, as a disk filling up: a write past the limit fails with EFBIG ("File too
# large") as it would with ENOSPC; SIGXFSZ is ignored, or the kernel would kill the process instead.
FILE_SIZE_LIMIT = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["frontside", *sys.argv[2:]]
runpy.run_module("frontside.cli", run_name="__main__")
"""


def test_a_disk_filling_mid_run_is_one_line_keeps_the_data_and_the_rerun_gives_the_same_bytes(tmp_path,
                                                                                            prefect_harness):
    """A disk that fills during `frontside generate`, for real and without root: the command runs in a process
    whose files may not grow past 160 kB (RLIMIT_FSIZE, inherited by nothing else here). At 128 px its shards of
    2 pairs (~210 kB) cannot be written and the last one, of 1 pair (~105 kB), can; the manifest, card and grid
    are smaller. The command uses this session's Prefect server (PREFECT_API_URL), whose database lies outside
    the limit. The user sees one line about it: no traceback, nothing of Prefect's retries or failed states; the
    shard that fit is kept, nothing half-written is left, and the same command without the limit writes the
    missing shards, the bytes of a run that never failed."""
    from conftest import synthetic_dataset
    from prefect.settings import PREFECT_API_URL

    from frontside.orchestration.flows.generate import run_generate

    out = tmp_path / "full"
    args = ["generate", "--faces", "5", "--shard-size", "2", "--seed", "3", "--size", "128", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PYTHONDONTWRITEBYTECODE": "1",
           "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    run = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMIT, str(160_000), *args], env=env,
                         capture_output=True, text=True, timeout=600)
    shown = run.stdout + run.stderr
    assert run.returncode == 1, shown
    assert "Traceback" not in shown and "Retr" not in shown and "Failed(" not in shown, shown
    error = run.stderr.rstrip("\n").split("\n")[-1]
    assert [line for line in shown.splitlines() if "File too large" in line] == [error], shown  # said once
    assert error.startswith(f"frontside generate: error: {out}: 2 of 3 shards failed"), shown
    assert "shard-00000.parquet: OSError: [Errno 27] File too large" in error and "shard-00001.parquet" in error

    manifest = Manifest.load(str(out))
    assert sorted(manifest.shards) == ["shard-00002.parquet"] and shard_is_valid(str(out), manifest.shards[
        "shard-00002.parquet"])
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    kept = (out / "shard-00002.parquet").stat().st_ino
    result = run_generate(GenerateConfig(n_faces=5, shard_size=2, seed=3, size=128, out=str(out)))
    assert (result["written"], result["skipped"]) == (2, 1) and (out / "shard-00002.parquet").stat().st_ino == kept
    reference = synthetic_dataset(str(tmp_path / "reference"), 5, 2, seed=3, size=128)
    assert _shards(out) == _shards(Path(reference))
