"""The output as a dataset: every common reader gets the same rows and types; the reading
commands, the report and the README's snippets work on a real run's output."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipeline.cli import EXIT_CONFIG, EXIT_OK, build_parser, main
from pipeline.demo import demo_config
from pipeline.demo_server import SiteServer
from pipeline.reading import query
from pipeline.report import build_report
from transforms.records import ARTICLE_SCHEMA, SCHEMA_VERSION

README = Path(__file__).resolve().parents[1] / "README.md"
DATE = "2026-11-24"
DATES = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")


@pytest.fixture(scope="module")
def out(tmp_path_factory, demo_server: SiteServer) -> Path:
    from pipeline.commands import execute_run

    path = tmp_path_factory.mktemp("readers") / "news"
    assert execute_run(demo_config(demo_server), str(path), DATE, []) == EXIT_OK
    return path


def _normalize(records: list[dict]) -> list[tuple]:
    def plain(v):
        if hasattr(v, "tolist"):
            v = v.tolist()
        if isinstance(v, list):
            return tuple(plain(x) for x in v)
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime()
        if v is None or (isinstance(v, float) and v != v):
            return None
        return v

    rows = [tuple(sorted((k, plain(v)) for k, v in r.items())) for r in records]
    return sorted(rows, key=lambda r: dict(r)["id"])


def test_readers_agree_on_rows_and_types(out: Path) -> None:
    arrow = ds.dataset(out / "articles", format="parquet", partitioning=DATES).to_table()
    via_duckdb = duckdb.sql(
        f"select * from read_parquet('{out}/articles/*/*.parquet', hive_partitioning=true, "
        "hive_types={'date': DATE})"
    ).to_arrow_table()
    via_polars = pl.read_parquet(f"{out}/articles/**/*.parquet", hive_partitioning=True,
                                 hive_schema={"date": pl.Date})
    via_pandas = pd.read_parquet(out / "articles", partitioning=DATES)

    assert arrow.num_rows == via_duckdb.num_rows == via_polars.height == len(via_pandas) == 10
    expected = _normalize(arrow.to_pylist())
    assert _normalize(via_duckdb.to_pylist()) == expected
    assert _normalize(via_polars.to_dicts()) == expected
    assert _normalize(via_pandas.to_dict("records")) == expected

    for field in ARTICLE_SCHEMA:
        assert arrow.schema.field(field.name).type == field.type
    # duckdb names the zone Etc/UTC: the same zone, the same instants.
    duck_ts = via_duckdb.schema.field("published_at").type
    assert (duck_ts.unit, duck_ts.tz) in (("us", "UTC"), ("us", "Etc/UTC"))
    assert via_polars.schema["published_at"] == pl.Datetime("us", "UTC")
    assert via_polars.schema["authors"] == pl.List(pl.String)
    assert str(via_pandas["published_at"].dtype) == "datetime64[us, UTC]"
    assert arrow.schema.field("date").type == pa.date32()
    # The images: a list of structs, read as such by every reader.
    assert via_polars.schema["images"] == pl.List(pl.Struct({
        "url": pl.String, "caption": pl.String, "credit": pl.String, "alt": pl.String,
        "is_lead": pl.Boolean}))
    assert via_polars.schema["modified_at"] == pl.Datetime("us", "UTC")
    # duckdb names the list's item "l": the same list of the same struct.
    assert via_duckdb.schema.field("images").type.value_type == arrow.schema.field("images").type.value_type


def test_images_read_the_same_everywhere(out: Path) -> None:
    """One picture per demo article, its caption and credit beside it, in all four readers."""
    glob = f"{out}/articles/*/*.parquet"
    sql = ("select title, i.url, i.caption, i.credit, i.is_lead from "
           f"(select title, unnest(images) i from read_parquet('{glob}')) order by title")
    via_duckdb = duckdb.sql(sql).fetchall()
    polars = (pl.read_parquet(glob.replace("/*/", "/**/")).select("title", "images")
              .explode("images", empty_as_null=True).unnest("images").sort("title"))
    via_polars = [tuple(r) for r in polars.select("title", "url", "caption", "credit", "is_lead").rows()]
    table = ds.dataset(out / "articles", format="parquet", partitioning=DATES).to_table()
    via_arrow = sorted((r["title"], i["url"], i["caption"], i["credit"], i["is_lead"])
                       for r in table.to_pylist() for i in r["images"])
    via_pandas = sorted((r.title, i["url"], i["caption"], i["credit"], i["is_lead"])
                        for r in pd.read_parquet(out / "articles", partitioning=DATES).itertuples()
                        for i in r.images)
    assert via_duckdb == via_polars == via_arrow == via_pandas
    assert len(via_duckdb) == 10
    by_title = {row[0]: row[1:] for row in via_duckdb}
    url, caption, credit, is_lead = next(v for t, v in by_title.items() if "Bäcker" in t)
    assert url.endswith("/tagesblick/img/baeckerei.jpg") and url.startswith("http")
    assert (caption, credit, is_lead) == (
        "Bäckermeisterin Petra Winkelmann in ihrer Backstube in Süderfeld.", "dpa/Anna Beispiel", True
    )


def test_files_are_few_zstd_and_versioned(out: Path) -> None:
    files = list((out / "articles" / f"date={DATE}").glob("*.parquet"))
    assert len(files) == 1
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(files[0]).metadata[b"newsbeam.schema_version"] == SCHEMA_VERSION.encode()


def test_query_views_and_formats(out: Path, capsys) -> None:
    names, rows = query(out, "select count(*) from articles")
    assert rows == [(10,)]
    _, rows = query(out, "select stage, count(*) from dead_letter group by all order by stage")
    assert rows == [("fetch_article", 2), ("parse_feed", 1)]
    _, rows = query(out, "select date::VARCHAR, (counters->>'written')::INT, balanced from runs")
    assert rows == [(DATE, 10, True)]

    assert main(["query", "select language, count(*) n from articles group by 1 order by 1",
                 "--output", str(out), "--format", "json"]) == EXIT_OK
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"language": "de", "n": 5}, {"language": "en", "n": 5}]
    assert main(["query", "select language from articles order by 1 limit 1", "--output", str(out),
                 "--format", "csv"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == ["language", "de"]
    assert main(["query", "select nope from articles", "--output", str(out)]) == EXIT_CONFIG
    assert "nope" in capsys.readouterr().err


def test_show_filters(out: Path, capsys) -> None:
    assert main(["show", "--output", str(out), "--language", "de", "--topic", "politics"]) == EXIT_OK
    table = capsys.readouterr().out
    assert "Putin sucht die Nähe zu China" in table
    assert "Port Ellery" not in table
    assert main(["show", "--output", str(out), "--limit", "3"]) == EXIT_OK
    assert capsys.readouterr().out.strip().endswith("(3 rows)")


def test_views_exist_on_an_empty_output(tmp_path: Path) -> None:
    assert query(tmp_path, "select count(*) from articles")[1] == [(0,)]
    assert query(tmp_path, "select count(*) from runs")[1] == [(0,)]
    assert "title" in query(tmp_path, "select * from articles")[0]


def test_report_has_the_figures_and_tables(out: Path) -> None:
    page = build_report(out)
    images = re.findall(r"id='([\w-]+)' alt='[^']*' src='data:image/png;base64,([^']+)'", page)
    assert [name for name, _ in images] == ["topics-per-day", "languages-per-day"]
    for _, data in images:
        png = base64.b64decode(data)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert "10 articles, 3 dead letters, 1 run." in page
    assert "<td>Tagesblick</td><td>5</td>" in page
    assert "<td>fetch_article</td><td>http_error</td><td>1</td>" in page


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian package chromium not installed")
def test_report_renders_in_headless_chromium(out: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", "--output", str(out), "--out", str(page)]) == EXIT_OK
    shot = tmp_path / "shot.png"
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert "topics-per-day" in dom and "Top sources" in dom
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1000,1400",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120,
    )
    image = shot.read_bytes()
    assert image.startswith(b"\x89PNG")
    # A rendered page with two plots is far from blank: many distinct colours in the pixels.
    from matplotlib import image as mpimg

    pixels = mpimg.imread(str(shot))
    colours = {tuple((p * 255).astype(int)[:3]) for row in pixels[::10] for p in row[::10]}
    assert len(colours) > 20


def test_readme_snippets_run(out: Path, monkeypatch, tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Reading the output", 1)[1].split("\n## ", 1)[0]
    snippets = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(snippets) == 3
    (tmp_path / "news").symlink_to(out)
    monkeypatch.chdir(tmp_path)
    for code in snippets:
        exec(compile(code, "README.md", "exec"), {})


COMMANDS = ("run", "demo", "query", "show", "report", "validate-config", "classify", "train-topics")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert "example" in help_text.lower()
    assert f"newsbeam {command}" in help_text


def test_validate_config(tmp_path: Path, capsys) -> None:
    good = Path(__file__).resolve().parents[1] / "configs" / "feeds.yaml"
    assert main(["validate-config", str(good)]) == EXIT_OK
    assert "11 feeds" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - url: https://x.example/rss\n    topic: sprot\n")  # sport is a label
    assert main(["validate-config", str(bad)]) == EXIT_CONFIG
    assert "topic must be an IPTC code" in capsys.readouterr().err
