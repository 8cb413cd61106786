"""OpenADR 3.1.0 VTN: a thin adapter over the core (programs, VENs, devices, events, telemetry).

``wiring.setup_oadr3`` mounts it; ``auth.principal_of`` is who is asking.
"""
