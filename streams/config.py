"""Settings from environment variables (ERS_*) over an optional TOML file over defaults."""
from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.topics import TopicNames

DEFAULT_CONFIG_FILE = Path("ers.toml")


class ConfigError(ValueError):
    pass


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    broker: str | None = Field(
        default=None, description="Kafka bootstrap address host:port; unset = `ers up` starts a local broker"
    )
    kafka_port: int = Field(default=9092, ge=1, le=65535, description="port of the local broker (`ers up`, `ers kafka`)")
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535, description="KRaft controller port of the local broker")
    database_url: str = Field(default="sqlite:///var/ers.db", description="SQLAlchemy URL")
    plan: Path = Field(default=Path("plans/arxan.yaml"), description="contingency plan file")
    topic_prefix: str = Field(default="ers.", pattern=r"^[A-Za-z0-9._-]*$", description="prefix of every topic")
    partitions: int = Field(default=4, ge=1, le=256, description="partitions of keyed topics")
    data_dir: Path = Field(default=Path("var"), description="local state: broker data, Faust tables")
    web_port: int = Field(default=6066, ge=1, le=65535, description="worker web server port")
    language: Literal["zh-CN", "en"] = Field(default="zh-CN", description="language of SMS and console")
    app_id: str = Field(default="ers", pattern=r"^[A-Za-z0-9_-]+$", description="Faust app id (consumer group)")
    group_instance: str = Field(default="", pattern=r"^[A-Za-z0-9._:-]*$", max_length=200, description=(
        "the worker's static group membership id (KIP-345): a restarted worker takes its partitions back at once "
        "instead of after the session timeout; default <app_id>-<host>-<web_port>, unique per worker on a host; "
        "`none`: dynamic membership"))
    roads: Path = Field(default=Path("plans/arxan-roads.geojson"), description="road graph (GeoJSON) for travel times")
    roster: Path = Field(default=Path("plans/arxan-roster.yaml"), description="duty roster file")
    public_url: str | None = Field(
        default=None, description="the URL Twilio reaches the worker's web server at (webhook signatures are "
                                  "checked against it); default http://127.0.0.1:<web_port>")
    twilio_account_sid: str | None = Field(default=None, description="Twilio account SID")
    twilio_auth_token: str | None = Field(default=None, description="Twilio auth token (environment only)")
    twilio_from: str | None = Field(default=None, description="sender: an E.164 number or a Messaging Service SID")
    future_margin_minutes: float = Field(default=10.0, gt=0, le=1440, description="a reading, report or ledger "
                                         "movement dated more than this ahead of the worker's clock is refused")
    twilio_voice_from: str | None = Field(default=None, description="the number calls (叫应) come from; default: "
                                                                    "ERS_TWILIO_FROM when that is a number")
    twilio_api_base: str | None = Field(
        default=None, description="send to this Twilio-compatible API instead of api.twilio.com (local sandbox)")
    sms_provider: Literal["twilio", "aliyun"] = Field(
        default="twilio", description="who carries SMS: twilio (outside mainland China), or aliyun (registered "
                                      "templates; replies come back by extension); a roster person's sms_provider "
                                      "overrides it")
    sms_templates: Path | None = Field(
        default=None, description="registered SMS templates, one per message kind (Aliyun); default: next to the "
                                  "roster, <name>-sms-templates.yaml for <name>-roster.yaml")
    aliyun_access_key_id: str | None = Field(default=None, description="Aliyun AccessKey id (SMS)")
    aliyun_access_key_secret: str | None = Field(default=None, description="Aliyun AccessKey secret (environment only)")
    aliyun_endpoint: str | None = Field(
        default=None, description="send to this Aliyun-compatible endpoint (host:port) instead of "
                                  "dysmsapi.aliyuncs.com (local sandbox)")
    aliyun_push_token: str | None = Field(
        default=None, description="secret path token of the SmsReport / SmsUp push URLs "
                                  "(<public_url>/aliyun/report/<token>, /aliyun/sms-up/<token>; environment only)")
    aliyun_push_allow: str | None = Field(
        default=None, description="comma-separated addresses or networks the pushes may come from (default: any)")
    tick_seconds: float = Field(default=5.0, gt=0, le=3600, description="how often time-driven rules are checked")
    clock: Literal["wall", "record"] = Field(
        default="wall", description="wall: agents read the wall clock and tick it; record: agents take the time from "
                                     "each record's Kafka timestamp and nothing ticks (`ers drill run` sets this)")
    drill_live_roster: bool = Field(
        default=False, description="drills page the roster's people instead of its drill phones (`ers drill run "
                                   "--live-roster`); drill SMS keep the 【演练】 prefix")
    hj212_host: str = Field(default="127.0.0.1", description="address the HJ 212 gateway listens on (0.0.0.0: "
                                                            "every interface, for stations on the network)")
    hj212_port: int = Field(default=6212, ge=0, le=65535, description="TCP port of the HJ 212 gateway (0: any free)")
    hj212_max_connections: int = Field(default=5000, ge=1, le=100000, description="station connections held at once")
    hj212_processes: int = Field(default=1, ge=0, le=64, description="gateway processes sharing the port, each serving "
                                                                     "its share of the MNs (0: one per CPU core)")
    hj212_idle_seconds: float = Field(default=3600.0, gt=0, description="a station connection quiet this long is "
                                                                        "closed (stations reconnect to send)")
    hj212_partial_seconds: float = Field(default=10.0, gt=0, description="a packet begun must be complete within "
                                                                         "this (slowloris)")
    hj212_packets_per_second: float = Field(default=20.0, gt=0, description="sustained packet rate per connection; "
                                                                            "bursts of 200 are allowed")
    console_host: str = Field(default="127.0.0.1", description="address the duty-room console (`ers web`) listens "
                                                               "on (0.0.0.0: every interface)")
    console_port: int = Field(default=8080, ge=0, le=65535, description="port of the console (0: any free)")
    console_secret: str | None = Field(default=None, min_length=32, description="key that signs console sessions; "
                                       "the same for every `ers web` process (environment only; unset: a random "
                                       "key per process, sessions end with it)")
    console_https: bool = Field(default=False, description="the console is reached over HTTPS (a proxy in front): "
                                                           "its cookies are marked Secure")
    console_map_tiles: str | None = Field(default=None, description="tile URL template of the console map's base "
                                          "layer, e.g. /tiles/{z}/{x}/{y}.png (a tile server of the duty room) or "
                                          "https://tiles.example.org/{z}/{x}/{y}.png (that origin is added to the "
                                          "map page's img-src); unset: no base layer, the map draws only the "
                                          "plan's features (offline)")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = Field(default="console", description="console: for people; json: "
                                                   "one JSON object a line (time, level, logger, message, process)")
    log_repeat_seconds: float = Field(default=60.0, gt=0, le=3600, description="a warning or error repeating is "
                                      "written once per this interval, with the count of those held back")

    @property
    def group_instance_id(self) -> str | None:
        if self.group_instance == "none":
            return None
        return self.worker_slot

    @property
    def worker_slot(self) -> str:
        """This worker's place in its group, one live process at a time (it holds the web port on its host): a
        process started in it after a crash is its predecessor's successor."""
        if self.group_instance and self.group_instance != "none":
            return self.group_instance
        return f"{self.app_id}-{socket.gethostname()}-{self.web_port}"

    @property
    def topics(self) -> TopicNames:
        return TopicNames(prefix=self.topic_prefix, partitions=self.partitions, any_time=self.clock == "record")

    @property
    def webhook_base(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.web_port}").rstrip("/")

    @property
    def templates_path(self) -> Path:
        if self.sms_templates is not None:
            return self.sms_templates
        return self.roster.with_name(self.roster.stem.removesuffix("-roster") + "-sms-templates.yaml")

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    @property
    def aliyun_configured(self) -> bool:
        return bool(self.aliyun_access_key_id and self.aliyun_access_key_secret and self.aliyun_push_token)

    @property
    def sms_configured(self) -> bool:
        """The deployment's provider has what it needs."""
        return self.aliyun_configured if self.sms_provider == "aliyun" else self.twilio_configured

    @property
    def client_bootstrap(self) -> str:
        """Where command-line clients connect: the configured broker, else the local one `ers up` runs."""
        return self.bootstrap if self.broker else f"127.0.0.1:{self.kafka_port}"

    @property
    def bootstrap(self) -> str:
        if self.broker is None:
            raise ConfigError("no broker configured (set ERS_BROKER or use `ers up`)")
        return self.broker.removeprefix("kafka://")


ENV_PREFIX = "ERS_"
SECRETS = ("twilio_auth_token", "aliyun_access_key_secret", "aliyun_push_token", "console_secret")


def load_settings(env: Mapping[str, str] | None = None, config_file: Path | None = None, **overrides: object) -> Settings:
    """Defaults < TOML file (ERS_CONFIG or ./ers.toml) < environment < explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    path = config_file or (Path(env["ERS_CONFIG"]) if "ERS_CONFIG" in env else None)
    if path is None and DEFAULT_CONFIG_FILE.exists():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        values.update(_read_toml(path))
    for name in Settings.model_fields:
        env_name = ENV_PREFIX + name.upper()
        if env_name in env and env[env_name] != "":
            values[name] = env[env_name]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()} ({'.'.join(map(str, e['loc']))}): {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc


def _read_toml(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    section = data.get("ers", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [ers] must be a table")
    secrets = sorted(set(section) & set(SECRETS))
    if secrets:
        raise ConfigError(f"{path}: {', '.join(secrets)} is a secret: set it in the environment "
                          f"({', '.join(ENV_PREFIX + s.upper() for s in secrets)}), not in a file")
    unknown = sorted(set(section) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(Settings.model_fields)}")
    return dict(section)
