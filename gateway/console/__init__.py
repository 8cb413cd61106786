"""The operator's console: a browser application served by the gateway at ``/console``.

Plain HTML, CSS and ES modules from package data (``static/``), no build step. It reads and
writes through the admin API with the admin token the operator logs in with, plus two routes of
its own (``routes.py``): the login check and the VENs' online state.
"""
