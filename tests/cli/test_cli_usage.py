"""usage record / import and stats, as a gateway or an operator uses them."""

from __future__ import annotations

import json

STATS_KEYS = {"key", "calls", "success_rate", "p50_latency_ms", "p95_latency_ms", "p50_ttft_ms",
              "tokens_in", "tokens_out", "cost_usd"}


def _lines(*records):
    return "".join(json.dumps(r) + "\n" for r in records)


def test_record_computes_cost_from_catalog_prices(cli):
    out = cli.json("usage", "record", "gpt-4o-2024-08-06", "--latency-ms", "800", "--tokens-in", "1000",
                   "--tokens-out", "500")
    assert abs(out["cost_usd"] - (1000 * 0.0025 + 500 * 0.01) / 1000) < 1e-12
    given = cli.json("usage", "record", "gpt-4o-2024-08-06", "--latency-ms", "800", "--cost-usd", "0.5")
    assert given["cost_usd"] == 0.5


def test_record_rejects_bad_values_with_the_field(cli):
    assert "latency_ms" in cli("usage", "record", "gpt-4o-2024-08-06", "--latency-ms", "-5", code=2).stderr
    assert "quality" in cli("usage", "record", "gpt-4o-2024-08-06", "--latency-ms", "5", "--quality", "1.5",
                            code=2).stderr
    assert "arm" in cli("usage", "record", "gpt-4o-2024-08-06", "--latency-ms", "5", "--arm", "blue", code=2).stderr
    cli("usage", "record", "no-such-model", "--latency-ms", "5", code=3)


def test_import_then_stats(cli, tmp_path):
    f = tmp_path / "u.jsonl"
    f.write_text(_lines(
        {"model_id": "gpt-4o-2024-08-06", "latency_ms": 100, "ttft_ms": 30, "tokens_in": 10, "tokens_out": 20,
         "request_id": "a", "segment": "simple", "ts": "2026-11-27T10:00:00Z"},
        {"model_id": "gpt-4o-2024-08-06", "latency_ms": 300, "success": False, "error_kind": "timeout",
         "request_id": "b", "segment": "simple", "ts": "2026-11-27T11:00:00+01:00"},
        {"model_id": "claude-sonnet-5-5", "latency_ms": 1000, "cost_usd": 0.25, "request_id": "c",
         "segment": "technical", "ts": "2026-11-27T12:00:00Z"},
    ))
    assert cli.json("usage", "import", str(f))["inserted"] == 3
    rows = {r["key"]: r for r in cli.json("stats")}
    assert set(next(iter(rows.values()))) == STATS_KEYS
    gpt = rows["gpt-4o-2024-08-06"]
    assert gpt["calls"] == 2 and gpt["success_rate"] == 0.5 and gpt["tokens_out"] == 20
    assert abs(gpt["p50_latency_ms"] - 100) <= 1 and abs(gpt["p95_latency_ms"] - 300) <= 3
    assert rows["claude-sonnet-5-5"]["cost_usd"] == 0.25
    by_provider = {r["key"]: r["calls"] for r in cli.json("stats", "--by", "provider")}
    assert by_provider == {"openai": 2, "anthropic": 1}
    assert [r["key"] for r in cli.json("stats", "--by", "day")] == ["2026-11-27"]


def test_stats_since_window(cli, monkeypatch):
    monkeypatch.setenv("MODELCTL_NOW", "2026-11-28T12:00:00Z")
    cli("usage", "import", "-", input=_lines(
        {"model_id": "gpt-4o-2024-08-06", "latency_ms": 1, "ts": "2026-11-20T00:00:00Z"},
        {"model_id": "gpt-4o-2024-08-06", "latency_ms": 1, "ts": "2026-11-28T09:00:00Z"},
    ))
    assert cli.json("stats", "--since", "24h")[0]["calls"] == 1
    assert cli.json("stats", "--since", "2026-11-01")[0]["calls"] == 2
    assert "ISO-8601" in cli("stats", "--since", "yesterday-ish", code=2).stderr
    assert "valid: model, provider, segment, day" in cli("stats", "--by", "color", code=2).stderr


def test_repeated_request_ids_are_counted_once(cli, tmp_path):
    f = tmp_path / "u.jsonl"
    f.write_text(_lines(*({"model_id": "llama3.1:8b", "latency_ms": 5, "request_id": f"r{i}"} for i in range(50))))
    assert cli.json("usage", "import", str(f))["inserted"] == 50
    again = cli.json("usage", "import", str(f))
    assert again["inserted"] == 0 and again["duplicates"] == 50
    assert cli.json("stats")[0]["calls"] == 50


def test_a_bad_line_changes_nothing_and_is_named(cli, tmp_path):
    f = tmp_path / "u.jsonl"
    f.write_text(_lines({"model_id": "llama3.1:8b", "latency_ms": 5}) + "{oops\n"
                 + _lines({"model_id": "llama3.1:8b", "latency_ms": -1}, {"model_id": "ghost", "latency_ms": 1}))
    result = cli("usage", "import", str(f), code=2)
    assert f"{f}:2: not valid JSON" in result.stderr
    assert f"{f}:3: latency_ms: must not be negative" in result.stderr
    assert f"{f}:4: model_id: unknown model 'ghost'" in result.stderr
    assert "nothing was imported" in result.stderr
    assert cli.json("stats") == []
    report = cli.json("usage", "import", str(f), "--skip-invalid")
    assert report["inserted"] == 1 and report["skipped"] == 3


def test_import_from_stdin_and_missing_file(cli):
    out = cli.json("usage", "import", "-", input=_lines({"model_id": "llama3.1:8b", "latency_ms": 5}))
    assert out["inserted"] == 1
    assert "no such file" in cli("usage", "import", "/nonexistent/u.jsonl", code=2).stderr


def test_unpriced_models_record_no_cost_rather_than_zero(cli, tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("models:\n  - model_id: mystery\n    provider: openrouter\n")
    cli("models", "import", str(f))
    out = cli.json("usage", "record", "mystery", "--latency-ms", "5", "--tokens-in", "100")
    assert out["cost_usd"] is None and "no price" in out["note"]
    assert cli.json("models", "list", "--unpriced")[0]["model_id"] == "mystery"


def _batches_of_lines(n, *, last=None):
    lines = [json.dumps({"model_id": "llama3.1:8b", "latency_ms": 5 + i % 900, "request_id": f"b{i}",
                         "ts": f"2026-11-0{1 + i % 7}T{i % 24:02d}:00:00Z", "tokens_in": i % 50})
             for i in range(n)]
    return "\n".join(lines + ([last] if last else [])) + "\n"


def test_a_bad_last_line_after_several_batches_imports_nothing(cli, tmp_path):
    f = tmp_path / "u.jsonl"
    f.write_text(_batches_of_lines(25_000, last='{"model_id": "llama3.1:8b", "latency_ms": 5, "tokens_in": 1.5}'))
    result = cli("usage", "import", str(f), code=2)
    assert f"{f}:25001: tokens_in: must be a whole number" in result.stderr
    assert "nothing was imported" in result.stderr
    assert cli.json("stats") == []
    report = cli.json("usage", "import", str(f), "--skip-invalid")
    assert (report["lines"], report["inserted"], report["skipped"]) == (25_001, 25_000, 1)
    assert report["skipped_lines"] == [f"{f}:25001: tokens_in: must be a whole number from 0 to 1,000,000,000, got 1.5"]
    stats = cli.json("stats", "--by", "day", "--since", "2026-10-01")
    assert sum(row["calls"] for row in stats) == 25_000 and len(stats) == 7
    assert cli.json("db", "check")["ok"]


def test_lines_in_unusual_but_valid_spellings_are_imported_as_written(cli, tmp_path):
    """Null counts, a null arm, integer latencies: the Python rules accept what the fast check refuses."""
    f = tmp_path / "u.jsonl"
    f.write_text(_lines({"model_id": "llama3.1:8b", "latency_ms": 7, "tokens_in": None, "arm": None, "request_id": "n1",
                         "ts": "2026-11-01T10:00:00+02:00"},
                        {"model_id": "llama3.1:8b", "latency_ms": 9.5, "arm": "", "attempt": None, "request_id": "n2",
                         "ts": "2026-11-01T08:30:00Z"}) + "\n   \n")
    report = cli.json("usage", "import", str(f))
    assert (report["inserted"], report["skipped"]) == (2, 0)
    stats = cli.json("stats", "--by", "day", "--since", "2026-10-01")
    assert [(row["key"], row["calls"], row["tokens_in"]) for row in stats] == [("2026-11-01", 2, 0)]


def test_a_file_checked_in_two_halves_names_bad_lines_in_file_order_and_counts_repeats_once(cli, tmp_path,
                                                                                          monkeypatch):
    from modelctl.services import usage

    monkeypatch.setattr(usage, "PARALLEL_MIN_BYTES", 1)  # any file is split: the second half is forked
    lines = _batches_of_lines(30_000).splitlines()
    lines[29_000] = lines[100]  # a repeated request id, across the halves
    bad = list(lines)
    bad[10] = '{"model_id": "llama3.1:8b", "latency_ms": -1}'
    bad[20_000] = '{"model_id": "ghost", "latency_ms": 1}'
    f = tmp_path / "u.jsonl"
    f.write_text("\n".join(bad) + "\n")
    result = cli("usage", "import", str(f), code=2)
    assert result.stderr.index(f"{f}:11: latency_ms: must not be negative") < result.stderr.index(
        f"{f}:20001: model_id: unknown model 'ghost'")
    assert cli.json("stats") == []
    skipped = cli.json("usage", "import", str(f), "--skip-invalid")
    assert (skipped["lines"], skipped["inserted"], skipped["duplicates"], skipped["skipped"]) == (30_000, 29_997, 1, 2)
    f.write_text("\n".join(lines) + "\n")
    again = cli.json("usage", "import", str(f))
    assert (again["inserted"], again["duplicates"]) == (2, 29_998)
    assert sum(row["calls"] for row in cli.json("stats", "--since", "2026-10-01")) == 29_999
    assert cli.json("db", "check")["ok"]


def test_an_import_leaves_no_staged_rows_behind(cli, tmp_path, monkeypatch):
    """Checked rows wait in a private temporary file between the two passes; imported or
    refused, the file goes."""
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    f = tmp_path / "u.jsonl"
    f.write_text(_batches_of_lines(12_000))
    assert cli.json("usage", "import", str(f))["inserted"] == 12_000
    f.write_text(_batches_of_lines(100, last='{"model_id": "llama3.1:8b", "latency_ms": -1}'))
    cli("usage", "import", str(f), code=2)
    assert list(scratch.iterdir()) == []


def test_usage_record_and_usage_import_refuse_a_bad_record_in_the_same_words(cli, tmp_path):
    refused = cli("usage", "record", "llama3.1:8b", "--latency-ms", "5", "--quality", "1.5", code=2).stderr
    assert "quality: must be at most 1.0, got 1.5" in refused
    f = tmp_path / "u.jsonl"
    f.write_text(_lines({"model_id": "llama3.1:8b", "latency_ms": 5, "quality": 1.5}))
    assert f"{f}:1: quality: must be at most 1.0, got 1.5" in cli("usage", "import", str(f), code=2).stderr


def test_a_time_that_leaves_the_calendar_in_utc_is_a_bad_line_not_a_crash(cli, tmp_path):
    f = tmp_path / "u.jsonl"
    f.write_text(_lines({"model_id": "llama3.1:8b", "latency_ms": 5, "ts": "0001-01-01T00:00:00+01:00"}))
    result = cli("usage", "import", str(f), code=2)
    assert f"{f}:1: ts: '0001-01-01T00:00:00+01:00' is not an ISO-8601 timestamp" in result.stderr
