"""The downstream OpenADR 2.0b VTN: VENs register, poll, answer, opt and report here.

openleadr supplies the message layer (schema, templates, parsing, signature format); the
services are the gateway's own, backed by the database, because openleadr's keep their state
in process memory and class attributes.
"""
