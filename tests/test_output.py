"""Publishing a run's staged partitions, and cleaning up after runs that died."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline import output

DATE = "2026-11-24"


def _stage(root: Path, run_id: str, sink: str, date: str, suffix: str = "-00000-of-00001.parquet") -> Path:
    prefix = Path(output.staging_prefix(str(root), run_id, sink, date))
    prefix.parent.mkdir(parents=True, exist_ok=True)
    path = prefix.parent / f"{prefix.name}{suffix}"
    path.write_bytes(run_id.encode())
    return path


def _names(root: Path, sink: str = "articles", date: str = DATE) -> list[str]:
    return sorted(p.name for p in (root / sink / f"date={date}").iterdir())


def test_first_commit_moves_the_partitions_in(tmp_path: Path) -> None:
    _stage(tmp_path, "run1", "articles", DATE)
    _stage(tmp_path, "run1", "dead_letter", DATE)
    published = output.commit(str(tmp_path), "run1", DATE)
    assert _names(tmp_path) == ["part-run1-00000-of-00001.parquet"]
    assert _names(tmp_path, "dead_letter") == ["part-run1-00000-of-00001.parquet"]
    assert [Path(p).name for p in published["articles"]] == ["part-run1-00000-of-00001.parquet"]


def test_recommit_replaces_everything_of_the_earlier_run(tmp_path: Path) -> None:
    _stage(tmp_path, "run1", "articles", DATE)
    _stage(tmp_path, "run1", "dead_letter", DATE)
    output.commit(str(tmp_path), "run1", DATE)
    _stage(tmp_path, "run2", "articles", DATE, "-00000-of-00002.parquet")
    _stage(tmp_path, "run2", "articles", DATE, "-00001-of-00002.parquet")
    output.commit(str(tmp_path), "run2", DATE)
    assert _names(tmp_path) == ["part-run2-00000-of-00002.parquet", "part-run2-00001-of-00002.parquet"]
    # run2 wrote no dead letters: the partition is empty, not left with run1's file.
    assert _names(tmp_path, "dead_letter") == []


def test_other_dates_are_untouched(tmp_path: Path) -> None:
    _stage(tmp_path, "a", "articles", "2026-11-23")
    output.commit(str(tmp_path), "a", "2026-11-23")
    _stage(tmp_path, "b", "articles", DATE)
    output.commit(str(tmp_path), "b", DATE)
    assert _names(tmp_path, date="2026-11-23") == ["part-a-00000-of-00001.parquet"]
    assert output.partition_dates(str(tmp_path)) == ["2026-11-23", DATE]
    assert output.earlier_article_files(str(tmp_path), DATE) == [
        str(tmp_path / "articles" / "date=2026-11-23" / "*.parquet")]
    assert output.earlier_article_files(str(tmp_path), "2026-11-23") == []


def test_fallback_without_atomic_exchange_and_crash_recovery(tmp_path: Path, monkeypatch) -> None:
    """Where renameat2 is missing, a crash between the two renames is repaired by the next run."""
    _stage(tmp_path, "run1", "articles", DATE)
    output.commit(str(tmp_path), "run1", DATE)
    output.discard(str(tmp_path), "run1")
    monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    real_rename = output.os.rename
    calls = []

    def crash_on_second(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed mid-commit")
        real_rename(src, dst)

    _stage(tmp_path, "run2", "articles", DATE)
    monkeypatch.setattr(output.os, "rename", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        output.commit(str(tmp_path), "run2", DATE)
    monkeypatch.setattr(output.os, "rename", real_rename)
    assert not (tmp_path / "articles" / f"date={DATE}").exists()  # the window the fallback has
    assert output.recover_staging(str(tmp_path)) == ["run2"]
    assert _names(tmp_path) == ["part-run1-00000-of-00001.parquet"]
    assert not (tmp_path / "_staging" / "run2").exists()


def test_atomic_exchange_is_available_here(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    assert output._exchange(str(a), str(b))
    assert (b / "x").read_text() == "a"


def test_discard_and_recover_leave_the_live_run(tmp_path: Path) -> None:
    _stage(tmp_path, "dead-run", "articles", DATE)
    _stage(tmp_path, "live-run", "articles", DATE)
    assert output.recover_staging(str(tmp_path), keep="live-run") == ["dead-run"]
    assert (tmp_path / "_staging" / "live-run").exists()
    output.discard(str(tmp_path), "live-run")
    assert not (tmp_path / "_staging" / "live-run").exists()


def test_run_ids_sort_by_time() -> None:
    a = output.new_run_id(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    b = output.new_run_id(dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    assert a < b and a.startswith("20260101T000000Z-")


def test_json_lines_reads_every_matching_file(tmp_path: Path) -> None:
    from transforms.storage.memory import duplicate_json

    (tmp_path / "dups-00000-of-00002.jsonl").write_text(duplicate_json(("b", "a")) + "\n\n")
    (tmp_path / "dups-00001-of-00002.jsonl").write_text(duplicate_json(("d", "z")) + "\n")
    rows = output.json_lines(str(tmp_path / "dups*.jsonl"))
    assert {r["id"]: r["duplicate_of"] for r in rows} == {"b": "a", "d": "z"}
    assert list(output.json_lines(str(tmp_path / "none*.jsonl"))) == []
