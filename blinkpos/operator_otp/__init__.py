"""Operators' second factor for the admin (django-otp): TOTP authenticators and single-use recovery codes.

- ``policy``: who must pass a second factor to reach the admin.
- ``devices``: enrolment, confirmation, recovery codes and verifying a code at sign-in (the writes).
- ``site``: the admin site that asks for the code at sign-in and refuses unverified sessions.
- ``views``: the staff user's own enrolment page under the admin.
- ``manage.py operator_otp USERNAME``: the first superuser of a new install, who cannot sign in yet.
"""
