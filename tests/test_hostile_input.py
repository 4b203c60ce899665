"""Hostile input never becomes a traceback or a half-import.

Whatever reaches the classifier, the router, a config loader or a JSON-lines importer (any text,
huge lines, invalid UTF-8, deep nesting, YAML tags that construct Python objects), modelctl either
accepts it or exits 2 naming the line and the field, with nothing written. The `cli` fixture
re-raises any exception that is not an exit, so a traceback fails these tests.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelctl.core.catalog import QUERY_TYPES
from modelctl.errors import ConfigError, InvalidInput, ModelctlError
from modelctl.services.database import open_database

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

USAGE_OK = b'{"model_id": "gpt-4o-2024-08-06", "latency_ms": 800, "request_id": "ok-%d"}\n'
EVAL_OK = b'{"model_id": "gpt-4o-2024-08-06", "segment": "simple", "score": 0.9}\n'
HUGE_LINE = b'{"model_id": "' + b"x" * 1_100_000 + b'"}'
DEEP_JSON = b"[" * 5000 + b"]" * 5000

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
# keys without control or line-breaking characters (those are shown escaped: see the test below)
_keys = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=10)
_json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(_keys, inner, max_size=4), max_leaves=12)
_usage_keys = st.sampled_from(("model_id", "latency_ms", "ttft_ms", "tokens_in", "tokens_out", "cost_usd", "success",
                               "error_kind", "segment", "quality", "request_id", "arm", "ts", "attempt", "prompt"))
_eval_keys = st.sampled_from(("model_id", "segment", "score", "cost_usd", "latency_ms", "query"))


def _records(keys) -> st.SearchStrategy[bytes]:
    """JSON objects with the importer's own field names (and a stranger) holding any JSON values."""
    return st.dictionaries(keys, _json_values | st.sampled_from(["gpt-4o-2024-08-06", "simple", 0.5, -1, 1e308]),
                           max_size=6).map(lambda d: json.dumps(d).encode())


def _hostile_lines(keys) -> st.SearchStrategy[bytes]:
    return st.one_of(
        _records(keys),
        st.binary(max_size=80),  # any bytes, invalid UTF-8 included
        st.text(max_size=80).map(lambda s: s.replace("\n", " ").encode("utf-8", "surrogatepass")),
        _json_values.map(lambda v: json.dumps(v).encode()),
        st.integers(1025, 4000).map(lambda n: b"[" * n + b"]" * n),
    ).map(lambda line: line.replace(b"\n", b" ").replace(b"\r", b" "))


def _db_counts() -> tuple[int, int, int]:
    store = open_database()
    return tuple(store.read(f"SELECT COUNT(*) FROM {table}")[0][0] for table in ("usage", "evaluation_score", "audit"))


_LINE_ERROR = re.compile(r"^error: <stdin>:2: ", re.MULTILINE)


def _rejected_whole(cli, command: list[str], first: bytes, hostile: bytes, last: bytes) -> None:
    """A valid line, the hostile one, a valid line: either all go in (the hostile line was valid or
    blank) or the command exits 2 naming line 2 and the problem, and writes nothing."""
    before = _db_counts()
    result = cli(*command, "-", input=first + hostile + b"\n" + last, code=None)
    if result.exit_code == 0:
        return
    assert result.exit_code == 2, result.stderr
    assert _LINE_ERROR.search(result.stderr), result.stderr
    assert "nothing was imported" in result.stderr
    assert _db_counts() == before


@pytest.fixture
def cli_any(cli):
    """The cli fixture, also accepting `code=None` for "any exit code" (still no traceback)."""
    def run(*args, input=None, code=0):
        if code is not None:
            return cli(*args, input=input, code=code)
        result = cli.runner.invoke(cli.app, list(args), input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result
    return run


@FUZZ
@given(hostile=_hostile_lines(_usage_keys))
@example(hostile=HUGE_LINE)
@example(hostile=DEEP_JSON)
@example(hostile=b'{"model_id": "\xff\xfe", "latency_ms": 1}')
@example(hostile=b'{"model_id": "gpt-4o-2024-08-06", "latency_ms": 1e400}')
@example(hostile=b'{"model_id": "gpt-4o-2024-08-06", "latency_ms": "fast"}')
def test_usage_import_rejects_any_bad_line_whole(cli_any, hostile):
    _rejected_whole(cli_any, ["usage", "import"], USAGE_OK % 1, hostile, USAGE_OK % 2)


@FUZZ
@given(hostile=_hostile_lines(_eval_keys))
@example(hostile=HUGE_LINE)
@example(hostile=DEEP_JSON)
@example(hostile=b'{"model_id": "gpt-4o-2024-08-06", "segment": "simple", "score": 1.5}')
def test_eval_import_rejects_any_bad_line_whole(cli_any, hostile):
    _rejected_whole(cli_any, ["eval", "import"], EVAL_OK, hostile, EVAL_OK)


_BATCH_OK = b'{"id": 1, "query": "What is the capital of France?"}\n'


@FUZZ
@given(hostile=_hostile_lines(st.sampled_from(("id", "query", "attachments", "segment", "priority"))),
       command=st.sampled_from(("classify", "route")))
@example(hostile=HUGE_LINE, command="route")
@example(hostile=DEEP_JSON, command="classify")
@example(hostile=b'{"id": 2, "query": "a\\u0000b"}', command="route")
@example(hostile=b'{"id": 2, "query": "hi", "attachments": ["/etc/shadow-nope"]}', command="route")
def test_batch_answers_every_line_and_names_the_bad_one(cli_any, hostile, command):
    before = _db_counts()
    result = cli_any(command, "--batch", "-", "--workers", "1", input=_BATCH_OK + hostile + b"\n" + _BATCH_OK,
                     code=None)
    assert result.exit_code in (0, 1, 2), result.stderr
    # JSON lines end at "\n" only: str.splitlines would also cut at U+2028 or U+0085 inside a string
    answers = [json.loads(line) for line in result.stdout.split("\n") if line]
    assert len(answers) == (2 if not hostile.strip() else 3)
    assert "error" not in answers[0] and "error" not in answers[-1]
    if len(answers) == 3 and "error" in answers[1]:
        assert answers[1]["error"].startswith("<stdin>:2: ") and answers[1]["exit_code"] == result.exit_code
    assert _db_counts() == before


# --------------------------------------------------------------------------- classifier and router


@pytest.fixture
def router():
    from modelctl import clock
    from modelctl.services.routing import Router

    return Router.load(open_database(), now=clock.now(), ignore_keys=True)


@FUZZ
@given(query=st.text(max_size=3000), segment=st.none() | st.text(max_size=20) | st.sampled_from(QUERY_TYPES),
       max_cost=st.none() | st.floats(), deadline_ms=st.none() | st.integers(-10, 10**12),
       objective=st.none() | st.sampled_from(("policy", "cost", "quality", "value", "fastest", "")),
       require=st.lists(st.text(max_size=12) | st.sampled_from(("multimodal", "tool_use")), max_size=2))
@example(query="x" * 200_000, segment=None, max_cost=None, deadline_ms=None, objective=None, require=[])
def test_router_decides_or_says_why_for_any_request(router, query, segment, max_cost, deadline_ms, objective, require):
    from modelctl.services.routing import classify_query, load_routing_config

    try:
        request = router.request(query, segment=segment, max_cost=max_cost, deadline_ms=deadline_ms,
                                 objective=objective, require=require)
        decision = router.decide(request)
    except ModelctlError as exc:
        assert str(exc).strip()
        return
    assert decision.query_type in QUERY_TYPES and 0 <= decision.confidence <= 1
    assert decision.model_id not in decision.fallback_models
    classification = classify_query(query, config=load_routing_config())
    assert classification.query_type == decision.query_type
    if deadline_ms is None and segment is None:
        assert classification.budget_seconds == decision.budget_seconds  # one budget rule


# --------------------------------------------------------------------------- config files


def _config_models():
    from modelctl import config

    return {"models.yaml": config.CatalogFile, "providers.yaml": config.ProvidersFile,
            "policy.yaml": config.PolicyFile, "upgrade.yaml": config.UpgradeFile,
            "discovery.yaml": config.DiscoveryFile}


_yaml_documents = st.one_of(
    st.text(max_size=200),
    _json_values.map(yaml.safe_dump),
    st.dictionaries(st.sampled_from(("models", "providers", "segments", "phases", "gates", "limits", "timeout_s",
                                     "on_timeout", "health", "stability")), _json_values, max_size=3)
    .map(yaml.safe_dump),
)
_PYTHON_TAGS = (
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {marker}']",
)


@FUZZ
@given(name=st.sampled_from(sorted(_config_models())), text=_yaml_documents)
def test_every_config_loader_accepts_or_names_the_problem(tmp_path, name, text):
    from modelctl.config import load_yaml_model

    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_yaml_model(path, _config_models()[name])
    except ConfigError as exc:
        assert str(exc).startswith(str(path))
    except InvalidInput as exc:  # not YAML at all
        assert str(exc).startswith(str(path))


@pytest.mark.parametrize("tag", _PYTHON_TAGS)
@pytest.mark.parametrize("name", sorted(_config_models()))
def test_yaml_tags_that_construct_python_objects_are_refused(tmp_path, name, tag):
    from modelctl.config import load_yaml_model

    marker = tmp_path / "PWNED"
    path = tmp_path / name
    path.write_text(f"# a config file\nfirst: {tag.format(marker=marker)}\n")
    with pytest.raises(InvalidInput) as caught:
        load_yaml_model(path, _config_models()[name])
    assert str(caught.value).startswith(f"{path}:2: not valid YAML")
    assert not marker.exists()


def test_a_hostile_user_config_file_stops_the_command_with_exit_2(cli, tmp_path, monkeypatch):
    marker = tmp_path / "PWNED"
    config = tmp_path / "config"
    config.mkdir()
    (config / "policy.yaml").write_text(f"segments: !!python/object/apply:os.system ['touch {marker}']\n")
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    err = cli("route", "What is the capital of France?", code=2).stderr
    assert f"{config / 'policy.yaml'}:1: not valid YAML" in err and not marker.exists()
    (config / "policy.yaml").write_bytes(b"segments:\n  simple: \xff\xfe\n")
    assert "not UTF-8" in cli("route", "What is the capital of France?", code=2).stderr


def test_deeply_nested_yaml_is_refused_with_a_message(tmp_path):
    from modelctl.config import CatalogFile, load_yaml_model

    path = tmp_path / "models.yaml"
    path.write_text("models: " + "[" * 20_000 + "]" * 20_000 + "\n")
    with pytest.raises(InvalidInput):
        load_yaml_model(path, CatalogFile)


def test_numbers_too_large_to_sum_are_rejected_per_line(cli):
    line = ('{"model_id": "gpt-4o-2024-08-06", "latency_ms": 1e308, "tokens_in": 9223372036854775807, '
            '"request_id": "%s"}\n')
    cli("usage", "import", "-", input=line % "a" + line % "b", code=2)


@pytest.mark.parametrize("command", [["usage", "import"], ["eval", "import"]])
def test_an_unknown_field_name_is_shown_escaped(cli, command):
    line = json.dumps({"model_id": "gpt-4o-2024-08-06", "latency_ms": 1, "\x1b[2J\x85evil": 1}) + "\n"
    err = cli(*command, "-", input=line, code=2).stderr
    assert "\x1b" not in err and "\x85" not in err


def test_yaml_is_only_ever_read_with_the_safe_loader():
    """Every yaml.load/load_all/compose/parse call in the package names SafeLoader (or CSafeLoader);
    the unsafe shortcuts are never called."""
    package = Path(__import__("modelctl").__file__).parent
    calls = []
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "yaml"):
                continue
            name = node.func.attr
            where = f"{source.relative_to(package)}:{node.lineno}"
            calls.append(where)
            assert name not in ("unsafe_load", "unsafe_load_all", "full_load", "full_load_all"), where
            if name in ("load", "load_all", "compose", "compose_all", "parse", "scan"):
                loader = next((kw.value for kw in node.keywords if kw.arg == "Loader"),
                              node.args[1] if len(node.args) > 1 else None)
                assert isinstance(loader, ast.Attribute) and loader.attr in ("SafeLoader", "CSafeLoader"), where
    assert calls, "no yaml calls found: the scan is looking in the wrong place"
