"""Email out, over SMTP (aiosmtplib) to the configured server (``[smtp]``)."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from .config import SmtpSettings


class EmailError(Exception):
    """The message could not be handed to the SMTP server."""


async def send(settings: SmtpSettings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
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
