"""An XML signature as a 2.0b VEN makes it: enveloping the payload's oadrSignedObject by a
detached reference, with a ReplayProtect (timestamp and nonce) signature property."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from signxml import XMLSigner, methods
from signxml.algorithms import SignatureMethod

from tests.oadr20b.messages import SIGNED_OBJECT_ID, signed_object
from tests.oadr20b.namespaces import DSP, OADR, date_time, qname

INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"


@dataclass(frozen=True)
class Signer:
    cert_pem: bytes
    key_pem: bytes

    def sign(self, root: etree._Element, at: datetime, nonce: str | None = None) -> None:
        """Put a ds:Signature over ``root``'s oadrSignedObject first in the payload."""
        key = serialization.load_pem_private_key(self.key_pem, None)
        signer = XMLSigner(method=methods.detached, c14n_algorithm=INCLUSIVE_C14N)
        # The signature goes into the oadrPayload, whose oadr namespace is then in scope of
        # its SignedInfo and Object (inclusive C14N): in scope when signing too.
        signer.namespaces["oadr"] = OADR
        signer.sign_alg = SignatureMethod.from_fragment(
            "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
        )
        protect = etree.Element(qname("dsp:ReplayProtect"), nsmap={"dsp": DSP})
        etree.SubElement(protect, qname("dsp:timestamp")).text = date_time(at)
        etree.SubElement(protect, qname("dsp:nonce")).text = nonce or uuid.uuid4().hex
        # Signed alone: it declares every namespace it uses, so it canonicalises the same here
        # as inside the payload.
        alone = etree.fromstring(etree.tostring(signed_object(root)))
        signature = signer.sign(
            alone,
            key=key,
            cert=self.cert_pem.decode("ascii"),
            reference_uri=f"#{SIGNED_OBJECT_ID}",
            signature_properties=protect,
        )
        root.insert(0, signature)
