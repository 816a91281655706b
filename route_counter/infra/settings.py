"""Stack settings: Pulumi.yaml's typed config schema, validated once. Pure (no Pulumi import).

``__main__.py`` reads the stack config and passes it to ``parse``; the local API does the same with its
flags, so both get the defaults declared in Pulumi.yaml and the same error messages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

import yaml

from route_counter.handler.rules import settings as env
from route_counter.handler.rules.buckets import UTC_NAME
from route_counter.handler.rules.links import Download
from route_counter.handler.rules.routes import DYNAMODB_KEY_LIMIT, split_list
from route_counter.handler.rules.settings import WRITERS
from route_counter.handler.rules.sources import EXAMPLE_ROUTES, parse_names, parse_sources
from route_counter.infra.asset import project_file, zone_names

OWN_SOURCE = "api"  # what the stack's own log group (meterLogGroup) is metered as


def own_group_name(project: str, stack: str) -> str:
    """The name of the stack's own access-log group (meterLogGroup): known before it exists, so the
    function's environment (and the CLI's replay) can name it."""
    return f"/route-counter/{project}-{stack}/access-logs"

PROJECT_FILE = project_file("Pulumi.yaml")

ARCHITECTURES = ("arm64", "x86_64")
WAF_LEAST = 100  # wafRateLimit's least: pulumi-aws 7 validates 100..2e9 (WAF's API takes 10; pulumi/pulumi-aws#5841)
# The retention values CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
_STAGE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# What an API Gateway path part may hold; "." and ".." would vanish when the route rules normalise a path.
_PATH_PART = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,64}$")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
ENDPOINT_TYPES = ("REGIONAL", "EDGE")
COUNTS_ACCESS = env.ACCESS_MODES  # declared once, with the variable the listing reads
_TAG_KEY = re.compile(r"^(?!aws:)[\w .:/=+@-]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w .:/=+@-]{0,256}$")  # what Lambda's LoggingConfig accepts for system logs
_ORIGIN = re.compile(r"^https?://[^/\s,*]+$")
_ARCHITECTURE = re.compile("^(" + "|".join(ARCHITECTURES) + ")$")
_SYSTEM_LOG_LEVEL = re.compile("^(" + "|".join(SYSTEM_LOG_LEVELS) + ")$")
_WRITER = re.compile("^(" + "|".join(WRITERS) + ")$")
_ENDPOINT_TYPE = re.compile("^(" + "|".join(ENDPOINT_TYPES) + ")$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:certificate/[0-9a-f-]{36}$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}/[A-Za-z0-9._-]{1,100}/[A-Za-z0-9._-]{1,100}$")


T = TypeVar("T")


CHECK_SECRET = "Y2hlY2stb25seS1ub3QtYS1zZWNyZXQ="  # base64 of 22 bytes: only to validate the rest of the environment


class SettingsError(ValueError):
    """A config value is out of range; the message names the key and what it accepts."""


@dataclass(frozen=True)
class StackSettings:
    stage_name: str
    counts_path: str
    cors_origins: str
    allow_prefixes: str
    route_templates: str
    max_route_bytes: int
    memory_size: int
    listing_memory_size: int
    architecture: str
    log_retention_days: int
    throttle_rate_limit: int
    throttle_burst_limit: int
    reserved_concurrency: int | None
    listing_reserved_concurrency: int | None
    protect_data: bool
    tracing: bool
    access_logs: bool
    apigateway_logs_role: bool
    detailed_metrics: bool
    system_log_level: str
    writer: str
    downloads: str
    redirects: str
    rate_limits: str
    endpoint_type: str
    counts_access: str
    waf_rate_limit: int | None
    monthly_budget: int | None
    traffic_alarm: int | None
    traffic_anomaly: bool
    domain_name: str | None
    certificate_arn: str | None
    hosted_zone_id: str | None
    tags: tuple[tuple[str, str], ...]
    unique_visitors: bool
    count_bots: bool
    ignore_ips: str
    route_expiry_days: int
    timezone: str
    meter: str  # NAME=LOG_GROUP,... (validated)
    meter_log_group: bool
    alarm_email: str | None
    replica_regions: tuple[str, ...] = ()  # replicaRegions: the global table's other regions
    replica_of: str | None = None  # replicaOf: the stack whose global table this stack's region holds a replica of
    # Metered APIs whose log groups a program gives in code (RouteCounter's meter_log_groups: a StackReference's
    # outputs, say), by name; their groups are known only at deploy time. Never from config.
    meter_in_code: tuple[str, ...] = ()

    def resource_tags(self, project: str, stack: str) -> dict[str, str]:
        """What every resource carries: the user's ``tags`` and the stack's own (which win)."""
        return {**dict(self.tags), "pulumi:project": project, "pulumi:stack": stack}

    @property
    def metering(self) -> bool:
        return bool(self.meter or self.meter_log_group or self.meter_in_code)

    def meter_sources(self, created_group: str = "", in_code: Mapping[str, str] | None = None) -> str:
        """METER_SOURCES: the configured sources, the stack's own log group as ``api`` (meterLogGroup), then the
        groups given in code (``in_code``: name -> group, once known)."""
        own = [f"{OWN_SOURCE}={created_group}"] if self.meter_log_group and created_group else []
        given = [f"{name}={group}" for name, group in (in_code or {}).items()]
        return ",".join(split_list(self.meter) + own + given)

    def metered_names(self) -> list[str]:
        """The metered APIs' names: the configured sources, ``api`` with meterLogGroup, those given in code."""
        names = [entry.partition("=")[0].strip() for entry in split_list(self.meter)]  # checked with METER_SOURCES
        return names + ([OWN_SOURCE] if self.meter_log_group else []) + list(self.meter_in_code)

    def with_meter_in_code(self, names: Iterable[str]) -> StackSettings:
        """These settings, also metering the APIs ``names`` whose log groups a program gives in code: each name
        checked as a ``meter`` name is, and none taken twice."""
        given = tuple(names)
        try:
            parse_names(",".join(given))
        except ValueError as exc:
            raise SettingsError(f"meter_log_groups: {exc}") from None
        for name in given:
            if name in self.metered_names() or given.count(name) > 1:
                raise SettingsError(f"meter_log_groups: {name!r} is metered already; each name may appear once")
            if name == self.counts_path or name in EXAMPLE_ROUTES:
                raise SettingsError(f"meter_log_groups: {name!r} is the listing's path or a route the README counts")
        return replace(self, meter_in_code=self.meter_in_code + given)

    @property
    def count_countries(self) -> bool:
        """Only API Gateway's edge network sets CloudFront-Viewer-Country; elsewhere anyone could send it."""
        return self.endpoint_type == "EDGE"

    def function_environment(
        self, function: str, table_name: T, download_bucket: T | str = "", visitor_table: T | str = "",
        visitor_secret: T | str = "", meter_table: T | str = "", meter_group: str = "", table_regions: T | str = "",
    ) -> dict[str, T | str]:
        """One function's Lambda environment: only the variables it reads (handler.rules.settings.FUNCTION_VARIABLES)."""
        everything = self.handler_environment(table_name, download_bucket, visitor_table, visitor_secret, meter_table,
                                              meter_group, table_regions)
        return {name: everything[name] for name in env.FUNCTION_VARIABLES[function]}

    def handler_environment(
        self, table_name: T, download_bucket: T | str = "", visitor_table: T | str = "", visitor_secret: T | str = "",
        meter_table: T | str = "", meter_group: str = "", table_regions: T | str = "",
    ) -> dict[str, T | str]:
        """Every variable the handlers read (names from handler.rules.settings): the one function that turns
        settings into them, for the Pulumi program (names and the secret are Outputs there, and each
        function gets its share through ``function_environment``) and the local API (one process, both
        handlers)."""
        return {
            env.TABLE_NAME: table_name,
            env.CORS_ORIGINS: self.cors_origins,
            env.MAX_ROUTE_BYTES: str(self.max_route_bytes),
            env.ALLOW_PREFIXES: self.allow_prefixes,
            env.ROUTE_TEMPLATES: self.route_templates,
            env.COUNTS_PATH: self.counts_path,
            env.WRITER: self.writer,
            env.DOWNLOADS: self.downloads,
            env.DOWNLOAD_BUCKET: download_bucket,
            env.REDIRECTS: self.redirects,
            env.RATE_LIMITS: self.rate_limits,
            env.COUNT_COUNTRIES: "true" if self.count_countries else "false",
            env.COUNT_BOTS: "true" if self.count_bots else "false",
            env.VISITOR_TABLE: visitor_table if self.unique_visitors else "",
            env.VISITOR_SECRET: visitor_secret if self.unique_visitors else "",
            env.IGNORE_IPS: self.ignore_ips,
            env.ROUTE_EXPIRY_DAYS: str(self.route_expiry_days),
            env.TIMEZONE: self.timezone,
            env.METER_TABLE: meter_table,
            env.METER_SOURCES: self.meter_sources(meter_group),
            env.METERED: ",".join(self.metered_names()),
            env.COUNTS_ACCESS: self.counts_access,
            env.TABLE_REGIONS: table_regions,  # "" for a table in one region; else its home region, then replicas
        }


def schema(path: Path = PROJECT_FILE) -> dict[str, dict[str, Any]]:
    """The program's own keys in the ``config:`` section of Pulumi.yaml (not another namespace's, such as the
    ``pulumi:tags`` that `pulumi new` adds). Read once a process, however the path is given."""
    return _schema(Path(path).resolve())


@lru_cache(maxsize=None)
def _schema(path: Path) -> dict[str, dict[str, Any]]:
    # libyaml's parser where PyYAML has it (its wheels do): the pure-Python one takes ~35 ms for this file.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    config: dict[str, dict[str, Any]] = yaml.load(path.read_text(), Loader=loader)["config"]
    return {key: spec for key, spec in config.items() if ":" not in key}


def defaults(path: Path = PROJECT_FILE) -> dict[str, Any]:
    """Each key's declared default (every key has one: see Pulumi.yaml)."""
    return {key: spec["default"] for key, spec in schema(path).items() if "default" in spec}


def _int(key: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{key} must be an integer from {low} to {high}, got {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{key} must be an integer from {low} to {high}, got {number}")
    return number


def _regions(value: Any, region: str | None) -> tuple[str, ...]:
    """replicaRegions: AWS region names, each once, none the stack's own."""
    found = tuple(split_list(str(value)))
    for name in found:
        if not _REGION.fullmatch(name):
            raise SettingsError(f"replicaRegions: {name!r} is not an AWS region like eu-west-1")
        if found.count(name) > 1 or name == region:
            raise SettingsError(f"replicaRegions: {name} is listed twice or is the stack's own region ({region})")
    return found


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise SettingsError(f"{key} must be true or false, got {value!r}")
    return text == "true"


def _match(key: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    text = str(value).strip()
    if not pattern.fullmatch(text):
        raise SettingsError(f"{key} must be {what}, got {value!r}")
    return text


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip()
    if text not in choices:
        raise SettingsError(f"{key} must be {' or '.join(choices)}, got {value!r}")
    return text


def _tags(value: Any) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in (e.strip() for e in str(value).split(",") if e.strip()):
        key, sep, tag = (part.strip() for part in entry.partition("="))
        if not sep or not _TAG_KEY.fullmatch(key) or not _TAG_VALUE.fullmatch(tag):
            raise SettingsError(f"tags must be comma-separated KEY=VALUE (keys 1-128 characters, not aws:...), got {entry!r}")
        if key in ("pulumi:project", "pulumi:stack"):
            raise SettingsError(f"tags: {key} is set by the program")
        pairs.append((key, tag))
    return tuple(pairs)


def _optional(key: str, value: Any, pattern: re.Pattern[str], what: str, lower: bool = False) -> str | None:
    """An optional string setting: "" is unset; anything else must match."""
    text = str(value).strip()
    if not text:
        return None
    return _match(key, text.lower() if lower else text, pattern, what)


def _check_domain(settings: StackSettings, region: str | None) -> None:
    """domainName takes exactly one way to its certificate, and a certificate where the endpoint type needs
    it: us-east-1 for EDGE (CloudFront), the stack's own region for REGIONAL."""
    if not settings.domain_name:
        if settings.certificate_arn or settings.hosted_zone_id:
            raise SettingsError("certificateArn and hostedZoneId go with domainName, which is not set")
        return
    if bool(settings.certificate_arn) == bool(settings.hosted_zone_id):
        raise SettingsError("domainName needs either certificateArn (a certificate you have) or hostedZoneId "
                            "(the stack requests one and validates it in that Route 53 zone), not both")
    if settings.certificate_arn:
        where = settings.certificate_arn.split(":")[3]
        needed = "us-east-1" if settings.endpoint_type == "EDGE" else region
        if needed and where != needed:
            reason = "an EDGE endpoint is served by CloudFront, which takes certificates from us-east-1" \
                if settings.endpoint_type == "EDGE" else "a REGIONAL endpoint takes one from the stack's region"
            raise SettingsError(f"certificateArn is a certificate in {where}, but {reason} ({needed})")


def _origins(value: Any) -> str:
    origins = [o.strip() for o in str(value).split(",") if o.strip()]
    if origins == ["*"]:
        return "*"
    if not origins or not all(_ORIGIN.fullmatch(o) for o in origins):
        raise SettingsError(f"corsOrigins must be * or comma-separated origins like https://example.com, got {value!r}")
    return ",".join(origins)


def _zone(value: Any) -> str:
    """An IANA zone name exactly as the shipped database spells it (a case-insensitive disk would find
    "europe/berlin" here, and Lambda's would not)."""
    name = str(value).strip()
    if name != UTC_NAME and name not in zone_names():
        raise SettingsError(f"timezone must be an IANA time zone name like Europe/Berlin or America/New_York "
                            f"(exact case), got {value!r}")
    return name


def parse(raw: Mapping[str, Any], path: Path = PROJECT_FILE, region: str | None = None,
          project_stack: tuple[str, str] | None = None) -> StackSettings:
    """Validate config values (strings as the CLI gives them, or typed); missing keys take Pulumi.yaml's defaults.
    ``region``, the stack's AWS region where known, lets a certificate of the wrong region be refused here;
    ``project_stack`` names the stack's own access-log group, so the environment's size is measured with it."""
    unknown = set(raw) - set(schema(path))
    if unknown:
        raise SettingsError(f"unknown config key(s): {', '.join(sorted(unknown))}")
    values = {**defaults(path), **{k: v for k, v in raw.items() if v is not None}}
    settings = StackSettings(
        stage_name=_match("stageName", values["stageName"], _STAGE, "1-128 letters, digits, - or _"),
        counts_path=_match(
            "countsPath", values["countsPath"], _PATH_PART,
            "one path segment of letters, digits, '.', '_' or '-' (what an API Gateway path part may hold), not . or ..",
        ),
        cors_origins=_origins(values["corsOrigins"]),
        allow_prefixes=str(values["allowPrefixes"]).strip(),
        route_templates=str(values["routeTemplates"]).strip(),
        max_route_bytes=_int("maxRouteBytes", values["maxRouteBytes"], 1, DYNAMODB_KEY_LIMIT),
        memory_size=_int("memorySize", values["memorySize"], 128, 10240),
        listing_memory_size=_int("listingMemorySize", values["listingMemorySize"], 128, 10240),
        architecture=_match("architecture", values["architecture"], _ARCHITECTURE, " or ".join(ARCHITECTURES)),
        log_retention_days=_int("logRetentionDays", values["logRetentionDays"], 1, 3653),
        throttle_rate_limit=_int("throttleRateLimit", values["throttleRateLimit"], 1, 10000),
        throttle_burst_limit=_int("throttleBurstLimit", values["throttleBurstLimit"], 1, 5000),
        # 0 (the default) means none reserved: the CLI needs a default of the declared type.
        reserved_concurrency=_int("reservedConcurrency", values["reservedConcurrency"], 0, 1000) or None,
        listing_reserved_concurrency=_int("listingReservedConcurrency", values["listingReservedConcurrency"], 0, 1000)
        or None,
        protect_data=_bool("protectData", values["protectData"]),
        tracing=_bool("tracing", values["tracing"]),
        access_logs=_bool("accessLogs", values["accessLogs"]),
        apigateway_logs_role=_bool("apiGatewayLogsRole", values["apiGatewayLogsRole"]),
        detailed_metrics=_bool("detailedMetrics", values["detailedMetrics"]),
        system_log_level=_match("systemLogLevel", str(values["systemLogLevel"]).upper(), _SYSTEM_LOG_LEVEL,
                                " or ".join(SYSTEM_LOG_LEVELS)),
        writer=_match("writer", values["writer"], _WRITER, " or ".join(WRITERS)),
        downloads=str(values["downloads"]).strip(),
        redirects=str(values["redirects"]).strip(),
        rate_limits=str(values["rateLimits"]).strip(),
        endpoint_type=_match("endpointType", str(values["endpointType"]).upper(), _ENDPOINT_TYPE,
                             " or ".join(ENDPOINT_TYPES)),
        counts_access=_choice("countsAccess", values["countsAccess"], COUNTS_ACCESS),
        waf_rate_limit=_int("wafRateLimit", values["wafRateLimit"], 0, 2_000_000_000) or None,
        monthly_budget=_int("monthlyBudget", values["monthlyBudget"], 0, 1_000_000) or None,
        traffic_alarm=_int("trafficAlarm", values["trafficAlarm"], 0, 1_000_000_000) or None,
        traffic_anomaly=_bool("trafficAnomaly", values["trafficAnomaly"]),
        domain_name=_optional("domainName", values["domainName"], _DOMAIN, "a domain name like count.example.com",
                              lower=True),
        certificate_arn=_optional("certificateArn", values["certificateArn"], _CERTIFICATE_ARN,
                                  "an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)"),
        hosted_zone_id=_optional("hostedZoneId", values["hostedZoneId"], _ZONE_ID, "a Route 53 hosted zone ID like Z0123456789ABC"),
        tags=_tags(values["tags"]),
        unique_visitors=_bool("uniqueVisitors", values["uniqueVisitors"]),
        count_bots=_bool("countBots", values["countBots"]),
        ignore_ips=",".join(split_list(str(values["ignoreIps"]))),
        route_expiry_days=_int("routeExpiryDays", values["routeExpiryDays"], 0, env.MAX_EXPIRY_DAYS),
        timezone=_zone(values["timezone"]),
        meter=",".join(split_list(str(values["meter"]))),
        meter_log_group=_bool("meterLogGroup", values["meterLogGroup"]),
        alarm_email=_match("alarmEmail", values["alarmEmail"], _EMAIL, "an email address")
        if str(values["alarmEmail"]).strip()
        else None,
        replica_regions=_regions(values["replicaRegions"], region),
        replica_of=_optional("replicaOf", values["replicaOf"], _STACK_NAME, "a stack's org/project/stack"),
    )
    if settings.replica_of and settings.replica_regions:
        raise SettingsError("replicaRegions and replicaOf exclude each other: the stack that owns the global table "
                            "lists its replicas; each replica region's stack names that stack in replicaOf")
    if settings.replica_of and settings.metering:
        raise SettingsError("meter and meterLogGroup belong with the global table's own stack, not with replicaOf")
    try:
        own_name_taken = settings.meter_log_group and OWN_SOURCE in parse_sources(settings.meter)
    except ValueError:
        own_name_taken = False  # the handlers' parser below names the problem
    if own_name_taken:
        raise SettingsError(f"meter: {OWN_SOURCE} is the name of the stack's own log group (meterLogGroup): pick another")
    if settings.waf_rate_limit is not None and settings.waf_rate_limit < WAF_LEAST:
        raise SettingsError(f"wafRateLimit must be 0 (no WAF) or from {WAF_LEAST} to 2000000000, got "
                            f"{settings.waf_rate_limit} (WAF itself takes 10, but pulumi-aws 7 refuses less than "
                            "100: pulumi/pulumi-aws#5841)")
    if settings.monthly_budget and not settings.alarm_email:
        raise SettingsError("monthlyBudget needs alarmEmail: the budget's alerts go to that address")
    _check_domain(settings, region)
    for key, on in (("trafficAlarm", settings.traffic_alarm), ("trafficAnomaly", settings.traffic_anomaly)):
        if on and not settings.alarm_email:
            raise SettingsError(f"{key} needs alarmEmail: the traffic alert goes to that address")
    if settings.log_retention_days not in LOG_RETENTION_DAYS:
        raise SettingsError(f"logRetentionDays must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}, got {settings.log_retention_days}")
    # The handlers' own parser checks prefixes and templates: the same rules, the config key named.
    names = {env.ALLOW_PREFIXES: "allowPrefixes", env.ROUTE_TEMPLATES: "routeTemplates", env.DOWNLOADS: "downloads",
             env.REDIRECTS: "redirects", env.RATE_LIMITS: "rateLimits", env.IGNORE_IPS: "ignoreIps",
             env.TIMEZONE: "timezone", env.METER_SOURCES: "meter", env.METERED: "meter"}
    try:
        checked = env.Settings.from_env(settings.handler_environment("check", "check", "check", CHECK_SECRET, "check",
                                                                     "check"), env.VARIABLES)
    except env.ConfigError as exc:
        message = str(exc)
        for var, key in names.items():
            message = message.replace(var, key)
        raise SettingsError(message) from None
    check_environment_size(settings, own_group_name(*project_stack) if project_stack else _NAME_ROOM)
    _check_tag_count(settings, bool(checked.links.downloads))
    for download in checked.links.downloads.values():  # before anything is created
        if not Path(download.source).is_file():
            raise SettingsError(f"downloads: {download.route}={download.source}: no such file (paths are relative to "
                                f"the project directory, {Path.cwd()})")
    return settings


# Physical names are only known after creation: measured with stand-ins at least as long as Pulumi's
# auto-names of this program's resources ("route-counter-table-" + 7 hex), and a 32-byte secret's base64.
_NAME_ROOM = "n" * 64
_SECRET_ROOM = "s" * 44


def _regions_room(settings: StackSettings) -> str:
    """TABLE_REGIONS at its longest: the home region (unknown here) and the replicas, or with replicaOf room
    for a table in eight regions."""
    longest = "r" * 16  # "ap-southeast-5" and the like
    if settings.replica_regions:
        return ",".join([longest, *settings.replica_regions])
    return ",".join([longest] * 8) if settings.replica_of else ""


def check_environment_size(settings: StackSettings, own_group: str, in_code: Mapping[str, str] | None = None) -> None:
    """Refuse, before anything is created, an environment Lambda would refuse half-way through a deploy. The
    metered log groups are measured by their real names (the own group's comes from project and stack, those
    given in code once known: ``in_code``)."""
    for function in env.FUNCTION_VARIABLES:
        variables = settings.function_environment(function, _NAME_ROOM, _NAME_ROOM, _NAME_ROOM, _SECRET_ROOM, _NAME_ROOM,
                                                  own_group, _regions_room(settings))
        variables[env.METER_SOURCES] = settings.meter_sources(own_group, in_code)
        variables = {name: value for name, value in variables.items() if name in env.FUNCTION_VARIABLES[function]}
        size = len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > env.ENVIRONMENT_LIMIT:
            names = {env.DOWNLOADS: "downloads", env.REDIRECTS: "redirects", env.RATE_LIMITS: "rateLimits",
                     env.ROUTE_TEMPLATES: "routeTemplates", env.ALLOW_PREFIXES: "allowPrefixes",
                     env.CORS_ORIGINS: "corsOrigins", env.METER_SOURCES: "meter"}
            largest = sorted(((len(str(variables.get(var, ""))), key) for var, key in names.items()), reverse=True)
            biggest = ", ".join(f"{key} ({n} bytes)" for n, key in largest if n)[:200]
            raise SettingsError(
                f"the {function} function's environment would be {size} bytes, over Lambda's limit of "
                f"{env.ENVIRONMENT_LIMIT} (keys and values together); the room is taken by {biggest}: "
                "shorten or drop some entries"
            )


# Tags a resource takes, with the program's own two (pulumi:project, pulumi:stack): S3 objects take 10
# (S3 User Guide, "Categorizing your storage using tags"), every other tagged resource here 50.
PROGRAM_TAGS = 2
OBJECT_TAG_LIMIT, RESOURCE_TAG_LIMIT = 10, 50


def _check_tag_count(settings: StackSettings, has_downloads: bool) -> None:
    limit, carrier = (OBJECT_TAG_LIMIT, "downloads' S3 objects") if has_downloads else (RESOURCE_TAG_LIMIT, "resources")
    if len(settings.tags) + PROGRAM_TAGS > limit:
        raise SettingsError(f"tags: {len(settings.tags)} given, but the {carrier} take at most {limit} tags, "
                            f"{PROGRAM_TAGS} of them the program's own: give at most {limit - PROGRAM_TAGS}")


def downloads(settings: StackSettings) -> list[Download]:
    """The stack's downloads (already validated by parse), for the program to upload."""
    return list(env.Settings.from_env(settings.handler_environment("t", "b", "v", CHECK_SECRET)).links.downloads.values())
