"""The OpenADR 2.0b certification cases a VTN must pass in pull mode
(``../shared/reference/oadr20b-vtn-cert-cases.md`` section 1), one test per case, named by its
case ID, driven by the raw test VEN (``tests.oadr20b``): every answer a test receives is
checked against the XSD and the profile rules, then against what the case requires.

One gateway per module (``conftest.gateway``, plain HTTP; ``conftest.tls_gateway`` where a
case needs the VEN known by its TLS client certificate, N1_0015); each test makes its own VENs
and devices, so
tests share nothing but the gateway and its clock, which a test may move forward. A case the
gateway cannot pass yet is ``xfail(strict=True)`` naming what it needs; it fails fast (no
waiting) and starts to XPASS, and so fails, the day that lands. ``docs/conformance.md`` keeps
the table of every case.
"""
