"""`eval import` is idempotent: a record key per score (its `id`, or its content and occurrence)."""

from __future__ import annotations

import json

LINE = {"model_id": "gpt-6-luna", "segment": "technical", "score": 1}


def _lines(*records: dict) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def _samples(cli) -> dict[tuple[str, str], dict]:
    return {(r["segment"], r["model_id"]): r for r in cli.json("eval", "show")}


def test_importing_the_same_file_twice_adds_nothing_the_second_time(cli, tmp_path):
    scores = tmp_path / "scores.jsonl"
    scores.write_text(_lines(*[LINE] * 30, {**LINE, "score": 0.2}, {**LINE, "model_id": "gpt-4o-2024-08-06"}))
    first = cli("eval", "import", str(scores))
    assert "imported 32 new scores, 0 already imported" in first.stderr
    before = _samples(cli)
    assert before[("technical", "gpt-6-luna")]["n"] == 31  # 30 identical lines stay 30 samples

    again = cli("eval", "import", str(scores))
    assert "imported 0 new scores, 32 already imported" in again.stderr
    assert _samples(cli) == before  # same counts, same lower bounds

    # a file with one more identical line adds exactly that one
    scores.write_text(_lines(*[LINE] * 31))
    assert cli.json("eval", "import", str(scores))["imported"] == 1
    assert _samples(cli)[("technical", "gpt-6-luna")]["n"] == 32


def test_records_with_an_id_are_matched_by_id(cli):
    records = _lines({**LINE, "id": "run-1"}, {**LINE, "id": "run-2"}, {**LINE, "id": 3})
    assert cli.json("eval", "import", "-", input=records) == {
        "imported": 3, "already_imported": 0, "skipped": 0, "skipped_lines": []}
    # the same ids again, even with other content, are already imported; a new id is new
    again = cli.json("eval", "import", "-", input=_lines({**LINE, "id": "run-1", "score": 0}, {**LINE, "id": 4}))
    assert (again["imported"], again["already_imported"]) == (1, 1)
    assert _samples(cli)[("technical", "gpt-6-luna")]["n"] == 4


def test_a_bad_id_names_the_line_and_the_field(cli):
    result = cli("eval", "import", "-", input=_lines(LINE, {**LINE, "id": ["x"]}), code=2)
    assert "<stdin>:2: id:" in result.stderr and "nothing was imported" in result.stderr
