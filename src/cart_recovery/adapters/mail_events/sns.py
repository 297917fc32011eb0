"""Amazon SES feedback through an SNS topic with an HTTPS subscription.

SNS signs each message: ``Signature`` is the base64 RSA signature (``SignatureVersion`` 1:
SHA1withRSA, 2: SHA256withRSA) of the string to sign, the message's fields as ``Name\\nvalue\\n``
in this order: for a ``Notification`` ``Message``, ``MessageId``, ``Subject`` (if present),
``Timestamp``, ``TopicArn``, ``Type``; for a ``SubscriptionConfirmation`` or an
``UnsubscribeConfirmation`` ``Message``, ``MessageId``, ``SubscribeURL``, ``Timestamp``,
``Token``, ``TopicArn``, ``Type``. The key is in the X.509 certificate at ``SigningCertURL``,
fetched only from an SNS host (``cert_url_pattern``, matched against the URL's scheme and
host) and cached. Anyone can publish to a topic of their own and subscribe this URL to it, so
only the configured topics (``TopicArn``) are accepted.

A ``SubscriptionConfirmation`` is confirmed, once its signature checks, by fetching its
``SubscribeURL`` (from an SNS host too). A ``Notification`` carries the SES report as JSON in
``Message`` (``ses.py`` reads it).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import HashAlgorithm

from cart_recovery.adapters.mail_events import ses
from cart_recovery.adapters.mail_events.base import Reported, RequestError, decode, obj, text_of

# The SNS hosts a signing certificate or a subscription link may come from.
CERT_URL_PATTERN = r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}")
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
FIELDS = {
    "Notification": NOTIFICATION_FIELDS,
    "SubscriptionConfirmation": CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": CONFIRMATION_FIELDS,
}
HASHES: dict[str, type[HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_CERT = 64 * 1024
CACHED_CERTS = 32
TIMEOUT_SECONDS = 5.0


def check_topic_arn(arn: str) -> str:
    """``arn`` if it is an SNS topic's ARN; ValueError saying what one looks like."""
    if not TOPIC_ARN.fullmatch(arn):
        raise ValueError(f"{arn!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    return arn


def check_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled host pattern; ValueError when it is not a regular expression."""
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"not a regular expression: {e}") from None


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """What SNS signs for this message (its ``Type`` chooses the fields)."""
    fields = FIELDS[str(message.get("Type"))]
    out = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise RequestError(400, "invalid_message", f"{name} must be a string", name)
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


def allowed(url: str, pattern: re.Pattern[str]) -> bool:
    """True when ``url``'s scheme and host (with any port, and no user part) match ``pattern``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return pattern.fullmatch(f"{parts.scheme}://{parts.netloc}") is not None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead off the SNS hosts: none is followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def fetch(url: str, limit: int = MAX_CERT, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """GET ``url`` (no redirects), at most ``limit`` bytes; OSError when it fails."""
    with _opener.open(url, timeout=timeout) as answer:
        data: bytes = answer.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"more than {limit} bytes")
    return data


@dataclass
class Certificates:
    """Signing certificates by URL, fetched once (at most ``size`` kept)."""

    size: int = CACHED_CERTS
    _certs: dict[str, x509.Certificate] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, url: str) -> x509.Certificate:
        with self._lock:
            cert = self._certs.get(url)
        if cert is not None:
            return cert
        try:
            cert = x509.load_pem_x509_certificate(fetch(url))
        except (OSError, ValueError) as e:
            kind = "could not be fetched" if isinstance(e, OSError) else "is not a certificate"
            raise RequestError(
                502, "certificate_unavailable", f"the signing certificate {kind}", "SigningCertURL"
            ) from None
        with self._lock:
            if len(self._certs) >= self.size:
                self._certs.pop(next(iter(self._certs)))
            self._certs[url] = cert
        return cert


@dataclass
class SnsEvents:
    """``POST /webhooks/mail-events/ses``: SES reports through the configured SNS topics."""

    topic_arns: Sequence[str]
    cert_url_pattern: str = CERT_URL_PATTERN
    certificates: Certificates = field(default_factory=Certificates)
    name: str = "ses"

    def __post_init__(self) -> None:
        self._pattern = check_pattern(self.cert_url_pattern)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        message = obj(decode(body), "body")
        kind = text_of(message.get("Type"))
        if kind not in FIELDS:
            raise RequestError(400, "invalid_message", f"unknown SNS message Type {kind!r}", "Type")
        if message.get("TopicArn") not in self.topic_arns:
            raise RequestError(
                403, "unknown_topic", "TopicArn is not one of 'sns_topic_arns'", "TopicArn"
            )
        algorithm = HASHES.get(text_of(message.get("SignatureVersion")))
        if algorithm is None:
            raise RequestError(
                401, "bad_signature", "SignatureVersion must be 1 or 2", "SignatureVersion"
            )
        url = text_of(message.get("SigningCertURL"))
        if not allowed(url, self._pattern) or not urlsplit(url).path.endswith(".pem"):
            raise RequestError(
                401,
                "untrusted_certificate",
                "SigningCertURL is not an SNS certificate URL",
                "SigningCertURL",
            )
        try:
            signature = base64.b64decode(text_of(message.get("Signature")), validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(
                401, "bad_signature", "Signature is not base64", "Signature"
            ) from None
        signed = string_to_sign(message)
        cert = self.certificates.get(url)
        key = cert.public_key()
        current = cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
        if not current or not isinstance(key, rsa.RSAPublicKey):
            raise RequestError(
                401,
                "untrusted_certificate",
                "the signing certificate is not an RSA certificate valid now",
                "SigningCertURL",
            )
        try:
            key.verify(signature, signed, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise RequestError(
                401, "bad_signature", "Signature does not match the message", "Signature"
            ) from None

    def read(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Reported:
        message = obj(decode(body), "body")
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            self.confirm(text_of(message.get("SubscribeURL")))
            return Reported((), ignored="subscription confirmed")
        if kind == "UnsubscribeConfirmation":
            return Reported((), ignored="unsubscribed from the topic")
        return ses.report(decode(text_of(message.get("Message")).encode(), "Message"))

    def confirm(self, url: str) -> None:
        """Visit the subscription's ``SubscribeURL`` (an SNS host only)."""
        if not allowed(url, self._pattern):
            raise RequestError(
                400, "untrusted_url", "SubscribeURL is not an SNS URL", "SubscribeURL"
            )
        try:
            fetch(url)
        except OSError:
            raise RequestError(
                502, "confirm_failed", "the subscription could not be confirmed", "SubscribeURL"
            ) from None
