"""Dedupe keys are made in one place (storage/keys.py): their formats are what rows already in
the outbox carry, so they must not drift; and no other module spells a key out."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from storage import keys

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("bot", "scheduler", "storage", "config")
# A key written inline: ``dedupe_key=f"..."`` / ``key = f"..."``, or a key-like f-string literal.
INLINE_KEY = re.compile(
    r"""(?:dedupe_key|\bkey)\s*=\s*f["']|f["'](?:reply|tg|invite|reminder|moved|cancelled|"""
    r"""digest|nudge|listen|listen-report|signin|check|report-back):\{"""
)


def test_every_kind_of_message_keeps_its_key_format() -> None:
    day = date(2026, 3, 12)
    assert keys.reply(7, 0) == "reply:7:0"
    assert keys.telegram_reply(901, 2) == "tg:901:2"
    assert keys.telegram_answer(901) == "tg:901:answer"
    assert keys.intro("reply:7:0") == "reply:7:0:intro"
    assert keys.invite(3, 12) == "invite:3:12"
    assert keys.reinvite(3, 1, 12) == "invite:3:12:r1"
    assert keys.reinvite(3, 1, 12).startswith(keys.invite_prefix(3))
    assert keys.reminder("nudge", 3, 2, 12) == "reminder:nudge:3:r2:12"
    assert keys.reminder_prefix("nudge", 3, 2) + "12" == keys.reminder("nudge", 3, 2, 12)
    assert keys.moved(3, 1, 12) == "moved:3:r1:12"
    assert keys.cancelled(3, 1, 12) == "cancelled:3:r1:12"
    assert keys.digest(day, 5) == "digest:2026-03-12:5"
    assert keys.digest_chart(keys.digest(day, 5), 3) == "digest:2026-03-12:5:chart:3"
    assert keys.leader_nudge(day, 2, 5) == "nudge:2026-03-12:2:5"
    assert keys.listening_first(4, 12) == "listen:4:12:q0"
    assert keys.listening_nudge(4, 12) == "listen:4:12:nudge"
    assert keys.listening_first(4, 12).startswith(keys.listening_prefix(4))
    assert keys.listening_report(4, 12, 1) == "listen-report:4:12:1"
    assert keys.sign_in_code(8) == "signin:8"
    assert keys.chase_nudge(day, 3, 12) == "check:2026-03-12:3:12"
    assert keys.report_back(3, 12) == "report-back:3:12"


def test_no_module_but_storage_keys_spells_a_dedupe_key_out() -> None:
    found = []
    for folder in PROJECT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name == "storage/keys.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if INLINE_KEY.search(line):
                    found.append(f"{name}:{number}: {line.strip()}")
    assert found == [], "make the key with a function of storage/keys.py"


def test_the_scan_sees_an_inline_key() -> None:
    assert INLINE_KEY.search('            dedupe_key=f"reply:{inbound.id}:{i}",')
    assert INLINE_KEY.search('        key = f"invite:{action.id}:{person.id}"')
    assert not INLINE_KEY.search("        key = keys.invite(action.id, person.id)")
