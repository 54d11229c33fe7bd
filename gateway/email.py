"""Email out, over SMTP (aiosmtplib) to the configured server (``[smtp]``)."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from .config import SmtpSettings


class EmailError(Exception):
    """The message could not be handed to the SMTP server."""


async def send(
    settings: SmtpSettings,
    to: str,
    subject: str,
    body: str,
    *,
    html: str | None = None,
    message_id: str | None = None,
) -> None:
    """``body`` is the plain text; ``html`` an alternative part; ``message_id`` a stable
    Message-ID (a retried notification keeps its id, so a mail client can tell a repeat)."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=settings.password or None,
            start_tls=settings.starttls,
            use_tls=settings.tls,
            timeout=settings.timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise EmailError(f"SMTP {settings.host}:{settings.port}: {exc}") from exc
