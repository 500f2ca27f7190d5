"""Every row of RELIABILITY.md section 1, as a table: (error) -> (kind, action)."""

from __future__ import annotations

import pytest

from core.classify import Action, FailureKind, classify, is_rate_limit, login_hint
from core.errors import (
    AuthError,
    ConnectError,
    DisconnectedError,
    DNSError,
    DowngradeError,
    NotSupportedError,
    Phase,
    ReplyError,
    SMTPError,
    TimedOutError,
    TLSError,
)

K = FailureKind


def reply(phase: Phase, code: int, text: str = "") -> ReplyError:
    return ReplyError("reply", phase=phase, code=code, text=text)


TABLE: list[tuple[str, SMTPError, FailureKind, Action]] = [
    (
        "connect refused",
        ConnectError("refused", refused=True),
        K.TRANSIENT_SESSION,
        Action.RECONNECT,
    ),
    ("dns failure", DNSError("nx"), K.TRANSIENT_SESSION, Action.RECONNECT),
    (
        "connect timeout",
        TimedOutError("slow", phase=Phase.CONNECT),
        K.TRANSIENT_SESSION,
        Action.RECONNECT,
    ),
    (
        "greeting 421",
        reply(Phase.GREETING, 421, "4.3.2 busy"),
        K.TRANSIENT_SESSION,
        Action.RECONNECT,
    ),
    (
        "greeting 554",
        reply(Phase.GREETING, 554, "5.7.1 go away"),
        K.PERMANENT_SESSION,
        Action.ABORT,
    ),
    ("certificate failure", TLSError("bad", reason="unknown-ca"), K.CONFIG, Action.ABORT),
    ("starttls missing", DowngradeError("no starttls"), K.CONFIG, Action.ABORT),
    (
        "auth 535",
        AuthError("no", phase=Phase.AUTH, code=535, text="5.7.8 bad"),
        K.CONFIG,
        Action.ABORT,
    ),
    (
        "auth 534",
        AuthError("no", phase=Phase.AUTH, code=534, text="5.7.9 weak"),
        K.CONFIG,
        Action.ABORT,
    ),
    (
        "auth 538",
        AuthError("no", phase=Phase.AUTH, code=538, text="5.7.11 enc"),
        K.CONFIG,
        Action.ABORT,
    ),
    (
        "auth 530",
        AuthError("no", phase=Phase.AUTH, code=530, text="5.7.0 auth"),
        K.CONFIG,
        Action.ABORT,
    ),
    ("auth no mechanism", NotSupportedError("none", phase=Phase.AUTH), K.CONFIG, Action.ABORT),
    (
        "auth 454",
        AuthError("tmp", phase=Phase.AUTH, code=454, text="4.7.0 too many login attempts"),
        K.TRANSIENT_SESSION,
        Action.RECONNECT,
    ),
    (
        "auth 432",
        AuthError("tmp", phase=Phase.AUTH, code=432, text="4.7.12 password transition"),
        K.TRANSIENT_SESSION,
        Action.RECONNECT,
    ),
    ("mail from 550", reply(Phase.MAIL, 550, "5.7.1 sender not allowed"), K.CONFIG, Action.ABORT),
    ("mail from 553", reply(Phase.MAIL, 553, "5.7.1 not owned"), K.CONFIG, Action.ABORT),
    (
        "daily limit 550 5.4.5",
        reply(Phase.MAIL, 550, "5.4.5 Daily user sending limit exceeded"),
        K.RATE_LIMITED,
        Action.PAUSE,
    ),
    (
        "daily limit on data",
        reply(Phase.MESSAGE, 550, "5.4.5 Daily sending quota exceeded"),
        K.RATE_LIMITED,
        Action.PAUSE,
    ),
    (
        "421 unusual rate",
        reply(Phase.RCPT, 421, "4.7.0 Our system has detected an unusual rate of unsolicited mail"),
        K.RATE_LIMITED,
        Action.PAUSE,
    ),
    (
        "450 4.2.1 rate",
        reply(
            Phase.RCPT, 450, "4.2.1 The user you are trying to contact is receiving mail at a rate"
        ),
        K.RATE_LIMITED,
        Action.PAUSE,
    ),
    (
        "454 throttling",
        reply(Phase.MAIL, 454, "Throttling failure: Maximum sending rate exceeded"),
        K.RATE_LIMITED,
        Action.PAUSE,
    ),
    (
        "greeting 421 rate",
        reply(Phase.GREETING, 421, "4.7.28 unusual rate"),
        K.RATE_LIMITED,
        Action.PAUSE,
    ),
    ("rcpt 421", reply(Phase.RCPT, 421, "4.4.2 closing"), K.TRANSIENT_SESSION, Action.RECONNECT),
    ("rcpt 450", reply(Phase.RCPT, 450, "4.2.0 mailbox busy"), K.TRANSIENT_RECIPIENT, Action.DEFER),
    ("rcpt 451", reply(Phase.RCPT, 451, "4.3.0 local error"), K.TRANSIENT_RECIPIENT, Action.DEFER),
    (
        "rcpt 452",
        reply(Phase.RCPT, 452, "4.3.1 insufficient storage"),
        K.TRANSIENT_RECIPIENT,
        Action.DEFER,
    ),
    (
        "rcpt 552 is transient",
        reply(Phase.RCPT, 552, "5.2.2 over quota"),
        K.TRANSIENT_RECIPIENT,
        Action.DEFER,
    ),
    ("rcpt 550", reply(Phase.RCPT, 550, "5.1.1 no such user"), K.PERMANENT_RECIPIENT, Action.FAIL),
    ("rcpt 551", reply(Phase.RCPT, 551, "5.1.6 moved"), K.PERMANENT_RECIPIENT, Action.FAIL),
    ("rcpt 553", reply(Phase.RCPT, 553, "5.1.3 bad address"), K.PERMANENT_RECIPIENT, Action.FAIL),
    ("rcpt 554", reply(Phase.RCPT, 554, "5.7.1 relay denied"), K.PERMANENT_RECIPIENT, Action.FAIL),
    (
        "needs smtputf8",
        NotSupportedError("smtputf8", phase=Phase.RCPT),
        K.PERMANENT_RECIPIENT,
        Action.FAIL,
    ),
    (
        "disconnect before data",
        DisconnectedError("gone", phase=Phase.RCPT),
        K.TRANSIENT_SESSION,
        Action.RECONNECT,
    ),
    (
        "timeout before data",
        TimedOutError("slow", phase=Phase.MAIL),
        K.TRANSIENT_SESSION,
        Action.RECONNECT,
    ),
    (
        "disconnect at DATA command",
        DisconnectedError("gone", phase=Phase.DATA),
        K.TRANSIENT_SESSION,
        Action.RECONNECT,
    ),
    ("data 451", reply(Phase.DATA, 451, "4.3.0 try later"), K.TRANSIENT_RECIPIENT, Action.DEFER),
    (
        "end of data 451",
        reply(Phase.MESSAGE, 451, "4.3.0 try later"),
        K.TRANSIENT_RECIPIENT,
        Action.DEFER,
    ),
    (
        "end of data 552 5.3.4",
        reply(Phase.MESSAGE, 552, "5.3.4 message too big"),
        K.PERMANENT_CAMPAIGN,
        Action.ABORT,
    ),
    (
        "end of data 554 5.6.0",
        reply(Phase.MESSAGE, 554, "5.6.0 bad content"),
        K.PERMANENT_CAMPAIGN,
        Action.ABORT,
    ),
    (
        "end of data 550 5.7.1 spam",
        reply(Phase.MESSAGE, 550, "5.7.1 looks like spam"),
        K.PERMANENT_RECIPIENT,
        Action.FAIL,
    ),
    (
        "end of data 554 5.7.1 policy",
        reply(Phase.MESSAGE, 554, "5.7.1 policy"),
        K.PERMANENT_RECIPIENT,
        Action.FAIL,
    ),
    (
        "disconnect after final dot",
        DisconnectedError("gone", phase=Phase.MESSAGE),
        K.AMBIGUOUS,
        Action.HOLD,
    ),
    (
        "timeout after final dot",
        TimedOutError("slow", phase=Phase.MESSAGE),
        K.AMBIGUOUS,
        Action.HOLD,
    ),
    ("other 4yz", reply(Phase.MESSAGE, 471, "local trouble"), K.TRANSIENT_RECIPIENT, Action.DEFER),
    ("other 5yz", reply(Phase.MESSAGE, 559, "strange"), K.PERMANENT_RECIPIENT, Action.FAIL),
]


@pytest.mark.parametrize(("name", "error", "kind", "action"), TABLE, ids=[r[0] for r in TABLE])
def test_classification_table(
    name: str, error: SMTPError, kind: FailureKind, action: Action
) -> None:
    verdict = classify(error)
    assert (verdict.kind, verdict.action) == (kind, action), name
    assert verdict.reason


def test_enhanced_code_is_parsed_from_text() -> None:
    assert reply(Phase.RCPT, 550, "5.1.1 <x@y> no such user").enhanced == "5.1.1"
    assert reply(Phase.RCPT, 550, "no enhanced code").enhanced is None


def test_rate_detection_by_words_and_codes() -> None:
    assert is_rate_limit(550, "5.4.5", "")
    assert is_rate_limit(554, None, "5.2.0 SubmissionQuotaExceededException")
    assert not is_rate_limit(550, "5.1.1", "no such user")


@pytest.mark.parametrize(
    ("host", "text", "needle"),
    [
        ("smtp.gmail.com", "5.7.8 Username and Password not accepted", "app password"),
        (
            "smtp-mail.outlook.com",
            "5.7.139 Authentication unsuccessful, basic authentication is disabled",
            "OAuth",
        ),
        ("smtp.mail.yahoo.com", "5.7.0 bad", "app password"),
        ("mail.example.com", "5.7.8 bad", "user name and password"),
    ],
)
def test_login_hints_name_the_next_step(host: str, text: str, needle: str) -> None:
    error = AuthError("no", phase=Phase.AUTH, code=535, text=text)
    assert needle in login_hint(error, host)
    assert needle in classify(error, host=host).hint
