"""A spam check before sending: SpamAssassin's local rules when installed, else built-in ones."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "SPAMASSASSIN",
    "URL_SHORTENERS",
    "SpamReport",
    "SpamRule",
    "builtin_check",
    "spam_check",
    "spamassassin_check",
]

SPAMASSASSIN = "spamassassin"
SPAMASSASSIN_TIMEOUT = 60.0  # seconds; it loads and compiles its rules first (~3 s here)
SPAM_THRESHOLD = 5.0  # SpamAssassin's default `required_score`
URL_SHORTENERS = frozenset(
    {
        "bit.ly",
        "tinyurl.com",
        "goo.gl",
        "t.co",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "rebrand.ly",
        "cutt.ly",
        "shorturl.at",
        "tiny.cc",
        "rb.gy",
        "s.id",
        "t.ly",
        "bl.ink",
        "lnkd.in",
    }
)
_SCORE_RE = re.compile(r"Content analysis details:\s+\((-?[\d.]+) points, (-?[\d.]+) required\)")
_RULE_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")
_MIN_TEXT_FOR_IMAGES = 400  # characters of text an HTML message with images should carry
_CAPS_MIN_LETTERS = 6
_LINK_ONLY_CHARS = 20  # fewer characters than this besides the links: a link-only body
_URL_RE = re.compile(r"https?://[^\s<>\"')]+")
_Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]


@dataclass(frozen=True, slots=True)
class SpamRule:
    """One rule that fired, with its points (SpamAssassin's names where there is one)."""

    name: str
    points: float
    description: str


@dataclass(frozen=True, slots=True)
class SpamReport:
    """What a spam check found in one message. Only ever a warning: sending goes on."""

    engine: str  # "SpamAssassin 4.0.1 (local rules)" or "built-in checks"
    score: float
    threshold: float
    rules: tuple[SpamRule, ...]

    @property
    def fired(self) -> tuple[SpamRule, ...]:
        """The rules that cost or earned points (informational 0-point rules left out)."""
        return tuple(rule for rule in self.rules if rule.points)

    def lines(self) -> list[str]:
        verdict = "likely spam" if self.score >= self.threshold else "below the spam threshold"
        head = (
            f"Spam check ({self.engine}): {self.score:.1f} points, {verdict} ({self.threshold:.1f})"
        )
        return [head] + [
            f"  {rule.points:+.1f} {rule.name}: {rule.description}" for rule in self.rules
        ]


# -- SpamAssassin ----------------------------------------------------------------------------


def _parse_spamassassin(output: str) -> tuple[float, float, list[SpamRule]]:
    match = _SCORE_RE.search(output)
    if match is None:
        raise ValueError("no 'Content analysis details' in SpamAssassin's report")
    rules: list[SpamRule] = []
    table = output[match.end() :].split("---- ", 1)[-1].split("\n", 1)[-1]
    for line in table.splitlines():
        if not line.strip():
            break
        found = _RULE_RE.match(line)
        if found:
            rules.append(SpamRule(found.group(2), float(found.group(1)), found.group(3).strip()))
        elif rules:  # a description continued on the next line
            last = rules[-1]
            rules[-1] = SpamRule(last.name, last.points, f"{last.description} {line.strip()}")
    return float(match.group(1)), float(match.group(2)), rules


def spamassassin_check(
    payload: bytes, *, executable: str = SPAMASSASSIN, run: _Runner = subprocess.run
) -> SpamReport:
    """Score `payload` with `spamassassin -L -t`: local rules only, no network, no learning."""
    with tempfile.TemporaryDirectory(prefix="bulkmailer-sa-") as home:
        argv = [
            executable,
            "-L",  # local tests only: no DNS blocklists, no Razor/Pyzor
            "-t",  # test mode: the report with every rule that fired
            "-p",
            str(Path(home) / "user_prefs"),
            "--cf=use_bayes 0",
            "--cf=bayes_auto_learn 0",
        ]
        done = run(argv, input=payload, capture_output=True, timeout=SPAMASSASSIN_TIMEOUT)
    output = done.stdout.decode("utf-8", "replace")
    score, threshold, rules = _parse_spamassassin(output)
    version = re.search(r"X-Spam-Checker-Version: SpamAssassin (\S+)", output)
    engine = f"SpamAssassin {version.group(1) if version else ''} (local rules)".replace("  ", " ")
    return SpamReport(engine, score, threshold, tuple(rules))


# -- built-in checks -------------------------------------------------------------------------


class _Links(HTMLParser):
    """Links (href and text), images and visible text of an HTML part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.images = 0
        self.text: list[str] = []
        self._href: str | None = None
        self._anchor: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._anchor = dict(attrs).get("href") or "", []
        elif tag == "img":
            self.images += 1
        elif tag in {"style", "script"}:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._anchor).strip()))
            self._href = None
        elif tag in {"style", "script"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._href is not None:
            self._anchor.append(data)


def _host(url: str) -> str:
    return (urlsplit(url.strip()).hostname or "").lower()


def _parts(message: EmailMessage) -> tuple[str | None, str | None]:
    text = html = None
    for part in message.walk():
        if part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and text is None:
            text = part.get_content()
        elif kind == "text/html" and html is None:
            html = part.get_content()
    return text, html


def builtin_check(payload: bytes, *, bulk: bool) -> SpamReport:
    """The checks we can run without SpamAssassin, under its rule names where it has one."""
    message = message_from_bytes(payload, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text, html = _parts(message)
    rules: list[SpamRule] = []

    def fire(name: str, points: float, description: str) -> None:
        rules.append(SpamRule(name, points, description))

    subject = str(message.get("Subject", ""))
    letters = [c for c in subject if c.isalpha()]
    if len(letters) >= _CAPS_MIN_LETTERS and all(c.isupper() for c in letters):
        fire("SUBJ_ALL_CAPS", 0.5, "Subject is all capitals")
    parsed = _Links()
    if html is not None:
        parsed.feed(html)
        if text is None:
            fire("MIME_HTML_ONLY", 0.7, "Message only has text/html MIME parts (no text part)")
    visible = " ".join("".join(parsed.text).split()) if html is not None else (text or "")
    if html is not None and parsed.images and len(visible) < _MIN_TEXT_FOR_IMAGES:
        fire("HTML_IMAGE_ONLY", 1.5, f"HTML: images with only {len(visible)} characters of text")
    text_urls = _URL_RE.findall(text or "")
    if html is not None:
        rest = len(visible) - sum(len(anchor) for _, anchor in parsed.links)
        link_only = bool(parsed.links) and rest < max(_LINK_ONLY_CHARS, len(visible) // 10)
    else:
        rest = len("".join(_URL_RE.sub("", text or "").split()))
        link_only = bool(text_urls) and rest < _LINK_ONLY_CHARS
    if link_only:
        fire("BODY_LINK_ONLY", 1.0, "Body is little more than links")
    urls = [href for href, _ in parsed.links] + text_urls
    shorteners = sorted({_host(url) for url in urls} & URL_SHORTENERS)
    if shorteners:
        fire("URI_SHORTENER", 1.0, f"Links through URL shorteners ({', '.join(shorteners)})")
    for href, anchor in parsed.links:
        shown = _host(anchor if "://" in anchor else f"http://{anchor}") if "." in anchor else ""
        if shown and " " not in anchor.strip() and shown != _host(href):
            fire("LINK_TEXT_MISMATCH", 1.0, f"Link text {anchor!r} leads to {_host(href)}")
            break
    if bulk and message.get("List-Unsubscribe") is None:
        fire("BULK_NO_LIST_UNSUBSCRIBE", 1.0, "Bulk mail without a List-Unsubscribe header")
    if bulk and message.get("List-Unsubscribe") and message.get("List-Unsubscribe-Post") is None:
        fire("BULK_NO_ONE_CLICK", 0.5, "No one-click unsubscribe (List-Unsubscribe-Post, RFC 8058)")
    score = round(sum(rule.points for rule in rules), 1)
    return SpamReport("built-in checks", score, SPAM_THRESHOLD, tuple(rules))


def spam_check(
    payloads: Sequence[bytes], *, bulk: bool, executable: str | None = None
) -> list[SpamReport]:
    """SpamAssassin's report for each payload when it is installed, else the built-in checks.

    Built-in checks also run when SpamAssassin fails, so there is always a report.
    """
    found = shutil.which(executable or SPAMASSASSIN)
    reports = []
    for payload in payloads:
        if found:
            try:
                reports.append(spamassassin_check(payload, executable=found))
                continue
            except (OSError, ValueError, subprocess.SubprocessError):
                pass
        reports.append(builtin_check(payload, bulk=bulk))
    return reports
