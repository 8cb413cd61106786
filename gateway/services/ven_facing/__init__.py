"""The VEN-facing core: what every transport (OpenADR 2.0b pull now; 2.0b push and 3.1 next)
needs, with no protocol in it: the events a VEN must know now (``events``), recording its
answers (``answers``), taking its telemetry (``telemetry``), and the feed of changes to what
VENs must know (``changes``). ``VenFacing`` (``service``) puts them behind one object."""
