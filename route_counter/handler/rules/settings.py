"""Handler configuration from the Lambda environment, parsed once per container.

The environment is built by one function, ``infra.settings.StackSettings.handler_environment``, for the
Pulumi program and the local API alike, so every variable is always present: none has a default here
(the defaults live in Pulumi.yaml alone). A missing or bad variable fails the function at init.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping, NamedTuple

from ..rules.buckets import UTC, Days, check_zone
from ..rules.limits import RateLimits, parse_rate_limits
from ..rules.links import Links, parse_links
from ..rules.routes import DYNAMODB_KEY_LIMIT, RouteRules, parse_prefixes, parse_templates, split_list

if TYPE_CHECKING:
    from ..rules.addresses import Network

# Environment variable names: the Pulumi program and the local server set exactly these.
TABLE_NAME = "TABLE_NAME"
CORS_ORIGINS = "CORS_ORIGINS"
MAX_ROUTE_BYTES = "MAX_ROUTE_BYTES"
ALLOW_PREFIXES = "ALLOW_PREFIXES"
ROUTE_TEMPLATES = "ROUTE_TEMPLATES"
COUNTS_PATH = "COUNTS_PATH"
WRITER = "WRITER"
DOWNLOADS = "DOWNLOADS"
DOWNLOAD_BUCKET = "DOWNLOAD_BUCKET"
REDIRECTS = "REDIRECTS"
RATE_LIMITS = "RATE_LIMITS"
COUNT_COUNTRIES = "COUNT_COUNTRIES"
COUNT_BOTS = "COUNT_BOTS"
VISITOR_TABLE = "VISITOR_TABLE"  # "" unless uniqueVisitors: the table of today's visitor markers
VISITOR_SECRET = "VISITOR_SECRET"  # base64, generated per stack by the program ("" unless uniqueVisitors)
IGNORE_IPS = "IGNORE_IPS"  # CIDR blocks whose hits are answered but never counted (ignoreIps)
ROUTE_EXPIRY_DAYS = "ROUTE_EXPIRY_DAYS"  # "0", or the days without a counted hit after which TTL deletes a route
TIMEZONE = "TIMEZONE"  # the IANA zone whose calendar days the daily buckets are ("UTC")
METER_TABLE = "METER_TABLE"  # "" unless metering: batch markers and usage per API key
METER_SOURCES = "METER_SOURCES"  # "NAME=LOG_GROUP,...": the metered APIs (meter, meterLogGroup)
COUNTS_ACCESS = "COUNTS_ACCESS"  # the listing's: "public", "apiKey" or "iam" (countsAccess): usage is never public
METERED = "METERED"  # "NAME,...": the counter's share of METER_SOURCES: /NAME/... is counted only from logs
# "" for a table in one region; for a global table (replicaRegions) its home region, then its replicas: each
# region's functions write their own region's items and read every region's (handler/rules/parts.py).
TABLE_REGIONS = "TABLE_REGIONS"
VARIABLES = (TABLE_NAME, CORS_ORIGINS, MAX_ROUTE_BYTES, ALLOW_PREFIXES, ROUTE_TEMPLATES, COUNTS_PATH, WRITER,
             DOWNLOADS, DOWNLOAD_BUCKET, REDIRECTS, RATE_LIMITS, COUNT_COUNTRIES, COUNT_BOTS, VISITOR_TABLE,
             VISITOR_SECRET, IGNORE_IPS, ROUTE_EXPIRY_DAYS, TIMEZONE, METER_TABLE, METER_SOURCES, METERED, COUNTS_ACCESS,
             TABLE_REGIONS)
MAX_EXPIRY_DAYS = 3650
# What each function reads, and so all it is given (least privilege for configuration too): the listing
# resolves routes, marks links and says which features are on, but never writes, presigns, limits, or sees
# the visitor secret (nor may its role read the markers table whose name it is told).
COUNTER_VARIABLES = tuple(name for name in VARIABLES if name not in (METER_TABLE, METER_SOURCES, COUNTS_ACCESS))
LISTING_VARIABLES = (TABLE_NAME, CORS_ORIGINS, MAX_ROUTE_BYTES, ALLOW_PREFIXES, ROUTE_TEMPLATES, COUNTS_PATH,
                     DOWNLOADS, REDIRECTS, COUNT_COUNTRIES, COUNT_BOTS, VISITOR_TABLE, TIMEZONE, METER_TABLE, COUNTS_ACCESS,
                     TABLE_REGIONS)
# The metering function: the route rules, the days, expiry, and where markers and usage go.
METER_VARIABLES = (TABLE_NAME, MAX_ROUTE_BYTES, ALLOW_PREFIXES, ROUTE_TEMPLATES, COUNTS_PATH, ROUTE_EXPIRY_DAYS,
                   TIMEZONE, METER_TABLE, METER_SOURCES)
FUNCTION_VARIABLES = {"counter": COUNTER_VARIABLES, "listing": LISTING_VARIABLES, "meter": METER_VARIABLES}
# Lambda refuses an environment whose JSON form ({"KEY":"value",...}) exceeds 4 KB (its error quotes the
# "String measured"; Lambda quotas, "Function environment variables": 4 KB, not adjustable).
ENVIRONMENT_LIMIT = 4096

ANY_ORIGIN = "*"
ACCESS_MODES = ("public", "apiKey", "iam")  # countsAccess: the first is the default
WRITERS = ("lean", "botocore")  # how the counter writes (stack config `writer`): the first is the default
_DIGITS = re.compile(r"^[0-9]{1,9}$")  # ASCII only: str.isdigit() accepts '²', which int() refuses
_PATH_PART = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ConfigError(RuntimeError):
    """The environment is misconfigured; raised at import so the function fails at init, not per request."""


class Settings(NamedTuple):
    table_name: str
    cors_origins: tuple[str, ...]
    rules: RouteRules
    counts_path: str  # the listing's path segment, e.g. "_counts"
    writer: str  # the counter's store client: "lean" or "botocore"
    links: Links  # counted downloads and redirects
    download_bucket: str  # where the downloads are ("" without any)
    limits: RateLimits  # per-route rate limits
    count_countries: bool  # count CloudFront-Viewer-Country (only behind API Gateway's edge network)
    count_bots: bool  # listed crawlers' hits go to "bots", not count
    visitor_table: str  # "" unless unique visitors are counted
    visitor_secret: bytes  # the per-stack secret the day's salt is derived from
    ignored: tuple[Network, ...] = ()  # source networks never counted (ignoreIps)
    expiry_days: int = 0  # routeExpiryDays (0: routes never expire)
    days: Days = UTC  # the calendar days of the stack's timezone
    meter_table: str = ""  # batch markers and usage per API key ("" without metering)
    sources: Mapping[str, str] = {}  # metered log group -> its name (the route prefix)
    counts_access: str = ACCESS_MODES[0]  # how the listing path is guarded (countsAccess)
    regions: tuple[str, ...] = ()  # the global table's regions, home first (TABLE_REGIONS); () in one region
    region: str = ""  # this function's region (Lambda's AWS_REGION)

    @property
    def own_part(self) -> str:
        """The region label this function writes under (handler/rules/parts.py): "" in the home region."""
        return "" if not self.regions or self.region == self.regions[0] else self.region

    @property
    def read_regions(self) -> tuple[str, ...]:
        """Whose heads a route sums: the home region's ("") and each replica region's."""
        return ("", *self.regions[1:])

    @classmethod
    def from_env(cls, env: Mapping[str, str], variables: tuple[str, ...] = COUNTER_VARIABLES) -> Settings:
        """Parse and validate the ``variables`` a function is given (each one required); what it is not
        given is off or empty. Every problem names the variable and what it accepts."""
        raw_region = env.get("AWS_REGION")  # set by Lambda itself
        missing = [name for name in variables if name not in env]
        if missing:
            raise ConfigError(f"missing environment variable(s) {', '.join(missing)}: set by the Pulumi program")
        off = {COUNT_COUNTRIES: "false", COUNT_BOTS: "false", WRITER: WRITERS[0], ROUTE_EXPIRY_DAYS: "0",
               TIMEZONE: UTC.zone, COUNTS_ACCESS: ACCESS_MODES[0]}
        env = {name: env[name] if name in variables else off.get(name, "") for name in VARIABLES}
        table = env[TABLE_NAME].strip()
        if not table:
            raise ConfigError(f"{TABLE_NAME} is required: the DynamoDB table holding the counts")
        raw_max = env[MAX_ROUTE_BYTES].strip()
        max_bytes = int(raw_max) if _DIGITS.fullmatch(raw_max) else 0
        if not 1 <= max_bytes <= DYNAMODB_KEY_LIMIT:
            raise ConfigError(f"{MAX_ROUTE_BYTES} must be an integer from 1 to {DYNAMODB_KEY_LIMIT}, got {raw_max!r}")
        counts_path = env[COUNTS_PATH].strip()
        if not _PATH_PART.fullmatch(counts_path) or counts_path in (".", ".."):
            raise ConfigError(f"{COUNTS_PATH} must be one path segment of letters, digits, '.', '_' or '-', got {counts_path!r}")
        try:
            prefixes = parse_prefixes(env[ALLOW_PREFIXES])
        except ValueError as exc:
            raise ConfigError(f"{ALLOW_PREFIXES}: {exc}") from None
        try:
            templates = parse_templates(env[ROUTE_TEMPLATES])
        except ValueError as exc:
            raise ConfigError(f"{ROUTE_TEMPLATES}: {exc}") from None
        writer = env[WRITER].strip()
        if writer not in WRITERS:
            raise ConfigError(f"{WRITER} must be {' or '.join(WRITERS)}, got {writer!r}")
        origins = tuple(split_list(env[CORS_ORIGINS])) or (ANY_ORIGIN,)
        # The metering and ignoreIps parsers load only when set: other stacks' cold starts never compile them.
        sources: dict[str, str] = {}
        if env[METER_SOURCES].strip():
            from ..rules.sources import parse_sources

            try:
                sources = parse_sources(env[METER_SOURCES], counts_path)
            except ValueError as exc:
                raise ConfigError(f"{METER_SOURCES}: {exc}") from None
        # Nothing under the listing path is ever counted, however the request spells it; nor, by the counter,
        # anything under a metered API's name (its count moves by its access logs and the admin CLI alone).
        metered: tuple[str, ...] = ()
        if env[METERED].strip():
            from ..rules.sources import parse_names

            try:
                metered = tuple("/" + name for name in parse_names(env[METERED]))
            except ValueError as exc:
                raise ConfigError(f"{METERED}: {exc}") from None
        rules = RouteRules(max_bytes, prefixes, templates, reserved=("/" + counts_path, *metered))
        try:
            links = parse_links(env[DOWNLOADS], env[REDIRECTS], rules)
        except ValueError as exc:
            raise ConfigError(str(exc).replace("downloads:", f"{DOWNLOADS}:").replace("redirects:", f"{REDIRECTS}:")) from None
        bucket = env[DOWNLOAD_BUCKET].strip()
        if links.downloads and not bucket and DOWNLOAD_BUCKET in variables:
            raise ConfigError(f"{DOWNLOAD_BUCKET} is required with {DOWNLOADS}")
        try:
            limits = parse_rate_limits(env[RATE_LIMITS])
        except ValueError as exc:
            raise ConfigError(f"{RATE_LIMITS}: {exc}") from None
        flags = {}
        for name in (COUNT_COUNTRIES, COUNT_BOTS):
            flag = env[name].strip().lower()
            if flag not in ("true", "false"):
                raise ConfigError(f"{name} must be true or false, got {env[name]!r}")
            flags[name] = flag == "true"
        visitor_table, secret = env[VISITOR_TABLE].strip(), b""
        if env[VISITOR_SECRET].strip():  # only a stack counting visitors has one: base64 is imported for it alone
            import base64

            try:
                secret = base64.b64decode(env[VISITOR_SECRET].strip(), validate=True)
            except ValueError:
                raise ConfigError(f"{VISITOR_SECRET} must be base64") from None
        if visitor_table and len(secret) < 16 and VISITOR_SECRET in variables:
            raise ConfigError(f"{VISITOR_SECRET} must hold at least 16 bytes with {VISITOR_TABLE}")
        ignored: tuple[Network, ...] = ()
        if env[IGNORE_IPS].strip():
            from ..rules.addresses import parse_networks

            try:
                ignored = parse_networks(env[IGNORE_IPS])
            except ValueError as exc:
                raise ConfigError(f"{IGNORE_IPS}: {exc}") from None
        raw_days = env[ROUTE_EXPIRY_DAYS].strip()
        if not _DIGITS.fullmatch(raw_days) or int(raw_days) > MAX_EXPIRY_DAYS:
            raise ConfigError(f"{ROUTE_EXPIRY_DAYS} must be an integer from 0 to {MAX_EXPIRY_DAYS}, got {raw_days!r}")
        try:
            days = check_zone(env[TIMEZONE].strip())
        except ValueError as exc:
            raise ConfigError(f"{TIMEZONE}: {exc}") from None
        access = env[COUNTS_ACCESS].strip()
        if access not in ACCESS_MODES:
            raise ConfigError(f"{COUNTS_ACCESS} must be one of {', '.join(ACCESS_MODES)}, got {access!r}")
        meter_table = env[METER_TABLE].strip()
        if sources and not meter_table and METER_TABLE in variables:
            raise ConfigError(f"{METER_TABLE} is required with {METER_SOURCES}")
        regions = tuple(split_list(env[TABLE_REGIONS]))
        region = (raw_region or "").strip()
        if regions and region and region not in regions:
            raise ConfigError(f"{TABLE_REGIONS}: this function runs in {region}, which is not one of the table's regions "
                              f"({', '.join(regions)})")
        return cls(table, origins, rules, counts_path, writer, links, bucket, limits, flags[COUNT_COUNTRIES],
                   flags[COUNT_BOTS], visitor_table, secret, ignored, int(raw_days), days, meter_table,
                   {group: name for name, group in sources.items()}, access, regions, region if regions else "")
