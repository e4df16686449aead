"""300W-LP conversion as a source for the dataset driver: checks, the pair plan, one shard.

The check scans the tree (every fit read once), pairs front with side views (thesis 4.3.4) and writes nothing;
the plan (the pair list, named by its digest) is one of the files the driver writes beside the shards, so
shard jobs carry two indices, never arrays, and a resumed run converts exactly the same pairs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from frontside import checks
from frontside.configs import cli
from frontside.errors import InputFormatError, ParameterError
from frontside.sources.w300lp import (
    SUBSETS,
    item_for,
    make_300wlp_pair,
    model_mismatch,
    pair_items,
    scan_300wlp,
    skipped_counts,
    skipped_files,
)
from frontside.store.driver import ShardJob, ShardOutcome, SourceCheck

# A spawn key keeps the pairing stream apart from every per-pair stream SeedSequence([seed, i]).
PAIRING_SPAWN_KEY = (0x300,)
SIZE = 256  # crops and position maps of converted pairs (PRN's size)


def pairing_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=PAIRING_SPAWN_KEY))


def _listing(root: Path) -> dict:
    """Names and sizes of every file in the subset folders: a change to any image or fit changes it."""
    h = hashlib.sha256()
    n = 0
    for subset in sorted(s for base in SUBSETS for s in (base, f"{base}_Flip") if (root / s).is_dir()):
        for p in sorted((root / subset).iterdir()):
            if p.is_file() and p.suffix in (".jpg", ".mat"):
                h.update(f"{subset}/{p.name}\0{p.stat().st_size}\n".encode())
                n += 1
    return {"files": n, "listing_sha256": h.hexdigest()}


_scans: dict[tuple, list] = {}


def _scan(root: Path, model, model_sha: str, listing: str) -> list:
    """`scan_300wlp`, once per process for an unchanged tree and model (a full 300W-LP has 122k fits)."""
    key = (str(root), model_sha, listing)
    if key not in _scans:
        _scans.clear()
        _scans[key] = scan_300wlp(root, model=model)
    return _scans[key]


@dataclass(frozen=True)
class ConvertConfig:
    """`frontside convert-300wlp` and its flow: a 300W-LP tree and the face model its fits refer to, into shards."""

    root: str = field(metadata=cli("the 300W_LP folder (AFW, HELEN, IBUG, LFPW and their _Flip twins)"))
    model_spec: str = field(metadata=cli("face model the fits refer to: bfm:/path/BFM.mat[,uv=/path/BFM_UV.mat]",
                                         flag="--model", metavar="SPEC"))
    out: str = field(metadata=cli("output dataset folder or fsspec URL"))
    shard_size: int = field(default=256, metadata=cli("pairs per shard"))
    seed: int = field(default=0, metadata=cli("seed of the pairing and the crop jitter"))
    workers: int = field(default=1, metadata=cli("shards converted in parallel"))
    limit: int | None = field(default=None, metadata=cli("convert only the first N planned pairs"))
    progress: bool = field(default=False, metadata=cli(hidden=True))

    def source(self) -> W300LPSource:
        return W300LPSource(root=self.root, model_spec=self.model_spec, seed=self.seed, shard_size=self.shard_size,
                            limit=self.limit)


@dataclass(frozen=True)
class W300LPSource:
    """Front/side pairs of 300W-LP photos posed with their fits. plan_name: set by `check`."""

    root: str
    model_spec: str
    seed: int = 0
    shard_size: int = 256
    limit: int | None = None
    plan_name: str | None = None
    kind: str = "300wlp"

    def parameter_identity(self) -> dict:
        """The numbers of the identity, checked (the tree, the model and the pairs are `check`'s)."""
        checks.integer("shard_size", self.shard_size, minimum=1)
        checks.integer("seed", self.seed, minimum=0)
        checks.integer("limit", self.limit, minimum=1, optional=True)
        return {"source": self.kind, "seed": self.seed, "shard_size": self.shard_size, "limit": self.limit,
                "size": SIZE}

    def check(self) -> SourceCheck:
        from frontside.facemodel import load_model, parse_model_spec
        from frontside.facemodel.regions import model_uv_regions
        from frontside.pictures import encode_png
        from frontside.store.dataset import model_sha256

        identity = self.parameter_identity()
        root = checks.input_folder("root", self.root).absolute()
        try:
            spec = str(parse_model_spec(checks.text("model_spec", self.model_spec)))
        except ValueError as exc:
            raise ParameterError("model_spec", str(exc)) from None
        if not any((root / s).is_dir() or (root / f"{s}_Flip").is_dir() for s in SUBSETS):
            raise InputFormatError(root, "layout", f"no 300W-LP subset folder found (expected some of "
                                                   f"{', '.join(SUBSETS)})")
        model = load_model(spec)
        sha = model_sha256(model)
        listing = _listing(root)
        items = _scan(root, model, sha, listing["listing_sha256"])
        mismatch = model_mismatch(items, model)
        if mismatch:
            raise InputFormatError(spec.removeprefix("bfm:").split(",")[0], "components", mismatch)
        pairs = pair_items(items, pairing_rng(self.seed))
        if self.limit is not None:
            pairs = pairs[: self.limit]
        skipped = skipped_counts(items)
        if not pairs:
            raise InputFormatError(root, "pairs", f"no front/side pair of one person among {len(items)} images "
                                                  f"(skipped: {skipped}; a pair needs |yaw| <= 45 and 45 < |yaw| "
                                                  "<= 100 in one identity group)")
        rows = [[f.subset, f.name, s.subset, s.name] for f, s in pairs]
        digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
        plan_name = f"300wlp-plan-{digest[:16]}.json"
        plan = {"root": str(root), "seed": self.seed, "model": model.name, "n_images": len(items),
                "skipped": skipped, "digest": digest, "pairs": rows}
        regions = model_uv_regions(model, SIZE)
        source = replace(self, root=str(root), model_spec=spec, plan_name=plan_name)
        parameters = {"source": self.kind, "root": str(root), "seed": self.seed, "shard_size": self.shard_size,
                      "model_spec": spec, "limit": self.limit, "size": SIZE}
        identity.update(model_sha256=sha, pairs_sha256=digest, root_listing_sha256=listing["listing_sha256"])
        inputs = {"model": {"spec": spec, "name": model.name, "sha256": sha},
                  "root": {"path": str(root), **listing}}
        starts = range(0, len(rows), self.shard_size)
        return SourceCheck(
            source=source, parameters=parameters, identity=identity, inputs=inputs,
            works=[(start, min(start + self.shard_size, len(rows))) for start in starts],
            files={plan_name: json.dumps(plan, indent=1, sort_keys=True).encode(),
                   "uv_regions.png": encode_png(regions)},
            extra={"plan": plan_name, "n_images": len(items), "n_pairs_planned": len(rows), "skipped": skipped,
                   "skipped_files": skipped_files(items)})

    def write_shard(self, job: ShardJob, out: str) -> ShardOutcome:
        """Pairs [start, stop) of the plan as `job.name`, unless a valid copy is already there. Pair i draws its
        crop jitter from SeedSequence([seed, i]); a pair whose image or fit cannot be read is left out and named."""
        from frontside.facemodel import load_model
        from frontside.io import join, read_bytes
        from frontside.store.manifest import shard_is_valid
        from frontside.store.shards import write_shard
        from frontside.synthesis.generate import face_rng

        if job.expected is not None and shard_is_valid(out, job.expected):
            return ShardOutcome(job.expected, True)
        plan = json.loads(read_bytes(join(out, self.plan_name)))
        model = load_model(self.model_spec)
        pairs, dropped = [], []
        start, stop = job.work
        for i in range(start, stop):
            fs, fn, ss, sn = plan["pairs"][i]
            try:
                pairs.append(make_300wlp_pair(item_for(self.root, fs, fn), item_for(self.root, ss, sn), model,
                                              face_rng(self.seed, i), face_index=i, seed=self.seed,
                                              out_size=SIZE))
            except InputFormatError as exc:
                dropped.append({"file": f"{fs}/{fn}.jpg + {ss}/{sn}.jpg", "reason": str(exc)})
        return ShardOutcome(write_shard(join(out, job.name), pairs), False, dropped)
