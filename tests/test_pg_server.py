"""The throwaway PostgreSQL server that the test set-up starts is real, fresh and per test."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from tests.pg_server import ThrowawayPostgres, psycopg_url

pytestmark = pytest.mark.postgres


def test_server_is_postgresql_15_in_utc(postgres_url: str) -> None:
    with psycopg.connect(psycopg_url(postgres_url)) as conn:
        row = conn.execute("select version()").fetchone()
        assert row is not None
        assert "PostgreSQL 15" in row[0]
        row = conn.execute("show timezone").fetchone()
        assert row is not None
        assert row[0] == "UTC"
        row = conn.execute("show server_encoding").fetchone()
        assert row is not None
        assert row[0] == "UTF8"


def test_each_test_gets_a_fresh_empty_database(postgres_url: str) -> None:
    with psycopg.connect(psycopg_url(postgres_url)) as conn:
        assert conn.info.dbname.startswith("t_")
        row = conn.execute("select count(*) from information_schema.tables where table_schema = 'public'").fetchone()
        assert row == (0,)


def test_sqlalchemy_url_works(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table t (id int primary key, note text)"))
            conn.execute(sa.text("insert into t values (1, 'Beslut fattat: överklagan avslås')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("select upper(note) from t")).scalar_one() == (
                "BESLUT FATTAT: ÖVERKLAGAN AVSLÅS"
            )
    finally:
        engine.dispose()


def test_drop_database_disconnects_leftover_sessions(postgres_server: ThrowawayPostgres) -> None:
    url = postgres_server.create_database("t_drop_check")
    leftover = psycopg.connect(psycopg_url(url), autocommit=True)
    try:
        postgres_server.drop_database("t_drop_check")
        with psycopg.connect(psycopg_url(postgres_server.start()), autocommit=True) as admin:
            row = admin.execute("select count(*) from pg_database where datname = 't_drop_check'").fetchone()
            assert row == (0,)
    finally:
        leftover.close()
