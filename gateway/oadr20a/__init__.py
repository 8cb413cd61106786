"""OpenADR 2.0a (the A profile) for VENs that speak it, beside 2.0b: ``EiEvent`` only, in pull
(oadrRequestEvent, oadrCreatedEvent), over the same store, service and VEN state as 2.0b."""
