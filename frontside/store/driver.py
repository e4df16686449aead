"""The one resumable dataset driver: every source of shards (generation, 300W-LP, any future one) runs here.

Two steps. `check_dataset` writes nothing: it checks the output location, reads an existing manifest (an
unreadable one is an error, never "a new folder"), has the source check every parameter and load every input
(a source's `check`) and refuses a folder made differently, naming each parameter that differs with its old and
new value; parameters that differ are found before the inputs load (a source's `parameter_identity`). `build_dataset` then takes the folder's lock, checks again under it, removes temp files
a killed run left, records the run in the manifest, writes the source's side files, and runs one job per
shard through `run_shards` (in this process, or Prefect tasks on threads or Dask): a shard whose bytes match
the manifest is kept, the others are written; the manifest is saved after every shard, and a failed shard is
recorded and reported after the others finished.

A source is a small picklable object with `kind`, `parameter_identity() -> dict`, `check() -> SourceCheck` and
`write_shard(job, out) -> ShardOutcome`; shard jobs carry only small work items (face ranges, plan rows).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from frontside import checks
from frontside.errors import DataIntegrityError, FrontsideError, one_line
from frontside.io import join, remove_stale_temps, url_to_fs, write_atomic
from frontside.store.layout import MANIFEST_NAME, is_plain_shard_name, shard_name
from frontside.store.lock import FolderLock, check_not_in_use
from frontside.store.manifest import Manifest, ShardInfo, code_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardJob:
    """Shard `index` (file `name`): the source's `work` item, and the manifest's record when it has one."""

    index: int
    name: str
    work: Any
    expected: ShardInfo | None = None


@dataclass(frozen=True)
class ShardOutcome:
    """A finished shard: its record, whether a valid copy was kept, and inputs it had to leave out
    (`{"file": ..., "reason": ...}` each)."""

    info: ShardInfo
    kept: bool
    dropped: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class SourceCheck:
    """What a source's check found, all before anything is written.

    source:     the source to run shards with (its paths made absolute: workers may run elsewhere).
    parameters: as recorded in the manifest.
    identity:   what a resume must match: the parameters with each path replaced by what it holds.
    inputs:     the inputs' content records (model spec and sha256, background digest, ...).
    works:      one small picklable work item per shard, in shard order.
    files:      {name: bytes} written beside the shards (uv_regions.png, a pair plan).
    extra:      the source's own manifest section (skipped inputs and why).
    """

    source: DatasetSource
    parameters: dict
    identity: dict
    inputs: dict
    works: list
    files: dict[str, bytes] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


class DatasetSource(Protocol):
    kind: str

    def parameter_identity(self) -> dict:
        """The part of `check().identity` its parameters alone give (checked, no file read): what lets a folder
        made differently be refused before the inputs load."""
        ...

    def check(self) -> SourceCheck: ...

    def write_shard(self, job: ShardJob, out: str) -> ShardOutcome: ...


@dataclass(frozen=True)
class DatasetPlan:
    """A checked dataset run: where, and what the source's check found."""

    out: str
    check: SourceCheck


@dataclass(frozen=True)
class DatasetSummary:
    out: str
    manifest: str
    rows: int
    shards: int
    written: int
    kept: int
    failed: dict[str, str]
    removed_temps: list[str]

    def as_dict(self) -> dict:
        return {"out": self.out, "manifest": self.manifest, "rows": self.rows, "shards": self.shards,
                "written": self.written, "skipped": self.kept, "failed": len(self.failed)}


# (source, jobs, out) -> (job, outcome or the exception it raised) as each finishes, in any order
ShardRunner = Callable[[DatasetSource, list[ShardJob], str], Iterable[tuple[ShardJob, Any]]]


def run_here(source: DatasetSource, jobs: list[ShardJob], out: str) -> Iterator[tuple[ShardJob, Any]]:
    """Every shard in this process, one after another."""
    for job in jobs:
        try:
            yield job, source.write_shard(job, out)
        except Exception as exc:
            yield job, exc


def run_in_processes(processes: int) -> ShardRunner:
    """Shards in `processes` spawned worker processes, no Prefect (each renders with its own OpenGL context)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    def run(source: DatasetSource, jobs: list[ShardJob], out: str) -> Iterator[tuple[ShardJob, Any]]:
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(source.write_shard, job, out): job for job in jobs}
            for future in as_completed(futures):
                error = future.exception()
                yield futures[future], error if error is not None else future.result()

    return run


# ------------------------------------------------------------------------------------------------ check

def check_dataset(source: DatasetSource, out: str, in_process: bool = True) -> DatasetPlan:
    """Everything that can be known before writing: raises ParameterError, InputFormatError,
    DataIntegrityError or FolderInUseError, each naming the flag, file or field. Writes nothing.

    in_process: False when called for a command line (refuses memory:// outputs, which die with the process).
    """
    out = checks.output_folder("out", out, in_process=in_process)
    manifest = existing_manifest(out)
    if manifest is not None:  # the parameters first: another size is refused before a model or renderer loads
        refuse_if_different(out, manifest, source.parameter_identity(), partial=True)
    found = source.check()
    if manifest is not None:
        refuse_if_different(out, manifest, found.identity, found.parameters)
    check_not_in_use(out)
    return DatasetPlan(out, found)


def existing_manifest(out: str) -> Manifest | None:
    """The folder's manifest; None for a folder that holds no dataset. Shards without a manifest are refused:
    nothing tells how they were made, and writing beside them would mix two datasets."""
    manifest = Manifest.load_or_none(out)
    if manifest is None:
        fs, path = url_to_fs(out)
        found = fs.glob(f"{path.rstrip('/')}/shard-*.parquet") if fs.isdir(path) else []
        strays = sorted(Path(p).name for p in found if fs.isfile(p))
        if strays:
            raise DataIntegrityError(f"{join(out, MANIFEST_NAME)}: missing, but the folder holds {len(strays)} "
                                     f"shard(s) ({strays[0]}, ...); restore the manifest, or use another --out")
    return manifest


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differences(old: dict, new: dict) -> list[str]:
    """"name: was OLD, now NEW" for every key (nested keys dotted) whose value differs."""
    a, b = _flatten(old), _flatten(new)
    return [f"{key}: was {a.get(key, '(absent)')!r}, now {b.get(key, '(absent)')!r}"
            for key in sorted(set(a) | set(b)) if a.get(key, "(absent)") != b.get(key, "(absent)")]


def refuse_if_different(out: str, manifest: Manifest, identity: dict, parameters: dict | None = None,
                        partial: bool = False) -> None:
    """DataIntegrityError listing every difference between how the dataset was made (its manifest) and this run
    (`identity`, as `SourceCheck.identity`). partial: `identity` is `parameter_identity()`, and only its keys
    are compared (a version-1 manifest, which recorded only `parameters`, is then left to the full comparison)."""
    if manifest.identity is not None:
        recorded = {k: manifest.identity.get(k, "(absent)") for k in identity} if partial else manifest.identity
        changed = differences(recorded, identity)
    elif partial:
        return
    else:
        changed = differences({k: _normalise(v) for k, v in manifest.parameters.items()},
                              {k: _normalise((parameters or {}).get(k, v)) for k, v in manifest.parameters.items()})
    from frontside.store.layout import FORMAT_VERSION

    if manifest.shards and manifest.format != FORMAT_VERSION:  # new shards would not match the old ones
        changed.append(f"shard format: was {manifest.format!r}, now {FORMAT_VERSION!r}")
    if changed:
        raise DataIntegrityError(f"{join(out, MANIFEST_NAME)}: this dataset was made differently ("
                                 + "; ".join(changed) + "): use another --out, or delete the folder to remake it")


def _normalise(value: Any) -> Any:
    """A version-1 parameter as version 2 records it (model specs and folders as absolute paths)."""
    if isinstance(value, str) and value.startswith("bfm:"):
        from frontside.facemodel import parse_model_spec

        try:
            return str(parse_model_spec(value))
        except ValueError:
            return value
    if isinstance(value, str) and "://" not in value and ("/" in value or Path(value).exists()):
        return str(Path(value).expanduser().absolute())
    return value


# ------------------------------------------------------------------------------------------------ build

def build_dataset(plan: DatasetPlan, run_shards: ShardRunner = run_here, progress: bool = False) -> DatasetSummary:
    """Write (or resume, or repair) the dataset `plan` describes; see the module docstring.

    Raises FrontsideError naming every failed shard after all others finished (the manifest keeps them).
    """
    from tqdm import tqdm

    out, found = plan.out, plan.check
    with FolderLock(out):
        manifest = existing_manifest(out)  # again, under the lock: another run may have finished meanwhile
        if manifest is not None:
            refuse_if_different(out, manifest, found.identity, found.parameters)
        removed = remove_stale_temps(out)
        manifest = _start(manifest, found)
        manifest.save(out)
        for name, data in found.files.items():
            write_atomic(join(out, name), data)
        jobs = [ShardJob(i, shard_name(i), work, manifest.shards.get(shard_name(i)))
                for i, work in enumerate(found.works)]
        dropped: dict[str, list] = dict(manifest.extra.get("dropped", {}))
        grid = SampleGrid(out, jobs[0].name) if jobs else None
        written = kept = 0
        failed: dict[str, str] = {}
        with tqdm(total=len(jobs), desc="shards", unit="shard", disable=not progress) as bar:
            for job, outcome in run_shards(found.source, jobs, out):
                bar.update(1)
                if isinstance(outcome, BaseException):
                    failed[job.name] = one_line(outcome)
                    continue
                if not is_plain_shard_name(outcome.info.name) or outcome.info.name != job.name:
                    failed[job.name] = f"the source wrote {outcome.info.name!r} for it"
                    continue
                manifest.shards[job.name] = outcome.info
                if grid is not None:
                    grid.shard_done(job.name, outcome.kept)
                if not outcome.kept:
                    dropped[job.name] = list(outcome.dropped)
                kept += outcome.kept
                written += not outcome.kept
                manifest.extra = _extra(found, dropped, failed)
                manifest.save(out)  # after every shard, so a killed run keeps what it finished
        manifest.extra = {**_extra(found, dropped, failed),
                          "last_run": {"written": written, "kept": kept, "failed": failed, "removed_temps": removed}}
        url = manifest.save(out)
        if grid is not None:
            grid.finish(manifest)
        _write_card(out, manifest)
    summary = DatasetSummary(out, url, manifest.rows, len(manifest.shards), written, kept, failed, removed)
    if failed:
        raise FrontsideError(f"{out}: {len(failed)} of {len(jobs)} shards failed (run the same command again to "
                             "redo only those): " + "; ".join(f"{k}: {v}" for k, v in sorted(failed.items())))
    return summary


class SampleGrid:
    """The dataset's sample grid (`card.write_sample_grid`), made on a side thread as soon as the first shard is
    done, while the other shards are made: it reads only that shard (made after the last shard, it held a run of
    200 faces on one worker 0.2 s longer, 2%). Like the card, it never fails a finished dataset."""

    def __init__(self, out: str, first: str):
        self.out, self.first = out, first
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def shard_done(self, name: str, kept: bool) -> None:
        """Start the grid when the first shard was written now, or kept with no grid beside it."""
        # card loads pyarrow, which the driver does not at its import
        from frontside.store.card import sample_grid_exists

        if name == self.first and self.thread is None and not (kept and sample_grid_exists(self.out)):
            self.thread = threading.Thread(target=self._make, args=(name,), name="frontside-sample-grid", daemon=True)
            self.thread.start()

    def finish(self, manifest: Manifest) -> None:
        """Wait for the grid; without one (the first shard failed), make it now from the first shard there is."""
        from frontside.store.card import sample_grid_exists

        if self.thread is not None:
            self.thread.join()
        elif manifest.shards and not sample_grid_exists(self.out):
            self._make(sorted(manifest.shards)[0])
        if self.error is not None:
            log.warning("sample grid skipped: %s", one_line(self.error))

    def _make(self, shard: str) -> None:
        from frontside.store.card import write_sample_grid

        try:
            write_sample_grid(self.out, shard)
        except Exception as exc:
            self.error = exc


def _write_card(out: str, manifest: Manifest) -> None:
    """The dataset card (README.md) for what the folder now holds; a card must never fail a finished dataset."""
    from frontside.store.card import write_dataset_card

    try:
        write_dataset_card(out, manifest)
    except Exception as exc:
        log.warning("dataset card skipped: %s", one_line(exc))


def _start(manifest: Manifest | None, found: SourceCheck) -> Manifest:
    """The manifest this run continues: the existing one (a version-1 one gains identity and inputs), or a
    new one; this run's code version recorded either way."""
    version = code_version()
    if manifest is None:
        manifest = Manifest(parameters=found.parameters, identity=found.identity, inputs=found.inputs)
    elif manifest.identity is None:
        manifest = replace(manifest, parameters=found.parameters, identity=found.identity, inputs=found.inputs,
                           runs=list(manifest.runs))
    elif manifest.code_version and manifest.code_version != version:
        log.info("note: %s made this dataset; shards written now come from %s", manifest.code_version, version)
    manifest.record_run(version)
    return manifest


def _extra(found: SourceCheck, dropped: dict[str, list], failed: dict[str, str]) -> dict:
    return {**found.extra, "dropped": {k: v for k, v in sorted(dropped.items()) if v},
            "failed_shards": dict(sorted(failed.items()))}


def make_dataset(source: DatasetSource, out: str, run_shards: ShardRunner = run_here,
                 progress: bool = False) -> DatasetSummary:
    """`check_dataset`, then `build_dataset`: a whole run, no Prefect."""
    return build_dataset(check_dataset(source, out), run_shards, progress)
