"""The daemon's config file (TOML, given by ``--config``): ``[scheduler]`` and ``[notifier]``.

```toml
[scheduler]
tick_seconds = 30                 # how often to fire timers and deliver the outbox
digest_cron = "0 7 * * mon-fri"   # crontab for the coordinators' digest ("" to turn it off)
misfire_grace_seconds = 300       # how late a job may start and still run
daemon_id = "beslut-1"            # default: host:pid
lease_seconds = 300               # a crashed daemon's claimed work is taken over after this

[scheduler.checkpoint]            # optional: sign the audit log's head on a schedule (docs/scheduler.md)
cron = "*/15 * * * *"             # or every = 900 (seconds); exactly one of the two
key = "/etc/beslut/cp.pem"        # private key from `beslut audit keygen` (mode 0600)
out = "/var/lib/beslut/cp"        # an existing directory; files checkpoint-<seq, 12 digits>.json
full_verify_hours = 24            # verify the whole log at the first run and at least this often

[notifier]
kind = "log"                      # see docs/notifiers.md
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from beslut.clock import STOCKHOLM
from beslut.scheduler.checkpoints import checkpoint_settings
from beslut.scheduler.daemon import DaemonSettings
from beslut.scheduler.notifiers.config import ConfigError

_TOP = {"scheduler", "notifier"}
_SCHEDULER = {"tick_seconds", "digest_cron", "misfire_grace_seconds", "daemon_id", "lease_seconds", "checkpoint"}


def daemon_settings(config: Mapping[str, Any], *, tick_seconds: float | None = None) -> DaemonSettings:
    """Read and check the ``[scheduler]`` table; ``--tick`` overrides ``tick_seconds``."""
    unknown = sorted(set(config) - _TOP)
    if unknown:
        raise ConfigError(unknown[0], f"unknown table (allowed: {', '.join(sorted(_TOP))})")
    table = config.get("scheduler", {})
    if not isinstance(table, Mapping):
        raise ConfigError("scheduler", "must be a table")
    unknown = sorted(set(table) - _SCHEDULER)
    if unknown:
        raise ConfigError(f"scheduler.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(_SCHEDULER))})")
    defaults = DaemonSettings()
    tick = table.get("tick_seconds", defaults.tick_seconds) if tick_seconds is None else tick_seconds
    if isinstance(tick, bool) or not isinstance(tick, int | float) or not 0.05 <= tick <= 86400:
        raise ConfigError("scheduler.tick_seconds", "must be a number of seconds between 0.05 and 86400")
    grace = table.get("misfire_grace_seconds", defaults.misfire_grace_seconds)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 1 <= grace <= 86400:
        raise ConfigError("scheduler.misfire_grace_seconds", "must be an integer between 1 and 86400")
    cron = table.get("digest_cron", defaults.digest_cron)
    if not isinstance(cron, str):
        raise ConfigError("scheduler.digest_cron", 'must be a crontab string like "0 7 * * mon-fri"')
    if cron:
        try:
            CronTrigger.from_crontab(cron, timezone=STOCKHOLM)
        except ValueError as error:
            raise ConfigError("scheduler.digest_cron", f"is not a crontab expression: {error}") from error
    daemon_id = table.get("daemon_id", "")
    if not isinstance(daemon_id, str) or len(daemon_id) > 100:
        raise ConfigError("scheduler.daemon_id", "must be a string of at most 100 characters")
    lease = table.get("lease_seconds", defaults.lease_seconds)
    if isinstance(lease, bool) or not isinstance(lease, int | float) or not 1 <= lease <= 86400:
        raise ConfigError("scheduler.lease_seconds", "must be a number of seconds between 1 and 86400")
    checkpoint = checkpoint_settings(table["checkpoint"]) if "checkpoint" in table else None
    return DaemonSettings(
        checkpoint=checkpoint,
        tick_seconds=float(tick),
        digest_cron=cron or None,
        misfire_grace_seconds=grace,
        daemon_id=daemon_id,
        lease_seconds=float(lease),
    )
