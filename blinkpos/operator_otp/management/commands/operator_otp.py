"""``manage.py operator_otp USERNAME``: give a staff account a new authenticator and recovery codes from
the server's shell, for the first superuser of an install that requires a second factor (nobody can
sign in to the admin to enrol yet) or for an operator who lost both phone and codes.

The otpauth URI (and its QR in the terminal) and the codes are printed once, to this terminal only;
they are stored nowhere else in readable form and never logged.
"""

from __future__ import annotations

import io
from typing import Any

import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from blinkpos.operator_otp.devices import operator_enrol, totp_devices_confirmed


class Command(BaseCommand):
    help = "Enrol an authenticator and recovery codes for a staff user; prints them once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="The user already has an authenticator: remove it and their recovery codes, enrol anew.",
        )
        parser.add_argument("--no-qr", action="store_true", help="Print the URI without a terminal QR code.")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"username: no user {username!r}")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"username: {username!r} is not an active staff user; the admin would refuse it")
        if totp_devices_confirmed(user=user) and not options["replace"]:
            raise CommandError(
                f"{username!r} already has an authenticator; run again with --replace to remove it and "
                "its recovery codes and enrol a new one"
            )
        enrolment = operator_enrol(user=user)
        out = self.stdout
        out.write(f"Authenticator for {username}: add this URI to an authenticator app (shown once):\n")
        out.write(f"\n  {enrolment.config_url}\n\n")
        if not options["no_qr"]:
            # Rendered whole first: OutputWrapper would end every fragment segno writes with a newline.
            qr = io.StringIO()
            segno.make(enrolment.config_url, error="m").terminal(out=qr, compact=True)
            out.write(qr.getvalue())
        out.write("Recovery codes (each works once; keep them away from the phone):\n")
        for code in enrolment.recovery_codes:
            out.write(f"  {code}\n")
        out.write("\nSign in to the admin with the password and the app's current code.\n")
