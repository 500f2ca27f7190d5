"""Gmail and Yahoo's bulk-sender rules (Feb 2024) as plan lines: what is set, what to fix."""

from __future__ import annotations

from core.domain_check import aligned
from core.pacing import DAY

__all__ = ["BULK_SENDER_PER_DAY", "bulk_sender_checklist", "messages_per_day"]

BULK_SENDER_PER_DAY = 5_000  # Gmail's threshold: more than this a day to its users is bulk
_SEND_SECONDS = 0.2  # what one message takes at least, as the plan assumes


def messages_per_day(
    messages: int, *, delay_ms: int, daily_cap: int | None = None, sent_in_window: int = 0
) -> int:
    """How many messages the domain sends in the campaign's busiest 24 hours."""
    interval = max(delay_ms / 1000.0, _SEND_SECONDS)
    by_pace = int(DAY / interval)
    day = min(messages, by_pace, daily_cap) if daily_cap else min(messages, by_pace)
    return day + sent_in_window


def bulk_sender_checklist(
    *,
    per_day: int,
    from_domain: str,
    one_click_unsubscribe: bool,
    dkim_domain: str | None,
    dmarc_present: bool | None,
) -> list[str]:
    """The checklist when `per_day` goes over 5,000 through `from_domain`; [] below that.

    `dkim_domain` is the d= we sign with (None: we do not sign); `dmarc_present` comes from
    the sender-domain check (None: not checked). Each missing item is a warning with the fix.
    """
    if per_day <= BULK_SENDER_PER_DAY:
        return []
    lines = [
        f"Bulk sender: about {per_day:,} messages a day through {from_domain}, over Gmail and "
        f"Yahoo's {BULK_SENDER_PER_DAY:,}: they require all of this:"
    ]
    if one_click_unsubscribe:
        lines.append("  ok: one-click unsubscribe (List-Unsubscribe + List-Unsubscribe-Post)")
    else:
        lines.append(
            "  warning: no one-click unsubscribe. Fix: set an unsubscribe URL in the template "
            "(it adds List-Unsubscribe and List-Unsubscribe-Post, RFC 8058), and honour it"
        )
    if dkim_domain is not None and aligned(from_domain, dkim_domain, strict=False):
        lines.append(f"  ok: DKIM signed with d={dkim_domain}, aligned with the From domain")
    elif dkim_domain is not None:
        lines.append(
            f"  warning: DKIM d={dkim_domain} does not align with {from_domain}. Fix: sign with "
            f"a key for {from_domain} (python main.py dkim generate --domain {from_domain})"
        )
    else:
        lines.append(
            "  warning: no DKIM key of ours (aligned only if your relay signs with "
            f"{from_domain}). Fix: python main.py dkim generate --account NAME --domain "
            f"{from_domain} --selector SELECTOR, then publish the record it prints"
        )
    if dmarc_present:
        lines.append(f"  ok: DMARC record at _dmarc.{from_domain}")
    elif dmarc_present is None:
        lines.append("  warning: DMARC not checked. Fix: run `python main.py verify` (DNS)")
    else:
        lines.append(
            f'  warning: no DMARC record. Fix: publish TXT _dmarc.{from_domain} "v=DMARC1; '
            f'p=none; rua=mailto:dmarc@{from_domain}"'
        )
    return lines
