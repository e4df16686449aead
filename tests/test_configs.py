"""One config object per command, end to end: the command line's flags are the config's fields (nerfstudio-style),
the flows take the same objects, and prefect.yaml's deployments load through them. A field added to a config
without reaching the CLI or the flow, a deployment whose parameters no config accepts, or a README flag that does
not exist fails here."""

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest
import yaml

from frontside.cli import build_parser
from frontside.configs import default_of, flag_fields, flag_of, from_flags, from_mapping
from frontside.errors import ParameterError
from frontside.evaluation.config import EvaluateConfig
from frontside.learning.config import TrainConfig
from frontside.learning.networks.registry import get_arch
from frontside.orchestration.flows.demo_config import DemoConfig
from frontside.reconstruct.config import ReconstructConfig
from frontside.sources.w300lp_source import ConvertConfig
from frontside.synthesis.config import GenerateConfig

ROOT = Path(__file__).resolve().parents[1]

# command -> (its config, the least a command line must give, the flows that take the config)
COMMANDS = {
    "generate": (GenerateConfig, ["--faces", "3", "--out", "d"],
                 ["frontside.orchestration.flows.generate:generate_dataset",
                  "frontside.orchestration.flows.generate:generate_dataset_scaled"]),
    "train": (TrainConfig, ["--data", "d", "--out", "r"], ["frontside.orchestration.flows.train:train_model"]),
    "evaluate": (EvaluateConfig, ["--checkpoint", "c.pt", "--out", "r"],
                 ["frontside.orchestration.flows.evaluate:evaluate_models"]),
    "convert-300wlp": (ConvertConfig, ["--root", "r", "--model", "bfm:x.mat", "--out", "d"],
                       ["frontside.orchestration.flows.convert_300wlp:convert_300wlp",
                        "frontside.orchestration.flows.convert_300wlp:convert_300wlp_scaled"]),
    "demo": (DemoConfig, [], ["frontside.orchestration.flows.pipeline:demo"]),
    "reconstruct": (ReconstructConfig, ["--checkpoint", "c.pt"], []),
}


def _load(path: str):
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_field_is_a_flag_and_the_defaults_are_the_configs(command):
    config_type, minimal, _ = COMMANDS[command]
    parser = build_parser().commands[command]
    dests = {a.dest: a for a in parser._actions}
    for f in flag_fields(config_type):
        assert f.name in dests, f"{command}: field {f.name} has no flag"
        assert flag_of(f) in dests[f.name].option_strings
    args = parser.parse_args(minimal)
    config = from_flags(config_type, args)
    required = {f.name for f in dataclasses.fields(config_type) if default_of(f) is dataclasses.MISSING}
    for f in dataclasses.fields(config_type):
        if f.name not in required:
            assert getattr(config, f.name) == default_of(f), f"{command}: {f.name} default differs from the config's"


def test_a_flag_sets_its_field():
    parser = build_parser().commands["train"]
    config = from_flags(TrainConfig, parser.parse_args(
        ["--data", "a", "--data", "b", "--out", "r", "--patience", "3", "--lr", "0.01", "--no-augment",
         "--weight-decay", "0"]))
    assert (config.data, config.patience, config.lr, config.augment, config.weight_decay) == (["a", "b"], 3, 0.01,
                                                                                              False, 0.0)
    gen = from_flags(GenerateConfig, build_parser().commands["generate"].parse_args(
        ["--faces", "5", "--out", "d", "--no-depth", "--size", "64"]))
    assert (gen.n_faces, gen.depth, gen.size, gen.params().as_dict()["n_faces"]) == (5, False, 64, 5)
    assert "out" not in gen.params().as_dict()  # the manifest records the dataset's parameters only


@pytest.mark.parametrize("command", [c for c in COMMANDS if COMMANDS[c][2]])
def test_the_flows_take_the_config(command):
    config_type, _, flows = COMMANDS[command]
    for path in flows:
        flow = _load(path)
        parameters = inspect.signature(flow.fn).parameters
        assert list(parameters) == ["config"], path
        assert typing.get_type_hints(flow.fn)["config"] is config_type, path


def _deployments() -> dict:
    return {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}


@pytest.mark.parametrize("name", list(_deployments()))
def test_every_deployments_parameters_load_through_its_flow(name):
    from prefect.flows import load_flow_from_entrypoint

    deployment = _deployments()[name]
    flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
    parameters = dict(deployment.get("parameters", {}))
    for trigger in deployment.get("triggers", []):  # the trigger supplies these when it fires
        parameters.update({k: "x" for k in trigger.get("parameters", {})})
    validated = flow.validate_parameters(parameters)
    hints = typing.get_type_hints(flow.fn)
    if "config" in hints:
        config_type = hints["config"]
        assert isinstance(validated["config"], config_type)
        assert validated["config"] == from_mapping(config_type, deployment["parameters"]["config"], name)


def test_the_train_deployment_trains_with_its_archs_recipe():
    train = _deployments()["train"]["parameters"]["config"]
    assert not {"lr", "schedule", "shape_weight", "augment"} & set(train), "the recipe belongs to the arch"
    config = from_mapping(TrainConfig, train, "train")
    arch = get_arch(config.arch)
    assert config.recipe() == (arch.lr, arch.schedule, arch.shape_weight, arch.augment)
    assert _deployments()["convert-300wlp"]["parameters"]["config"]["model_spec"].startswith("bfm:")


def test_unknown_and_missing_keys_are_named():
    with pytest.raises(ParameterError, match="lerning_rate"):
        from_mapping(TrainConfig, {"data": ["d"], "out": "r", "lerning_rate": 1}, "prefect.yaml train")
    with pytest.raises(ParameterError, match="out"):
        from_mapping(TrainConfig, {"data": ["d"]}, "prefect.yaml train")


def test_every_flag_the_readme_gives_exists():
    readme = (ROOT / "README.md").read_text()
    parsers = build_parser().commands
    for command, parser in parsers.items():
        flags = {s for a in parser._actions for s in a.option_strings}
        for line in re.findall(rf"`frontside {re.escape(command)}\b[^`]*`", readme):
            for flag in re.findall(r"(--[a-z][a-z0-9-]*)", line):
                assert flag in flags, f"README: `frontside {command}` has no flag {flag}"
