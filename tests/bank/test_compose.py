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

from collector.metrics import GRAPH_LABELS
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


def test_the_service_graph_is_a_node_graph_of_the_service_graph_metrics():
    """A Node Graph panel fed by Prometheus: one instant table query whose rows are the
    edges (Grafana makes the nodes from them), with the ``id``, ``source`` and ``target``
    fields the node graph needs built by ``label_join`` from the service-graph metric's
    ``client`` and ``server`` labels, and the rate as each edge's ``mainstat``."""
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/critpath.json").read_text())
    (panel,) = [p for p in dashboard["panels"] if p["type"] == "nodeGraph"]
    assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
    (target,) = panel["targets"]
    assert target["format"] == "table" and target["instant"] is True
    assert target["datasource"]["uid"] == "prometheus"
    expr = target["expr"]
    # The innermost expression: requests per second per (client, server) edge of the
    # metric critpath's collector exports, with those labels.
    inner = re.search(r"sum by \(([\w, ]+)\) \(rate\((\w+)\[", expr)
    assert inner is not None, expr
    grouping = [label.strip() for label in inner.group(1).split(",")]
    assert inner.group(2) == "traces_service_graph_request_total"
    assert grouping == ["client", "server"] and set(grouping) <= set(GRAPH_LABELS)
    # label_join(v, dst, separator, src...): each new label and where it comes from.
    joins = {
        dst: (sep, [s.strip().strip('"') for s in sources.split(",")])
        for dst, sep, sources in re.findall(
            r'"(\w+)", "([^"]*)", ((?:"\w+"(?:, )?)+)\)', expr
        )
    }
    assert expr.count("label_join(") == len(joins) == 3, joins
    assert joins["source"] == ("", ["client"]) and joins["target"] == ("", ["server"])
    separator, id_sources = joins["id"]
    assert separator and id_sources == ["client", "server"]
    # The value becomes the edge's main statistic; the table's time column goes.
    (organize,) = [t for t in panel["transformations"] if t["id"] == "organize"]
    assert organize["options"]["renameByName"] == {"Value": "mainstat"}
    assert organize["options"]["excludeByName"] == {"Time": True}
    # It sits in the service-graph row, which it starts.
    rows = sorted(
        (p for p in dashboard["panels"] if p["type"] == "row"), key=lambda p: p["gridPos"]["y"]
    )
    (graph_row,) = [r for r in rows if r["title"].startswith("Service graph")]
    assert panel["gridPos"]["y"] == graph_row["gridPos"]["y"] + 1
    # No two panels overlap.
    cells = set()
    for p in dashboard["panels"]:
        g = p["gridPos"]
        xs, ys = range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])
        mine = {(x, y) for x in xs for y in ys}
        assert not cells & mine, p["title"]
        cells |= mine


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
