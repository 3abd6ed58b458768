#!/usr/bin/env python3
"""CDK entry point: builds the sgwatch stack from context. No AWS calls, no Docker, no git."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "lambdas"))  # the shared names live in the Lambda's package

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.config import load_config  # noqa: E402
from infra.forwarder import ForwarderStack  # noqa: E402
from infra.stack import SgwatchStack  # noqa: E402


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context: the CLI reads it itself; plain `python app.py` and the tests read it here."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    return context


def build_app(context: dict[str, Any] | None = None) -> cdk.App:
    app = cdk.App(context=context)
    config = load_config(app.node.try_get_context)
    home = cdk.Environment(region=config.home_region) if config.home_region else None
    SgwatchStack(app, config.stack_name, config=config, env=home)
    for region in config.regional_forwarders:
        ForwarderStack(
            app,
            f"{config.stack_name}-forwarder-{region}",
            home_region=config.home_region,
            home_stack_name=config.stack_name,
            home_bus_name=config.forwarding_bus,
            record_security_groups=config.record_security_groups,
            compliance_log_days=config.compliance_log_days,
            monitor=config.monitor,
            enabled=config.enabled,
            heartbeat_minutes=config.heartbeat_minutes,
            env=cdk.Environment(region=region),
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
