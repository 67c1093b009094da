"""``inferwatch score`` as a user runs it on a CSV export: timestamps, their order, the output columns, the scale."""
from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta, timezone

from inferwatch.streams import cli

START = datetime(2024, 3, 1, tzinfo=timezone.utc)


def write(tmp_path, rows: list[dict]):
    path = tmp_path / "series.csv"
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(capsys, *argv):
    code = cli.main(["score", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def scored(out: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(out)))


def shifted(n: int = 200, at: int = 120) -> list[float]:
    rng = random.Random(5)
    return [100.0 + (10.0 if i >= at else 0.0) + rng.gauss(0, 1) for i in range(n)]


def test_iso_timestamps_with_z_and_offsets_and_the_output_columns(tmp_path, capsys):
    rows = []
    for i, value in enumerate(shifted()):
        when = START + timedelta(minutes=5 * i)
        plus_two = when.astimezone(timezone(timedelta(hours=2)))
        text = when.isoformat().replace("+00:00", "Z") if i % 2 else plus_two.isoformat()
        rows.append({"ts": text, "host": "a", "cpu": f"{value:.3f}"})
    rows[50]["cpu"] = ""
    code, out, err = run(capsys, write(tmp_path, rows), "--value-column", "cpu", "--timestamp-column", "ts")
    assert (code, err) == (0, "")
    table = scored(out)
    assert list(table[0]) == ["ts", "host", "cpu", "anomaly_score"]
    assert [r["ts"] for r in table] == [r["ts"] for r in rows], "rows come out as they came in"
    assert table[50]["anomaly_score"] == "", "no value, no score"
    scores = [float(r["anomaly_score"]) for i, r in enumerate(table) if i != 50]
    assert max(scores[119:122]) > 4, "the shift's start: a better than 1-in-10,000 surprise, above the old ceiling 1"
    assert max(scores[130:]) < 3, "and the new level is learned, not scored high for the rest of the file"


def test_epoch_seconds_and_equal_timestamps_are_accepted(tmp_path, capsys):
    rows = [{"t": str(1709251200 + 60 * (i // 2)), "v": f"{v:.3f}"} for i, v in enumerate(shifted(60))]
    code, out, err = run(capsys, write(tmp_path, rows), "--value-column", "v", "--timestamp-column", "t")
    assert (code, err) == (0, "")
    assert len(scored(out)) == 60


def test_rows_out_of_order_are_refused_naming_the_first_one(tmp_path, capsys):
    rows = [{"ts": (START + timedelta(minutes=i)).isoformat(), "v": "1"} for i in range(10)]
    rows[6]["ts"], rows[7]["ts"] = rows[7]["ts"], rows[6]["ts"]
    code, out, err = run(capsys, write(tmp_path, rows), "--value-column", "v", "--timestamp-column", "ts")
    assert (code, out) == (2, "")
    assert err == (f"inferwatch: error: row 8: ts '{rows[7]['ts']}' is earlier than row 7's '{rows[6]['ts']}'; "
                   f"sort the rows by ts first\n")


def test_a_timestamp_that_is_not_one_is_named(tmp_path, capsys):
    rows = [{"ts": "2024-03-01T00:00:00Z", "v": "1"}, {"ts": "yesterday", "v": "2"}]
    code, _, err = run(capsys, write(tmp_path, rows), "--value-column", "v", "--timestamp-column", "ts")
    assert code == 2
    assert err == "inferwatch: error: row 2: ts 'yesterday' is neither ISO-8601 nor epoch seconds\n"


def test_a_missing_column_is_named_with_the_columns_there_are(tmp_path, capsys):
    path = write(tmp_path, [{"ts": "2024-03-01T00:00:00Z", "v": "1"}])
    code, out, err = run(capsys, path, "--value-column", "cpu")
    assert (code, out) == (2, "")
    assert err == f"inferwatch: error: column 'cpu' not in {path} (columns: ts, v)\n"


def test_a_missing_file_is_one_error_line(tmp_path, capsys):
    code, out, err = run(capsys, tmp_path / "nope.csv", "--value-column", "v")
    assert (code, out) == (2, "")
    assert err == f"inferwatch: error: No such file or directory: {tmp_path / 'nope.csv'}\n"


def test_side_and_log_still_work(tmp_path, capsys):
    values = shifted(200, at=1000) + [50.0, 400.0]
    path = write(tmp_path, [{"v": str(v)} for v in values])
    _, out, _ = run(capsys, path, "--value-column", "v", "--side", "upper")
    upper = [float(r["anomaly_score"]) for r in scored(out)]
    assert upper[200] == 0.0, "a drop is no problem on the upper side"
    assert upper[201] > 4
    _, out, _ = run(capsys, path, "--value-column", "v", "--log")
    assert float(scored(out)[200]["anomaly_score"]) > 4, "log(50) is far below log(100) too"
