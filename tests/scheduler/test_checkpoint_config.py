"""The ``[scheduler.checkpoint]`` table: what is accepted, and one clear line naming the field for what is not.

The reading is tested directly (:func:`daemon_settings` on parsed TOML) and through
`beslut scheduler run --config`, which must refuse before it starts, with exit 2, one
``error:`` line and the database unchanged (tests/cli/helpers.py ``refused``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from beslut.audit import keys
from beslut.errors import InvalidInput
from beslut.scheduler.settings import daemon_settings
from beslut.workflow import Engine
from tests.cli.helpers import refused


@pytest.fixture
def private(tmp_path: Path) -> Path:
    path, public = tmp_path / "cp.pem", tmp_path / "cp.pub"
    keys.generate(path, public)
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    return directory


def table(private: Path, out: Path, extra: str = "every = 60\n") -> str:
    return f'[scheduler.checkpoint]\nkey = "{private}"\nout = "{out}"\n{extra}'


def refusal(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        daemon_settings(tomllib.loads(text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_without_the_table_there_is_no_checkpoint_job() -> None:
    assert daemon_settings({}).checkpoint is None
    assert daemon_settings({"scheduler": {"tick_seconds": 5}}).checkpoint is None


def test_a_cron_or_an_interval_with_key_and_directory(private: Path, out: Path) -> None:
    cron = daemon_settings(tomllib.loads(table(private, out, 'cron = "*/15 * * * *"\nfull_verify_hours = 0\n')))
    assert cron.checkpoint is not None
    assert (cron.checkpoint.key, cron.checkpoint.out, cron.checkpoint.cron) == (private, out, "*/15 * * * *")
    assert cron.checkpoint.full_verify_hours == 0
    assert isinstance(cron.checkpoint.trigger(), CronTrigger)
    every = daemon_settings(tomllib.loads(table(private, out)))
    assert every.checkpoint is not None
    assert every.checkpoint.every_seconds == 60.0
    assert every.checkpoint.full_verify_hours == 24
    trigger = every.checkpoint.trigger()
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval.total_seconds() == 60


@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        ("", "'scheduler.checkpoint'", "exactly one of cron"),
        ('every = 60\ncron = "* * * * *"\n', "'scheduler.checkpoint'", "exactly one of cron"),
        ('cron = "every quarter hour"\n', "'scheduler.checkpoint.cron'", "not a crontab expression"),
        ('cron = "0 25 * * *"\n', "'scheduler.checkpoint.cron'", "not a crontab expression"),
        ("cron = 15\n", "'scheduler.checkpoint.cron'", "crontab string"),
        ("every = 0\n", "'scheduler.checkpoint.every'", "between 1 and 604800"),
        ("every = true\n", "'scheduler.checkpoint.every'", "between 1 and 604800"),
        ('every = "60"\n', "'scheduler.checkpoint.every'", "between 1 and 604800"),
        ("every = 60\nfull_verify_hours = -1\n", "'scheduler.checkpoint.full_verify_hours'", "between 0 and 8760"),
        ("every = 60\nsign = true\n", "'scheduler.checkpoint.sign'", "unknown key"),
    ],
)
def test_bad_schedules_and_keys_are_named(private: Path, out: Path, extra: str, field: str, says: str) -> None:
    message = refusal(table(private, out, extra))
    assert field in message
    assert says in message


def test_a_missing_unreadable_or_wrong_key_file_is_named(private: Path, out: Path, tmp_path: Path) -> None:
    assert "is not a file" in refusal(table(tmp_path / "nope.pem", out))
    assert "beslut audit keygen" in refusal(table(tmp_path / "nope.pem", out))
    assert "holds a public key" in refusal(table(tmp_path / "cp.pub", out))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key", encoding="utf-8")
    garbage.chmod(0o600)
    assert "not a PEM private key" in refusal(table(garbage, out))
    private.chmod(0o644)
    message = refusal(table(private, out))
    assert "'scheduler.checkpoint.key'" in message
    assert "chmod 600" in message
    assert "'scheduler.checkpoint.key'" in refusal(table(tmp_path, out))  # a directory is not a key file


def test_the_directory_must_exist_and_be_one(private: Path, tmp_path: Path) -> None:
    missing = refusal(table(private, tmp_path / "nope"))
    assert "'scheduler.checkpoint.out'" in missing
    assert "is not a directory" in missing
    a_file = tmp_path / "a-file"
    a_file.write_text("", encoding="utf-8")
    assert "is not a directory" in refusal(table(private, a_file))
    assert "'scheduler.checkpoint.out'" in refusal(f'[scheduler.checkpoint]\nevery = 5\nkey = "{private}"\nout = 3\n')
    assert "'scheduler.checkpoint'" in refusal("[scheduler]\ncheckpoint = 5\n")


def test_scheduler_run_refuses_a_bad_checkpoint_table_before_it_starts(
    store_url: str, private: Path, out: Path, tmp_path: Path
) -> None:
    with Engine.open(store_url, actor="setup") as api:
        api.init()
    config = tmp_path / "scheduler.toml"
    for text, named in (
        (table(private, out, 'cron = "61 * * * *"\n'), "'scheduler.checkpoint.cron'"),
        (table(tmp_path / "nope.pem", out), "'scheduler.checkpoint.key'"),
        (table(private, tmp_path / "nope"), "'scheduler.checkpoint.out'"),
    ):
        config.write_text(text, encoding="utf-8")
        result = refused("scheduler", "run", "--config", str(config), db=store_url)
        assert named in result.stderr
    assert list(out.iterdir()) == []
