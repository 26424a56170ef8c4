"""docker-compose.yaml, .env.example and docker/Dockerfile: structure checks (no Docker engine here).

The same topology runs for real, as processes, in tests/distributed/test_celery_run.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from payroll_etl.connectors.registry import CONNECTORS

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker": "celery worker"}
SECRETS = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_DB_PASSWORD",
           "WAREHOUSE_DB_PASSWORD", "PAYROLL_PSEUDONYM_KEY", "PAYROLL_IDENTITY_KEYS")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def test_every_component_is_a_service(services):
    assert set(AIRFLOW_SERVICES) | {"airflow-init", "postgres", "redis", "warehouse", "payroll-simulators"} \
        <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command, name
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["warehouse"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["payroll-simulators"]["entrypoint"] == ["python", "-m", "payroll_simulators"]


def test_airflow_services_share_one_image_built_from_the_dockerfile(services):
    for name in [*AIRFLOW_SERVICES, "airflow-init", "payroll-simulators"]:
        assert services[name]["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}, name
        assert services[name]["image"] == services["airflow-apiserver"]["image"]
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11$", dockerfile, re.M)
    assert "requirements.txt" in dockerfile and "pip install" in dockerfile
    assert "apache-airflow==3.3.2" in (ROOT / "requirements.txt").read_text()


def test_celery_executor_and_shared_secrets(services):
    envs = {name: env_of(services[name]) for name in [*AIRFLOW_SERVICES, "airflow-init"]}
    for name, env in envs.items():
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379/" in env[
            "AIRFLOW__CELERY__BROKER_URL"], name
        assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert "@warehouse:5432/benefits" in env["PAYROLL_WAREHOUSE_URL"], name
        assert env["PAYROLL_DATA_DIR"] == "/opt/airflow/payroll-data"
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    # One JWT secret and one Fernet key for all, from .env, required (compose fails without them).
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        values = {env[key] for env in envs.values()}
        assert len(values) == 1, f"{key} differs between services: {values}"
        assert re.fullmatch(r"\$\{" + key + r":\?[^}]+\}", values.pop()), f"{key} must be required from .env"


def test_no_secret_is_written_into_the_compose_file(services):
    for name, service in services.items():
        for key, value in env_of(service).items():
            if re.search(r"PASSWORD|SECRET|FERNET|PSEUDONYM", key):
                assert str(value).startswith("${"), f"{name}: {key} must come from .env, not the compose file"
            if "://" in str(value) and "@" in str(value):  # URLs with credentials
                user_info = str(value).split("://", 1)[1].split("@", 1)[0]
                assert ":" not in user_info or "${" in user_info or user_info == ":", f"{name}: {key}"


def test_env_example_has_every_secret_as_placeholder():
    lines = [line for line in (ROOT / ".env.example").read_text().splitlines() if line and not line.startswith("#")]
    values = dict(line.split("=", 1) for line in lines)
    for key in SECRETS:
        assert key in values, key
        assert values[key].startswith("change-me"), f"{key} must be a placeholder, not a real secret"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_volumes_and_mounts(compose, services):
    assert {"airflow-db", "warehouse-db", "airflow-logs", "payroll-data"} <= set(compose["volumes"])
    for name in AIRFLOW_SERVICES:
        mounts = services[name]["volumes"]
        assert "./dags:/opt/airflow/dags:ro" in mounts
        assert "payroll-data:/opt/airflow/payroll-data" in mounts, "steps hand over files: one shared data dir"
        assert "airflow-logs:/opt/airflow/logs" in mounts
    assert "airflow-db:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "warehouse-db:/var/lib/postgresql/data" in services["warehouse"]["volumes"]


def test_healthchecks_everywhere(services):
    for name, service in services.items():
        if name == "airflow-init":
            continue
        assert "healthcheck" in service and service["healthcheck"]["test"], name
    assert "/api/v2/version" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert "DagProcessorJob" in " ".join(services["airflow-dag-processor"]["healthcheck"]["test"])
    assert "TriggererJob" in " ".join(services["airflow-triggerer"]["healthcheck"]["test"])
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in services["warehouse"]["healthcheck"]["test"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_start_order(services):
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        for db in ("postgres", "redis", "warehouse"):
            assert deps[db]["condition"] == "service_healthy", (name, db)
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_init_migrates_and_creates_pools_connections_and_warehouse_schema(services):
    init = services["airflow-init"]
    script = " ".join(init["command"])
    assert "scripts/airflow_setup.py" in script  # Airflow DB migrate, pools from employers.yaml, Connections
    assert "payroll_etl.warehouse.migrate" in script  # schema once, before tasks race for it
    setup = (ROOT / "scripts" / "airflow_setup.py").read_text()
    assert "Pool.create_or_update_pool" in setup and "config.pools" in setup


def test_worker_reaches_the_simulators_and_shuts_down_warm(services):
    worker = services["airflow-worker"]
    assert env_of(worker)["DUMB_INIT_SETSID"] == "0"
    assert worker["network_mode"] == "service:payroll-simulators"
    assert worker["depends_on"]["payroll-simulators"]["condition"] == "service_healthy"
    # every registered source's simulator port is published (8081-8084 today)
    published = {f"{s.simulator_port}:{s.simulator_port}" for s in CONNECTORS.values()}
    assert {"8081:8081", "8082:8082", "8083:8083", "8084:8084"} <= published
    assert published <= set(services["payroll-simulators"]["ports"])
