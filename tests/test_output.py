"""Publishing a run's staged files into the date partition."""

from __future__ import annotations

from pathlib import Path

from pipeline import output


def _stage(root: Path, run_id: str, sink: str, date: str, name: str) -> Path:
    prefix = Path(output.staging_prefix(str(root), run_id, sink, date))
    prefix.parent.mkdir(parents=True, exist_ok=True)
    path = prefix.parent / f"{prefix.name}{name}"
    path.write_bytes(b"x")
    return path


def test_commit_moves_files_and_replaces_older_runs(tmp_path: Path) -> None:
    date = "2026-11-24"
    _stage(tmp_path, "run1", "articles", date, "-00000-of-00001.parquet")
    _stage(tmp_path, "run1", "dead_letter", date, "-00000-of-00001.parquet")
    output.commit(str(tmp_path), "run1", date)
    part = tmp_path / "articles" / f"date={date}"
    assert [p.name for p in part.iterdir()] == ["part-run1-00000-of-00001.parquet"]

    _stage(tmp_path, "run2", "articles", date, "-00000-of-00002.parquet")
    _stage(tmp_path, "run2", "articles", date, "-00001-of-00002.parquet")
    _stage(tmp_path, "run2", "dead_letter", date, "-00000-of-00001.parquet")
    published = output.commit(str(tmp_path), "run2", date)
    assert sorted(p.name for p in part.iterdir()) == [
        "part-run2-00000-of-00002.parquet", "part-run2-00001-of-00002.parquet"]
    assert len(published["articles"]) == 2
    assert not (tmp_path / "_staging" / "run2").exists()


def test_other_dates_are_untouched(tmp_path: Path) -> None:
    _stage(tmp_path, "a", "articles", "2026-11-23", "-00000-of-00001.parquet")
    _stage(tmp_path, "a", "dead_letter", "2026-11-23", "-00000-of-00001.parquet")
    output.commit(str(tmp_path), "a", "2026-11-23")
    _stage(tmp_path, "b", "articles", "2026-11-24", "-00000-of-00001.parquet")
    _stage(tmp_path, "b", "dead_letter", "2026-11-24", "-00000-of-00001.parquet")
    output.commit(str(tmp_path), "b", "2026-11-24")
    assert (tmp_path / "articles" / "date=2026-11-23" / "part-a-00000-of-00001.parquet").exists()


def test_discard_removes_staging(tmp_path: Path) -> None:
    _stage(tmp_path, "dead-run", "articles", "2026-11-24", "-00000-of-00001.parquet")
    output.discard(str(tmp_path), "dead-run")
    assert not (tmp_path / "_staging" / "dead-run").exists()


def test_run_ids_sort_by_time() -> None:
    import datetime as dt
    a = output.new_run_id(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    b = output.new_run_id(dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    assert a < b and a.startswith("20260101T000000Z-")
