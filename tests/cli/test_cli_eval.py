"""`modelctl eval import|show`: scored outcomes in, the learned quality table out; a bad line names
its file, line and field, and nothing is imported."""

from __future__ import annotations

import json


def _line(**record):
    return json.dumps(record) + "\n"


def test_imported_scores_show_as_learned_quality(cli, tmp_path):
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(_line(model_id="gpt-6-luna", segment="technical", score=s) for s in (0.5, 1.0, 0.75)))

    report = cli.json("eval", "import", str(scores))

    assert report == {"imported": 3, "already_imported": 0, "skipped": 0, "skipped_lines": []}
    [row] = cli.json("eval", "show")
    assert (row["segment"], row["model_id"], row["n"], row["mean"]) == ("technical", "gpt-6-luna", 3, 0.75)


def test_eval_import_validates(cli):
    result = cli("eval", "import", "-", input=_line(model_id="gpt-6-luna", segment="x", score=2), code=2)
    assert "score" in result.stderr and "nothing was imported" in result.stderr


def test_a_bad_line_names_file_line_and_field_and_nothing_is_imported(cli, tmp_path):
    scores = tmp_path / "scores.jsonl"
    scores.write_text(_line(model_id="gpt-6-luna", segment="simple", score=0.5)
                      + _line(model_id="ghost", segment="simple", score=0.5)
                      + _line(model_id="gpt-6-luna", segment="simple", score=0.5, mood="great"))

    result = cli("eval", "import", str(scores), code=2)

    assert result.stderr.splitlines() == [
        f"error: {scores}:2: model_id: unknown model 'ghost'",
        f"  {scores}:3: mood: unknown field; valid: model_id, segment, score, cost_usd, latency_ms, id",
        "  nothing was imported; fix the lines above or pass --skip-invalid",
    ]
    assert cli.json("eval", "show") == []


def test_skip_invalid_imports_the_rest_and_reports_each_bad_line(cli):
    lines = _line(model_id="gpt-6-luna", segment="simple", score=0.5) + _line(model_id="gpt-6-luna", segment="simple")

    report = cli.json("eval", "import", "-", "--skip-invalid", input=lines)

    assert report == {"imported": 1, "already_imported": 0, "skipped": 1,
                      "skipped_lines": ["<stdin>:2: score: is required"]}
