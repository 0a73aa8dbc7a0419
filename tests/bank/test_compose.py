"""docker-compose.yml and its config files: parsed and cross-checked (no engine needed),
and also checked by ``docker compose config`` wherever a compose client works."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from instrumented_bank.settings import SERVICE_NAMES, BankSettings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolated(value: str) -> str:
    """``value`` as compose sees it with no variables set: ``${X:-default}`` -> default."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(value))


def bind_sources(service: dict) -> list[Path]:
    """Host paths of a service's bind mounts (``./x:/y[:ro]``)."""
    return [ROOT / v.split(":")[0] for v in service.get("volumes", []) if v.startswith("./")]


def test_every_bank_service_runs_from_the_one_image_on_its_port():
    services = compose()["services"]
    images = set()
    for name in SERVICE_NAMES:
        service = services[name]
        env = service["environment"]
        images.add((service["image"], service["build"]["dockerfile"]))
        assert service["command"] == ["python", "-m", "instrumented_bank.service", name]
        settings = BankSettings.from_env({k: interpolated(v) for k, v in env.items()})
        port = settings.port_of(name)
        assert service["expose"] == [str(port)]
        assert env["HEALTH_URL"] == f"http://127.0.0.1:{port}/healthz"
        assert settings.host == "0.0.0.0"
        assert settings.url_of("merchant") == f"http://merchant:{settings.port_of('merchant')}"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert "bank-data:/data" in service["volumes"] and env["BANK_DATA_DIR"] == "/data"
        assert settings.queue_url == "redis://redis:6379/0"
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert "healthcheck" in service
    assert images == {("critpath:local", "Dockerfile")}
    assert services["critpath"]["image"] == "critpath:local"
    assert (ROOT / "Dockerfile").is_file()
    traffic = services["bank-traffic"]
    assert traffic["command"][:3] == ["python", "-m", "instrumented_bank.traffic"]
    assert set(traffic["depends_on"]) == set(SERVICE_NAMES)


def test_the_work_queue_is_a_durable_redis_broker():
    compose_file = compose()
    redis = compose_file["services"]["redis"]
    assert redis["image"].startswith("redis:")  # the official image
    command = redis["command"]
    # Durable across a broker restart: append-only file on a named volume.
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    (volume,) = redis["volumes"]
    name, mount = volume.split(":")
    assert mount == "/data" and name in compose_file["volumes"]
    assert redis["expose"] == ["6379"]
    assert "redis-cli" in redis["healthcheck"]["test"]
    # Every bank service reaches it by its compose name, on the port it exposes.
    for service in SERVICE_NAMES:
        url = compose_file["services"][service]["environment"]["BANK_QUEUE_URL"]
        assert url.startswith(f"redis://redis:{redis['expose'][0]}/")


def test_spans_flow_bank_to_otel_collector_to_critpath():
    services = compose()["services"]
    critpath = services["critpath"]
    assert critpath["command"][:2] == ["critpath", "collect"]
    command = " ".join(critpath["command"])
    assert "--otlp-http-port 4318" in command and "--otlp-grpc-port 4317" in command
    assert "--port 8686" in command and "8686:8686" in critpath["ports"]

    otel = services["otel-collector"]
    assert "opentelemetry-collector-contrib" in otel["image"]
    assert {"4317:4317", "4318:4318"} <= set(otel["ports"])
    (config_path,) = bind_sources(otel)
    config = yaml.safe_load(config_path.read_text())
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    (exporter,) = pipeline["exporters"]
    assert config["exporters"][exporter]["endpoint"] == "http://critpath:4318"
    assert set(pipeline["processors"]) <= set(config["processors"])


def test_prometheus_scrapes_critpath_and_grafana_is_provisioned():
    services = compose()["services"]
    (prometheus_config,) = bind_sources(services["prometheus"])
    scrape = yaml.safe_load(prometheus_config.read_text())["scrape_configs"]
    (job,) = [j for j in scrape if j["job_name"] == "critpath"]
    assert (
        job["static_configs"][0]["targets"] == ["critpath:8686"]
        and job["metrics_path"] == "/metrics"
    )

    provisioning, dashboards = bind_sources(services["grafana"])
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "critpath.yml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"

    dashboard = json.loads((dashboards / "critpath.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert all(
        t["datasource"]["uid"] == datasource["uid"]
        for p in dashboard["panels"]
        for t in p.get("targets", [])
    )
    for metric in (
        "traces_service_graph_request_total",
        "traces_service_graph_request_failed_total",
        "traces_service_graph_request_server_seconds_bucket",
        "critpath_critical_path_depth_bucket",
        "critpath_findings_open",
    ):
        assert any(metric in q for q in queries), metric


def test_every_mounted_file_exists_and_the_image_leaves_out_the_workspace():
    for service in compose()["services"].values():
        for source in bind_sources(service):
            assert source.exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def compose_client() -> list[str] | None:
    """The compose command on this machine: the v2 plugin, else v1's ``docker-compose``."""
    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True
    ).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_the_project_is_named_critpath_demo_for_both_compose_versions():
    # v1 rejects a top-level `name:`; both versions read COMPOSE_PROJECT_NAME from .env.
    assert "name" not in compose()
    settings = dict(
        line.split("=", 1)
        for line in (ROOT / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings == {"COMPOSE_PROJECT_NAME": "critpath-demo"}


def test_docker_compose_accepts_the_file():
    """Structure is checked above everywhere; where a compose client is installed
    (scripts/install-test-deps adds Debian's docker-compose beside a docker client),
    its own validation must pass too."""
    client = compose_client()
    if client is None:
        pytest.skip("no compose client: neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*client, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
