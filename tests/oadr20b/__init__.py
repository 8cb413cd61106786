"""A raw OpenADR 2.0b test VEN, written from the 2.0b schema.

It builds every message as an lxml tree, posts it to the VTN over HTTP (aiohttp), reads the
answer with lxml and checks it against the 2.0b XSD and the profile rules of
``../shared/reference/oadr20b-vtn-cert-cases.md`` (section 3). It imports nothing from openleadr
or from the gateway, so neither one's defects can cancel out the other's: the XSD files are read
from the directory the openleadr wheel ships them in (schema data, found without importing the
package).

- ``namespaces``: the 2.0b namespaces, element builders, ISO 8601 times and durations.
- ``schema``: the XSD, and the errors a document has against it.
- ``messages``: the VEN's messages, one builder each, XSD-valid as built.
- ``answers``: reading the VTN's answers (events, report requests, eiResponse).
- ``profile``: the profile rules each kind of answer must meet beyond the XSD.
- ``dialects``: how field VENs deviate from the schema (the VOLTTRON lineage).
- ``signing``: an XML signature as a 2.0b VEN makes it (signxml).
- ``ven``: ``RawVen``, which sends, checks every answer, and keeps what a VEN remembers.
"""
