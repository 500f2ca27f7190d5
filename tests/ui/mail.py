"""Test messages built the way the app builds them."""

from __future__ import annotations

from email.message import EmailMessage

__all__ = ["make_message"]


def make_message(
    subject: str = "Hello",
    *,
    sender: str = "alice@example.com",
    to: str = "bob@example.com",
    text: str | None = "Hi Bob,\nsee you.",
    html: str | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
) -> EmailMessage:
    """A message as the app would build it: text and/or HTML plus attachments."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    message["Message-ID"] = "<test-1@example.com>"
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for name, content_type, data in attachments:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message
