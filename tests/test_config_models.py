"""employers.yaml as typed models (issue 14): unknown keys and wrong types are refused naming the entry
and the field, one bad entry does not hide the other employers' DAGs, and the published JSON schema is current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from payroll_etl.config import EmployerConfig, load_config, read_config
from payroll_etl.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "include" / "employers.yaml"
ACME = {"employer": "acme", "name": "Acme B.V.", "connector": "nmbrs", "source_ids": ["Acme B.V."],
        "conn_id": "payroll_nmbrs_acme"}


def _write(tmp_path: Path, *extra: dict, data_quality: dict | None = None) -> Path:
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["employers"].extend(extra)
    if data_quality is not None:
        raw["data_quality"] = data_quality
    path = tmp_path / "employers.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("options, says", [
    ({"max_workerz": 4}, "options: unknown keys ['max_workerz']"),
    ({"timeout": "fast"}, "options.timeout: "),
    ({"include": ["salary_slips"]}, "options.include[0]: "),
    ({"retry_attempts": 0}, "options.retry_attempts: "),
])
def test_a_bad_option_is_refused_naming_the_employer_and_the_field(tmp_path, options, says):
    path = _write(tmp_path, {**ACME, "options": options})
    with pytest.raises(ConfigurationError) as err:
        load_config(path)
    message = str(err.value)
    assert "employer 'acme'" in message and says in message, message
    assert "fast" not in message  # never the value


def test_options_are_typed_per_connector():
    cfg = load_config(SHIPPED).employer("transport_oost", "nmbrs")
    assert cfg.options.max_workers == 8 and cfg.options.timeout_seconds == 120.0  # nmbrs Options defaults
    rest = load_config(SHIPPED).employer("bakkerij_de_vries")
    assert type(rest.options).__module__ == "payroll_etl.connectors.loket_rest.settings"
    with pytest.raises(ConfigurationError, match="employer beta: options.max_workers"):
        EmployerConfig("beta", "Beta", "loket_rest", ("x",), "c", options={"max_workers": 2})  # a Nmbrs option


def test_a_data_quality_typo_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match=r"data_quality: unknown keys \['max_drop_pc'\]"):
        load_config(_write(tmp_path, data_quality={"max_drop_pc": 10}))
    with pytest.raises(ConfigurationError, match=r"data_quality: employers.acme: unknown keys \['max_drop'\]"):
        load_config(_write(tmp_path, data_quality={"employers": {"acme": {"max_drop": 10}}}))


def test_one_set_of_data_quality_defaults():
    from payroll_etl.config.models import DataQualitySettings
    from payroll_etl.quality.rules import DEFAULTS

    assert DEFAULTS == DataQualitySettings().for_employer("any")
    assert DEFAULTS["max_drop_pct"] == 50
    assert "`max_drop_pct`, default 50 %" in (ROOT / "docs" / "decisions.md").read_text()
    assert load_config(SHIPPED).dq.max_drop_pct == 30  # the shipped file sets its own


def test_a_bad_entry_is_one_problem_and_the_others_stay(tmp_path):
    path = _write(tmp_path, {**ACME, "payroll_frequency": "quarter"}, {**ACME, "employer": "Bad Key"})
    config = read_config(path)
    assert {e.employer for e in config.employers} >= {"bakkerij_de_vries", "transport_oost", "schoonmaak_west"}
    assert [(p.key, p.index) for p in config.problems] == [("acme", 6), ("Bad Key", 7)]
    assert "employer 'acme', employers[6]: payroll_frequency must be one of" in config.problems[0].message
    assert "employers[7]: employer key must be lower_snake_case" in config.problems[1].message


PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dags), "errors": {k: str(v)[:200] for k, v in bag.import_errors.items()},
                  "docs": bag.dags.get("payroll__acme__config_error").description}))
"""


def test_the_dag_file_shows_a_bad_entry_as_a_config_error_dag_beside_the_others(tmp_path):
    """Airflow parses dags/ with one bad entry among good ones: no import error, every good employer's
    DAG, and ``payroll__acme__config_error`` naming the entry and the field."""
    import os

    path = _write(tmp_path, {**ACME, "options": {"max_workerz": 4}})
    env = {**os.environ, "PAYROLL_EMPLOYERS_FILE": str(path), "AIRFLOW_HOME": str(tmp_path),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PAYROLL_DATA_DIR": str(tmp_path / "data"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db"}
    out = subprocess.run([sys.executable, "-c", PARSE, str(ROOT / "dags" / "payroll_dags.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    good = [e.dag_id for e in load_config(SHIPPED).employers if e.enabled]
    assert got["errors"] == {}
    assert set(got["dags"]) == {*good, "payroll__acme__config_error"}
    assert "employer 'acme', employers[6]: options: unknown keys ['max_workerz']" in got["docs"]
    assert "options: unknown keys ['max_workerz']" in out.stderr + out.stdout  # logged at parse time


def test_the_config_error_dag_fails_with_the_message_and_is_not_retried(tmp_path):
    from payroll_etl.airflow.dag_factory import build_all, config_error_step

    config = read_config(_write(tmp_path, {**ACME, "connector": "nmbrs_xml"}))
    dag = build_all(config)["payroll__acme__config_error"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # manual only: nothing runs by itself
    assert [t.task_id for t in dag.tasks] == ["config_error"] and dag.tasks[0].retries == 0
    with pytest.raises(ConfigurationError, match="connector must be one of"):
        config_error_step(config.problems[0].message)


def test_the_parsed_config_is_cached_per_content(tmp_path, monkeypatch):
    from payroll_etl.config import cache

    monkeypatch.setenv("PAYROLL_DATA_DIR", str(tmp_path / "data"))
    path = _write(tmp_path)
    first = read_config(path)
    assert list((tmp_path / "data" / "cache").glob("employers-*.pickle"))
    cache.clear_memo()  # as a fresh DAG-file process: from the disk cache
    assert read_config(path).employers == first.employers
    path.write_text(path.read_text().replace("Bakkerij De Vries B.V.", "Bakkerij De Vries"))
    assert read_config(path).employer("bakkerij_de_vries").name == "Bakkerij De Vries"


def test_the_published_schema_is_current_and_the_shipped_config_follows_it():
    """docs/employers.schema.json is generated (``make schema``); include/employers.yaml validates against it."""
    import jsonschema

    from payroll_etl.config.schema import SCHEMA_FILE, schema_text

    assert SCHEMA_FILE.read_text() == schema_text(), "docs/employers.schema.json is stale: run make schema"
    schema = json.loads(SCHEMA_FILE.read_text())
    raw = json.loads(json.dumps(yaml.safe_load(SHIPPED.read_text()), default=str))  # YAML dates as ISO strings
    jsonschema.validate(raw, schema)
    raw["data_quality"]["max_drop_pc"] = 10
    with pytest.raises(jsonschema.ValidationError, match="max_drop_pc"):
        jsonschema.validate(raw, schema)


def test_shards_read_only_their_employers_and_together_read_all(tmp_path, monkeypatch):
    from payroll_etl.config import in_shard

    monkeypatch.setenv("PAYROLL_DATA_DIR", str(tmp_path / "data"))
    path = _write(tmp_path, {**ACME, "options": {"max_workerz": 4}})
    whole = read_config(path)
    parts = [read_config(path, shard=i, shards=3) for i in range(3)]
    assert sorted(e.dag_id for p in parts for e in p.employers) == sorted(e.dag_id for e in whole.employers)
    assert all(in_shard(e.dag_id, i, 3) for i, p in enumerate(parts) for e in p.employers)
    assert [p.dag_id for part in parts for p in part.problems] == ["payroll__acme__config_error"]
    assert len(list((tmp_path / "data" / "cache").glob("employers-*-*of3.pickle"))) == 3


def test_a_bad_time_zone_or_cron_is_refused_and_a_dag_that_fails_to_build_costs_only_itself(tmp_path, monkeypatch):
    from payroll_etl.airflow import dag_factory

    with pytest.raises(ConfigurationError, match=r"employer 'acme', employers\[6\]: timezone must be an IANA"):
        load_config(_write(tmp_path, {**ACME, "timezone": "Europe/Amstelveen"}))
    with pytest.raises(ConfigurationError, match=r"employer 'acme', employers\[6\]: schedule must be a cron"):
        load_config(_write(tmp_path, {**ACME, "schedule": "at two"}))
    config = read_config(_write(tmp_path, {**ACME, "schedule": "0 3 * * *"}))
    real = dag_factory._timetable

    def refuse_three(cron: str, *args: str):
        if cron == "0 3 * * *":
            raise ValueError("not on this scheduler")
        return real(cron, *args)

    monkeypatch.setattr(dag_factory, "_timetable", refuse_three)
    dags = dag_factory.build_all(config)
    assert "payroll__acme__config_error" in dags and "payroll_nmbrs_acme" not in dags
    description = dags["payroll__acme__config_error"].description
    assert "its DAG cannot be built: ValueError: not on this scheduler" in description
    assert {e.dag_id for e in load_config(SHIPPED).employers} < set(dags)


def test_a_typo_in_defaults_is_one_error_for_the_file(tmp_path):
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["defaults"]["shedule"] = "0 3 * * *"
    path = tmp_path / "employers.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigurationError, match=r"employers.yaml: defaults: unknown keys \['shedule'\]"):
        read_config(path)


def test_the_check_command_names_each_refused_entry(tmp_path):
    import os

    path = _write(tmp_path, {**ACME, "options": {"max_workerz": 4}})
    env = {**os.environ, "PAYROLL_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-m", "payroll_etl.config", str(path)], env=env, capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "employer 'acme', employers[6]: options: unknown keys ['max_workerz']" in out.stderr
    assert "6 employers, 6 DAGs, 1 refused entries" in out.stdout
    assert list((tmp_path / "data" / "cache").glob("employers-*-all.pickle"))  # the cache is warm


@pytest.mark.parametrize("options", [
    {"timeout_seconds": 30, "max_attempts": 3, "backoff_seconds": 0.5, "max_backoff_seconds": 10, "max_throttled": 4},
    {"timeout": 30, "retry_attempts": 3, "retry_wait": 0.5, "max_wait": 10, "max_throttled": 4},  # deprecated names
])
def test_tuning_knobs_by_their_unified_or_their_old_names(tmp_path, options):
    cfg = load_config(_write(tmp_path, {**ACME, "options": options})).employer("acme", "nmbrs")
    o = cfg.options
    assert (o.timeout_seconds, o.max_attempts, o.backoff_seconds, o.max_backoff_seconds, o.max_throttled) == (
        30.0, 3, 0.5, 10.0, 4)
    from payroll_etl.connectors.transport.retry import RetryPolicy

    assert RetryPolicy.of(o) == RetryPolicy(max_attempts=3, backoff_seconds=0.5, max_backoff_seconds=10.0,
                                            max_throttled=4)


def test_the_unified_name_wins_over_an_old_one():
    cfg = EmployerConfig("acme", "Acme", "nmbrs_rest", ("1",), "c", options={"timeout": 5, "timeout_seconds": 7})
    assert cfg.options.timeout_seconds == 7.0


def test_a_tuning_typo_is_refused_naming_the_entry_and_the_field(tmp_path):
    path = _write(tmp_path, {**ACME, "options": {"timeout_secs": 30}})
    with pytest.raises(ConfigurationError, match=r"employer 'acme'.*options: unknown keys \['timeout_secs'\]"):
        load_config(path)


@pytest.mark.parametrize("connector, extra, says", [
    ("loket_rest", {"client_id": "x", "timeout_seconds": "slow"}, "timeout_seconds must be a number"),
    ("loket_rest", {"client_id": "x", "backoff": True}, "backoff must be a number"),
    ("loket_soap", {"omgevingscode": "12345", "max_attempts": 0}, "max_attempts Input should be greater than"),
])
def test_a_bad_tuning_knob_in_a_loket_connection_names_the_connection_and_the_field(connector, extra, says):
    from payroll_etl.connectors import connector_class
    from payroll_etl.connectors.base import SourceCredentials

    credentials = SourceCredentials("https://example.invalid", "user", "pw", extra, conn_id="payroll_loket_acme")
    with pytest.raises(ConfigurationError) as err:
        connector_class(connector).from_credentials(credentials)
    message = str(err.value)
    assert f"connection payroll_loket_acme extra: {says}" in message, message
    assert "slow" not in message


def test_loket_tuning_from_the_connection_extra():
    from payroll_etl.connectors.loket_rest.settings import ExtraTuning

    knobs = ExtraTuning.from_extra({"client_id": "x", "timeout": "12", "max_backoff": 5, "max_attempts": None}, "c")
    assert (knobs.timeout_seconds, knobs.max_backoff_seconds, knobs.max_attempts) == (12.0, 5.0, 5)


@pytest.mark.parametrize("connector, extra, typo, hint", [
    ("loket_rest", {"client_id": "x", "max_atempts": 3}, "max_atempts", "max_attempts"),
    ("loket_rest", {"client_id": "x", "clientsecret": "s3cret-value"}, "clientsecret", "client_secret"),
    ("loket_soap", {"omgevingscode": "12345", "timeout_secs": 5}, "timeout_secs", "timeout_seconds"),
])
def test_an_unknown_key_in_a_loket_connection_extra_is_refused_naming_the_connection_and_the_key(
        connector, extra, typo, hint):
    """A typo in a Loket Connection's extra no longer falls back to the defaults silently (review 14)."""
    from payroll_etl.connectors import connector_class
    from payroll_etl.connectors.base import SourceCredentials

    credentials = SourceCredentials("https://example.invalid", "user", "pw", extra, conn_id="payroll_loket_acme")
    with pytest.raises(ConfigurationError) as err:
        connector_class(connector).from_credentials(credentials)
    message = str(err.value)
    assert f"connection payroll_loket_acme extra: unknown key '{typo}' (did you mean '{hint}'?)" in message, message
    assert "s3cret-value" not in message and ": 3" not in message


def test_every_demo_connection_extra_is_accepted():
    """The demo Connections (include/demo_connections.yaml), with the tokens a token store writes and the old
    knob names, still build their connector."""
    from payroll_etl.connectors import connector_class
    from payroll_etl.connectors.base import SourceCredentials
    from payroll_etl.connectors.transport.tokens import TOKEN_KEYS

    demo = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())
    seen = set()
    for conn_id, spec in demo.items():
        extra = dict(spec["extra"])
        if spec["conn_type"] in ("loket_rest", "nmbrs_rest"):
            extra.update({key: "1" for key in TOKEN_KEYS})
        if spec["conn_type"].startswith("loket"):
            extra.update({"timeout": 5, "retry_attempts": 2, "backoff": 0.1, "max_backoff": 1})
        credentials = SourceCredentials(spec["host"], spec.get("login"), str(spec.get("password")), extra,
                                        conn_id=conn_id)
        connector_class(spec["conn_type"]).from_credentials(credentials).close()
        seen.add(spec["conn_type"])
    assert {"loket_rest", "loket_soap"} <= seen


def test_parsing_the_employer_file_imports_no_source_client():
    code = ("import sys; from payroll_etl.config import load_config; load_config(sys.argv[1]); "
            "print(sorted(m for m in ('requests', 'zeep', 'lxml', 'tenacity') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(SHIPPED)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_bad_data_quality_override_costs_only_that_employer_its_dags(tmp_path):
    """A typo in one employer's ``data_quality.employers.<key>`` refuses that employer alone (review 14)."""
    from payroll_etl.airflow import dag_factory

    path = _write(tmp_path, data_quality={"max_drop_pct": 30, "employers": {
        "techniek_noord": {"max_drop": 80}, "transport_oost": {"max_drop_pct": 20}}})
    config = read_config(path)
    assert [p.dag_id for p in config.problems] == ["payroll__techniek_noord__config_error"]
    message = config.problems[0].message
    assert "employer 'techniek_noord', employers[1]: data_quality: employers.techniek_noord: unknown keys " \
           "['max_drop']" in message, message
    assert "80" not in message  # never the value
    assert {e.employer for e in config.employers} == {e.employer for e in load_config(SHIPPED).employers} - {
        "techniek_noord"}
    assert config.dq.for_employer("transport_oost")["max_drop_pct"] == 20  # the valid override still applies
    assert config.dq.for_employer("bakkerij_de_vries")["max_drop_pct"] == 30
    dags = dag_factory.build_all(config)
    assert "payroll__techniek_noord__config_error" in dags and "payroll_loket_rest_techniek_noord" not in dags
    assert {e.dag_id for e in config.employers} < set(dags)


def test_a_retention_typo_is_refused_by_the_check_command_naming_the_field(tmp_path):
    """``retention:`` is typed (RetentionPolicy): the check command, the schema and the parse refuse a typo,
    not only the nightly purge; the employers keep their DAGs (review 14)."""
    import os

    import jsonschema

    from payroll_etl.config.schema import SCHEMA_FILE

    raw = yaml.safe_load(SHIPPED.read_text())
    raw["retention"]["leaver_identiy_years"] = raw["retention"].pop("leaver_identity_years")
    path = tmp_path / "employers.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {**os.environ, "PAYROLL_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-m", "payroll_etl.config", str(path)], env=env, capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "employers.yaml: retention: unknown keys ['leaver_identiy_years']" in out.stderr, out.stderr
    assert "6 employers, 6 DAGs, 1 refused entries" in out.stdout
    assert [p.dag_id for p in read_config(path).problems] == ["payroll__retention__config_error"]
    with pytest.raises(jsonschema.ValidationError, match="leaver_identiy_years"):
        jsonschema.validate(json.loads(json.dumps(raw, default=str)), json.loads(SCHEMA_FILE.read_text()))
    raw["retention"] = {"staging_days": 0, "reports_days": "2y"}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigurationError, match=r"retention: staging_days: .*; reports_days: ") as err:
        load_config(path)
    assert "2y" not in str(err.value)
