"""Errors of syncd. They derive from schema's XinbaoError so both CLIs report them alike.

    XinbaoError (schema)
    └── SyncError              anything syncd refuses
        ├── KeyFileError       a key is missing, unreadable or the passphrase is wrong
        └── TrustError         a certificate or request fails a check (names which)

No ``cryptography`` exception escapes a public function of syncd.
"""

from __future__ import annotations

from schema.error import XinbaoError


class SyncError(XinbaoError):
    """Base of every error raised by syncd."""

    title = "同步错误"


class KeyFileError(SyncError):
    """A node key is missing, unreadable, or protected by another passphrase."""

    title = "密钥错误"


class TrustError(SyncError):
    """A certificate, chain or enrolment request is not acceptable."""

    title = "证书错误"
