"""A fake Amazon SNS for HTTPS subscriptions, on 127.0.0.1: it signs messages as SNS does
(SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA over the documented string to sign) with a
certificate of its own, serves that certificate at its ``SigningCertURL`` and the
``SubscribeURL`` of a confirmation, and records every request it gets."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cart_recovery.adapters.mail_events.sns import string_to_sign
from tests.fakes.serving import ServedOnLoopback

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ses-feedback"
CERT_PATH = "/SimpleNotificationService-0000000000000000000000.pem"
CONFIRMED = """<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
<ConfirmSubscriptionResult><SubscriptionArn>{arn}:{id}</SubscriptionArn>
</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"""


def certificate(key: rsa.RSAPrivateKey, valid_from: datetime) -> x509.Certificate:
    """A self-signed certificate for ``key`` (as sns.amazonaws.com), valid for a year."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from - timedelta(days=1))
        .not_valid_after(valid_from + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


class FakeSns(ServedOnLoopback):
    label = "the fake SNS"

    def __init__(self, valid_from: datetime) -> None:
        super().__init__()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = certificate(self.key, valid_from).public_bytes(serialization.Encoding.PEM)
        self.hits: list[str] = []  # path?query of every request
        self.app = Starlette(
            routes=[
                Route(CERT_PATH, self._cert, methods=["GET"]),
                Route("/", self._action, methods=["GET"]),
            ]
        )

    async def _cert(self, request: Request) -> Response:
        self.hits.append(request.url.path)
        return Response(self.pem, media_type="application/x-pem-file")

    async def _action(self, request: Request) -> Response:
        self.hits.append(f"{request.url.path}?{request.url.query}")
        if request.query_params.get("Action") != "ConfirmSubscription":
            return Response("unknown action", status_code=400)
        arn = request.query_params.get("TopicArn", "")
        return Response(CONFIRMED.format(arn=arn, id=uuid.uuid4()), media_type="text/xml")

    @property
    def cert_url(self) -> str:
        return self.base_url + CERT_PATH

    def sign(
        self,
        message: dict[str, Any],
        *,
        version: str = "2",
        key: rsa.RSAPrivateKey | None = None,
        cert_url: str | None = None,
    ) -> dict[str, Any]:
        """``message`` with the signature fields SNS adds."""
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signed = (key or self.key).sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signed).decode(),
            "SigningCertURL": cert_url or self.cert_url,
        }

    def notification(self, report: dict[str, Any], at: datetime, **how: Any) -> dict[str, Any]:
        """A signed SNS ``Notification`` carrying the SES ``report``."""
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC_ARN,
            "Message": json.dumps(report),
            "Timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "UnsubscribeURL": f"{self.base_url}/?Action=Unsubscribe&SubscriptionArn={TOPIC_ARN}:1",
        }
        return self.sign(message, **how)

    def confirmation(self, at: datetime, **how: Any) -> dict[str, Any]:
        """A signed ``SubscriptionConfirmation`` whose ``SubscribeURL`` is this fake."""
        token = uuid.uuid4().hex * 2
        message = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": TOPIC_ARN,
            "Message": (
                f"You have chosen to subscribe to the topic {TOPIC_ARN}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            ),
            "SubscribeURL": (
                f"{self.base_url}/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token={token}"
            ),
            "Timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        return self.sign(message, **how)
