"""Several processes saving accounts at once: nothing lost, settings and vault agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "parallel passphrase 42"


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env.update(
        BULKMAILER_HOME=str(home),
        BULKMAILER_SMTP_PASSWORD="parallel-secret",
        BULKMAILER_PASSPHRASE=PASSPHRASE,
        PYTHONPATH=str(ROOT),
    )
    return env


def save_all(home: Path, count: int, *extra: str) -> list[subprocess.CompletedProcess[str]]:
    """Start `count` `main.py account save` processes at once and wait for all of them."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "main.py",
                "account",
                "save",
                f"acct{index}",
                "--host",
                f"smtp{index}.example.com",
                "--user",
                f"user{index}@example.com",
                "--from",
                f"user{index}@example.com",
                *extra,
            ],
            cwd=ROOT,
            env=env_for(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def saved_accounts(home: Path) -> dict[str, bool]:
    settings = json.loads((home / "settings.json").read_text("utf-8"))
    return {d["name"]: d["remember_password"] for d in settings["accounts"].values()}


@pytest.mark.slow
def test_eight_parallel_account_saves_keep_all_eight(tmp_path: Path) -> None:
    home = tmp_path / "home"
    results = save_all(home, 8)
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    assert sorted(saved_accounts(home)) == [f"acct{i}" for i in range(8)]


@pytest.mark.slow
def test_six_parallel_remembered_passwords_keep_settings_and_vault_in_step(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    results = save_all(home, 6, "--remember-password")
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    assert all("password kept encrypted" in r.stdout for r in results)
    names = [f"acct{i}" for i in range(6)]
    assert saved_accounts(home) == dict.fromkeys(names, True)
    vault = json.loads((home / "vault.json").read_text("utf-8"))
    assert sorted(vault["records"]["smtp-password"]) == names
    listing = subprocess.run(
        [sys.executable, "main.py", "account", "list"],
        cwd=ROOT,
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert listing.stdout.count("password saved") == 6
