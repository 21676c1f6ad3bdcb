"""aiosmtpd handlers for the mail tests, loaded with
`python3 -m aiosmtpd -n -c smtp_test_handlers.ScriptedMailbox MAILDIR` (PYTHONPATH=tests/mail).

ScriptedMailbox stores mail like aiosmtpd.handlers.Mailbox, but tests script its answers through
environment variables (comma-separated, case-insensitive addresses):

  SINK_REJECT_RCPT        refused at RCPT TO with "550 5.1.1 mailbox unavailable" (permanent)
  SINK_TEMPFAIL_RCPT      refused at RCPT TO with "451 4.3.0 try again later" (transient)
  SINK_REJECT_DATA_FROM   senders whose message is refused after the data with 554 (permanent)
  SINK_AUTH_USER, SINK_AUTH_PASSWORD
                          require AUTH PLAIN or LOGIN with these before MAIL FROM (aiosmtpd
                          offers AUTH only after STARTTLS, so run the sink with --tlscert)

Every stored message gets X-Sink-TLS (the TLS version, or "none") and X-Sink-Auth (the
authenticated user, or "none") so tests can see how it arrived.
"""

import base64
import binascii
import os

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import MISSING, AuthResult


def _addresses(variable):
    return {a.strip().lower() for a in os.environ.get(variable, "").split(",") if a.strip()}


class ScriptedMailbox(Mailbox):
    def __init__(self, mail_dir, message_class=None):
        super().__init__(mail_dir, message_class)
        self.auth_user = os.environ.get("SINK_AUTH_USER", "")
        self.auth_password = os.environ.get("SINK_AUTH_PASSWORD", "")

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.auth_user and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in _addresses("SINK_REJECT_RCPT"):
            return "550 5.1.1 mailbox unavailable"
        if address.lower() in _addresses("SINK_TEMPFAIL_RCPT"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if (envelope.mail_from or "").lower() in _addresses("SINK_REJECT_DATA_FROM"):
            return "554 5.6.0 message content rejected"
        message = self.prepare_message(session, envelope)
        transport = server.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        message["X-Sink-TLS"] = ssl_object.version() if ssl_object is not None else "none"
        message["X-Sink-Auth"] = session.auth_data if session.authenticated else "none"
        self.handle_message(message)
        return "250 OK"

    def _check(self, login, password):
        if login is MISSING or password is MISSING:
            return AuthResult(success=False, handled=True)
        ok = bool(self.auth_user) and (login.decode("utf-8", "replace"),
                                       password.decode("utf-8", "replace")) == (
            self.auth_user, self.auth_password)
        return AuthResult(success=ok, handled=False, auth_data=self.auth_user if ok else None)

    # Handler auth_* methods replace aiosmtpd's built-in mechanisms, whose credential check
    # cannot be configured from the command line.
    async def auth_PLAIN(self, server, args):
        if len(args) == 1:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            return AuthResult(success=False, handled=False)
        return self._check(parts[1], parts[2])

    async def auth_LOGIN(self, server, args):
        if len(args) == 1:
            login = await server.challenge_auth("Username:")
        else:
            try:
                login = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False)
        if login is MISSING:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth("Password:")
        return self._check(login, password)
