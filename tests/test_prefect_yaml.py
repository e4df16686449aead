"""prefect.yaml must stay deployable: entrypoints load, parameters exist, triggers and schedules parse."""

from pathlib import Path

import yaml
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[1]


def test_every_deployment_loads_and_its_parameters_fit_the_flow():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = {d["name"] for d in spec["deployments"]}
    assert {"generate", "train", "evaluate", "convert-300wlp", "train-then-evaluate", "demo"} <= names
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        accepted = set(flow.parameters.properties)
        assert set(deployment.get("parameters", {})) <= accepted, deployment["name"]
        for trigger in deployment.get("triggers", []):
            parsed = DeploymentEventTrigger(**{k: v for k, v in trigger.items() if k != "type"})
            assert set(parsed.parameters or {}) <= accepted
    generate = next(d for d in spec["deployments"] if d["name"] == "generate")
    assert generate["schedules"][0]["cron"] == "0 3 * * 0"


def test_evaluate_trigger_fires_on_completed_train_runs():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    evaluate = next(d for d in spec["deployments"] if d["name"] == "evaluate")
    trigger = evaluate["triggers"][0]
    assert trigger["expect"] == ["prefect.flow-run.Completed"]
    assert trigger["match_related"]["prefect.resource.name"] == "train"
