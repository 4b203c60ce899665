"""What a newcomer meets in the first hour: queries from stdin, errors that say what to do, one format
for times and money, and one rule for files that already exist."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

QUERY = "Compare the causes of the 1929 and 2008 crashes in depth, with sources"


@pytest.mark.parametrize("command", ["route", "classify"])
def test_a_dash_reads_the_query_from_standard_input(cli, command):
    piped = cli.json(command, "-", input=QUERY + "\n")
    given = cli.json(command, QUERY)
    assert piped == given
    assert "query is empty" in cli(command, "-", input="", code=2).stderr  # not the one-character query "-"


def test_a_query_longer_than_one_argument_may_be_comes_through_standard_input(cli):
    # 216 KB of UTF-8; Linux caps one argument at 128 KiB
    long_query = "Why does my build fail? " + "链接错误：未定义的引用。" * 6000
    assert len(long_query.encode()) > 128 * 1024 and len(long_query) < 100_000  # within the query limit
    with pytest.raises(OSError):
        subprocess.run([sys.executable, "-m", "modelctl", "classify", long_query], check=False)
    piped = subprocess.run([sys.executable, "-m", "modelctl", "classify", "-", "--json"], input=long_query,
                           capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(piped.stdout) == cli.json("classify", long_query)


def test_run_reads_the_query_from_standard_input(cli, monkeypatch, fake_openai):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-first-hour")
    cli("run", "-", "--no-stream", input="What is the capital of France?\n")
    assert fake_openai.requests[-1].json["messages"][-1]["content"] == "What is the capital of France?"


@pytest.mark.parametrize("command", ["route", "classify", "run"])
def test_the_help_says_a_dash_reads_standard_input(cli, command):
    assert "- to read it from standard input" in " ".join(cli(command, "-h").stdout.split())


def test_an_input_error_comes_alone_without_the_no_key_note(cli):
    result = cli("route", "-", input="", code=2)
    assert result.stderr == "error: the query is empty; pass the question text\n"
    assert "no provider API key" in cli("route", "hello").stderr


@pytest.mark.parametrize("command", [("stats", "--since"), ("audit", "--since"), ("usage", "prune", "--older-than")])
def test_a_bad_window_names_the_option_and_the_forms_it_takes(cli, command):
    error = cli(*command, "last tuesday", code=2).stderr
    assert error.startswith(f"error: {command[-1]}: 'last tuesday' is not")
    for form in ("24h", "7d", "yesterday", "ISO-8601"):
        assert form in error


def test_yesterday_and_today_start_at_midnight_utc(cli, monkeypatch):
    monkeypatch.setenv("MODELCTL_NOW", "2026-12-05T07:25:36Z")
    lines = [{"model_id": "gpt-4o-2024-08-06", "latency_ms": 900, "ts": ts}
             for ts in ("2026-12-03T23:00:00Z", "2026-12-04T23:00:00Z", "2026-12-05T01:00:00Z")]
    cli("usage", "import", "-", input="".join(json.dumps(line) + "\n" for line in lines))
    assert cli.json("stats", "--since", "yesterday")[0]["calls"] == 2
    assert cli.json("stats", "--since", "today")[0]["calls"] == 1


@pytest.mark.parametrize(("typed", "meant"), [(["rout"], "route"), (["modles"], "models"), (["models", "lst"], "list")])
def test_a_mistyped_command_gets_a_suggestion_at_every_level(cli, typed, meant):
    assert f"Did you mean '{meant}'" in cli(*typed, code=2).stderr


def test_the_model_the_typed_name_starts_is_suggested_first(cli):
    error = cli("models", "show", "gpt-4o", code=3).stderr
    assert "did you mean gpt-4o-2024-08-06, gpt-4o-mini" in error


def _with_history(cli) -> None:
    cli("models", "set-status", "gpt-6-luna", "candidate")
    line = {"model_id": "gpt-6-luna", "latency_ms": 500, "tokens_in": 10, "tokens_out": 5, "request_id": "r1"}
    cli("usage", "import", "-", input=json.dumps(line) + "\n")
    cli("feedback", "r1", "--score", "0.9")


READ_COMMANDS = [("audit",), ("db", "export"), ("usage", "prune", "--older-than", "90d", "--dry-run"),
                 ("upgrade", "tick", "--dry-run"), ("upgrade", "status"), ("stats",), ("models", "list"),
                 ("health",), ("providers", "list"), ("candidates",), ("evaluations",),
                 ("refiners", "sweep", "--dry-run"),
                 ("feedback", "r1", "--score", "0.8")]


def test_every_json_timestamp_is_rfc3339_utc(cli):
    import re

    _with_history(cli)
    seen = []
    for command in READ_COMMANDS:
        text = cli(*command, "--json").stdout
        seen += re.findall(r'"(\d{4}-\d\d-\d\d[ T][^"]*)"', text)
    assert len(seen) >= 5
    for stamp in seen:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", stamp), stamp


def test_small_prices_and_costs_keep_their_significant_digits(cli):
    _with_history(cli)
    assert "$0.000003 " in cli("stats").stdout  # 10 in + 5 out tokens on gpt-6-luna: not 0.0000
    listed = cli("models", "list").stdout
    assert "$0.0001 " in listed and "e-0" not in listed


@pytest.mark.parametrize("command", [("db", "export", "--output"), ("db", "backup")])
def test_writing_over_a_file_needs_force_and_says_so(cli, tmp_path, command):
    target = tmp_path / "existing"
    target.write_text("keep me")
    error = cli(*command, str(target), code=2).stderr
    assert "already exists; pass --force" in error and target.read_text() == "keep me"
    cli(*command, str(target), "--force")
    assert target.read_bytes() != b"keep me"


def test_db_path_as_json(cli, tmp_path):
    assert cli.json("--db", str(tmp_path / "m.db"), "db", "path") == {
        "path": str(tmp_path / "m.db"), "url": f"sqlite:///{tmp_path / 'm.db'}"}


def test_batch_help_says_what_a_blank_line_gets(cli):
    help_text = " ".join(cli("route", "-h").stdout.split())
    assert "Blank lines are skipped and get no output line" in help_text
    out = cli("classify", "--batch", "-", input='{"id": 1, "query": "hi"}\n\n{"id": 2, "query": "yo"}\n').stdout
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1, 2]
