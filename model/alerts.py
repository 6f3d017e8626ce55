"""Alert thresholds: catalogue/alerts.yaml, modelled and validated (no Pulumi).

The operations index lists an "Alert thresholds" page ("reference for all observability alert
thresholds and their rationale") as in progress; this is it, as data a bank edits. Every alarm
has a metric, a threshold, a period, a severity and a one-line rationale; the CIS AWS Foundations
alarms also carry the CloudTrail filter pattern that feeds their metric and cite their control.
MOD-076 (observability-platform) and MOD-046 (dba-access-control) build one CloudWatch alarm per
entry of `alerts:` they own, sent to the SNS topic of its severity. `serviceAlerts:` are templates:
every service module builds one alarm of each on its own function or dead-letter queue (named by
`{slug}` in the metric's dimensions), sent the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from model.errors import ConfigurationError, describe_validation_error
from model.stack_config import FEATURE_FLAGS, StackConfig
from model.yaml_source import parse_yaml

Severity = Literal["critical", "warning", "info"]
# Severity order: each has its own SNS topic, bank-{env}-alerts-{severity}.
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
# The modules that build alarms from this file (by slug: only their IDs are fixed, DESIGN G12).
ALERTING_MODULES = ("observability-platform", "dba-access-control")

AlertId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=48)]
# CloudWatch metric names and dimension names; `{env}` in a dimension value is the stack's environment.
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=255)]
Namespace = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./#:\-]+$", max_length=255)]
OneLine = Annotated[str, StringConstraints(pattern=r"^[^\n\r]+$", min_length=20, max_length=300)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlertMetric(_Entry):
    """The CloudWatch metric an alarm watches."""

    namespace: Namespace
    name: MetricName
    statistic: Literal["Sum", "Average", "Maximum", "Minimum", "SampleCount"]
    dimensions: dict[str, str] = Field(default_factory=dict, description="`{env}` is replaced by the environment")


Comparison = Literal[
    "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]
# The placeholders a service alert's dimensions may use; every dimension names the module's own resource by `{slug}`.
SERVICE_PLACEHOLDERS = ("{env}", "{slug}")


class _Alarm(_Entry):
    """What every alarm has: when it fires, who it pages, and why that threshold."""

    title: str = Field(min_length=5, max_length=120)
    severity: Severity
    metric: AlertMetric
    threshold: float
    comparison: Comparison
    period: int = Field(description="seconds per evaluation period: a multiple of 60 (standard-resolution metrics)")
    evaluation_periods: int = Field(alias="evaluationPeriods", ge=1, le=1440)
    datapoints_to_alarm: int | None = Field(None, alias="datapointsToAlarm", ge=1)
    treat_missing_data: Literal["missing", "ignore", "breaching", "notBreaching"] = Field(
        "notBreaching", alias="treatMissingData"
    )
    rationale: OneLine = Field(description="one line: why this threshold, period and severity")

    def _evaluation_problems(self) -> list[str]:
        problems = []
        if self.period < 60 or self.period % 60:
            problems.append(f"period {self.period}s is not a multiple of 60 (CloudWatch standard resolution)")
        # CloudWatch: an alarm evaluates at most one day of data at periods under an hour.
        if self.period < 3600 and self.period * self.evaluation_periods > 86400:
            problems.append("period × evaluationPeriods exceeds one day, which CloudWatch refuses")
        if self.datapoints_to_alarm is not None and self.datapoints_to_alarm > self.evaluation_periods:
            problems.append("datapointsToAlarm is larger than evaluationPeriods")
        return problems


class Alert(_Alarm):
    """One alarm a foundation module builds: what it watches, when it fires, who it pages, and why that threshold."""

    id: AlertId = Field(description="kebab-case; the alarm is named bank-{env}-{id}")
    module: str = Field(description="slug of the module that builds the alarm")
    filter_pattern: str | None = Field(
        None,
        alias="filterPattern",
        min_length=5,
        description="CloudWatch Logs filter pattern on CloudTrail's log group that counts into `metric` (value 1)",
    )
    control: str | None = Field(None, description="the benchmark control it implements, e.g. CIS AWS v3.0 4.3")
    optional: str | None = Field(None, description="a stack feature flag: the alarm exists only where it is on")

    @model_validator(mode="after")
    def _consistent(self) -> Alert:
        problems = self._evaluation_problems()
        if self.filter_pattern is not None:
            if not (self.filter_pattern.startswith("{") and self.filter_pattern.endswith("}")):
                problems.append("filterPattern must be a JSON filter pattern in braces (CloudTrail events are JSON)")
            if self.metric.dimensions:
                problems.append("a metric counted by a filter pattern has no dimensions")
            if self.metric.statistic != "Sum":
                problems.append("a metric counted by a filter pattern is alarmed on its Sum")
        if self.control is not None and self.control not in self.rationale:
            problems.append(f"rationale must cite its control `{self.control}`")
        if self.module not in ALERTING_MODULES:
            problems.append(f"module `{self.module}` builds no alarms (known: {', '.join(ALERTING_MODULES)})")
        if self.optional is not None and self.optional not in FEATURE_FLAGS:
            problems.append(f"optional `{self.optional}` is not a stack feature flag")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def alarm_name(self, environment: str) -> str:
        return f"bank-{environment}-{self.id}"

    def dimensions(self, environment: str) -> dict[str, str]:
        return {k: v.replace("{env}", environment) for k, v in sorted(self.metric.dimensions.items())}

    def applies_to(self, config: StackConfig) -> bool:
        return self.optional is None or FEATURE_FLAGS[self.optional](config)


class ServiceAlert(_Alarm):
    """An alarm every service module builds for itself (components/service_module.py): a template whose dimensions
    name the module's own function or queue through `{slug}` (and `{env}`)."""

    id: AlertId = Field(description="kebab-case; each module's alarm is named bank-{env}-{slug}-{id}")

    @model_validator(mode="after")
    def _consistent(self) -> ServiceAlert:
        problems = self._evaluation_problems()
        if not self.metric.dimensions:
            problems.append("a service alert needs dimensions naming the module's own resource (by `{slug}`)")
        for name, value in sorted(self.metric.dimensions.items()):
            if "{slug}" not in value:
                problems.append(f"dimension {name} `{value}` does not name the module's own resource by `{{slug}}`")
            unknown = sorted(set(re.findall(r"\{[^}]*\}", value)) - set(SERVICE_PLACEHOLDERS))
            if unknown:
                problems.append(f"dimension {name} uses {', '.join(unknown)}; only {', '.join(SERVICE_PLACEHOLDERS)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def alarm_name(self, environment: str, slug: str) -> str:
        # CloudWatch alarm names are at most 255 characters: ids and slugs are at most 48 each, so this fits.
        return f"bank-{environment}-{slug}-{self.id}"

    def dimensions(self, environment: str, slug: str) -> dict[str, str]:
        return {
            k: v.replace("{env}", environment).replace("{slug}", slug)
            for k, v in sorted(self.metric.dimensions.items())
        }


class AlertCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alerts: tuple[Alert, ...]
    # `serviceAlerts:`: the alarms every service module builds for itself.
    service_alerts: tuple[ServiceAlert, ...] = ()

    def for_module(self, slug: str, config: StackConfig) -> tuple[Alert, ...]:
        """The alarms `slug` builds in this stack, in file order."""
        return tuple(a for a in self.alerts if a.module == slug and a.applies_to(config))


def alert_topic_name(environment: str, severity: str) -> str:
    """The SNS topic of a severity (MOD-076): bank-{env}-alerts-critical, -warning, -info."""
    return f"bank-{environment}-alerts-{severity}"


def alert_topic_arn(region: str, account_id: str, environment: str, severity: str) -> str:
    """A topic's ARN by convention, for modules that may not take MOD-076's outputs (MOD-046 runs beside it)."""
    return f"arn:aws:sns:{region}:{account_id}:{alert_topic_name(environment, severity)}"


DEFAULT_ALERTS_FILE = Path(__file__).resolve().parent.parent / "catalogue" / "alerts.yaml"


def load_alerts(path: Path = DEFAULT_ALERTS_FILE) -> AlertCatalogue:
    """Read, model and validate an alerts file; every problem is reported at once."""
    shown = "catalogue/alerts.yaml" if path == DEFAULT_ALERTS_FILE else str(path)
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(shown, [f"cannot be read: {exc}"]) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("alerts"), list):
        raise ConfigurationError(shown, ["must be a mapping with an `alerts:` list"])
    service_entries = raw.get("serviceAlerts", [])
    if not isinstance(service_entries, list):
        raise ConfigurationError(shown, ["`serviceAlerts:` must be a list"])
    return parse_alerts(raw["alerts"], shown, service_entries)


def _parse_entries(kind: type[_Alarm], entries: list, label_prefix: str = "") -> tuple[list, list[str]]:
    problems: list[str] = []
    parsed: list = []
    for index, entry in enumerate(entries):
        label = entry.get("id", f"entry {index + 1}") if isinstance(entry, dict) else f"entry {index + 1}"
        label = label_prefix + str(label)
        try:
            parsed.append(kind.model_validate(entry))
        except ValidationError as exc:
            # Field errors name their key; the cross-field rules (model level) are stated as they are.
            problems += [f"{label}: {line}" for line in describe_validation_error(exc) if not line.startswith(": ")]
            problems += [
                f"{label}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors() if not err["loc"]
            ]
    ids = [entry.get("id") for entry in entries if isinstance(entry, dict) and entry.get("id")]
    problems += [
        f"{label_prefix}{i}: duplicate alert id ({ids.count(i)} entries)" for i in sorted(set(ids)) if ids.count(i) > 1
    ]
    return parsed, problems


def parse_alerts(entries: list, shown: str = "catalogue/alerts.yaml", service_entries: list = ()) -> AlertCatalogue:
    alerts, problems = _parse_entries(Alert, entries)
    service_alerts, service_problems = _parse_entries(ServiceAlert, list(service_entries), "serviceAlerts.")
    problems += service_problems
    if problems:
        raise ConfigurationError(shown, problems, fix="edit catalogue/alerts.yaml; each alarm needs every field")
    return AlertCatalogue(alerts=tuple(alerts), service_alerts=tuple(service_alerts))
